"""Recording a call's end while the database cannot be written (ari.records): retried in the
background after each delay, recorded once writable, given up (logged) after the last delay.
A real SQLite file made read-only with `PRAGMA query_only` (what a read-only mount gives)."""
from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from ari.call import Call, CallEnd
from ari.records import CallRecords
from ari.stats import CallStats
from data.store import Store
from web.accounts import create_organization


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    opened = await Store.open(tmp_path / "sb.db", "test-secret")
    yield opened
    await opened.close()


async def open_call(store: Store) -> Call:
    user = await create_organization(store, "Acme", "admin@example.com", "password123")
    run = await store.runs.create(org_id=user.organization_id, workflow_id=None, direction="inbound",
                                  status="in_progress", call_id="c1")
    call = Call("c1", 0, user.organization_id, "+15550100", "8000")
    call.run_id = run.id
    return call


async def read_only(store: Store, on: bool) -> None:
    await store.db.run_in_thread(lambda conn: conn.execute(f"PRAGMA query_only = {int(on)}"))


async def until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.01)


async def test_the_end_is_recorded_once_the_database_is_writable_again(
        store: Store, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "switchboard.ari.calls")
    call = await open_call(store)
    records = CallRecords(store, CallStats())
    await read_only(store, True)
    await records.finish(call, CallEnd("completed", "caller hung up"), delays=(0.05, 0.1, 0.2, 5.0))
    await asyncio.sleep(0.2)  # the database stays read-only across several retries
    await read_only(store, False)
    await until(lambda: "after the database came back" in caplog.text)
    run = await store.runs.get(call.org_id, call.run_id or 0)
    assert run is not None and (run.status, run.reason) == ("completed", "caller hung up")
    retrying = [r for r in caplog.records if "could not record the end" in r.getMessage()]
    assert len(retrying) == 1  # one warning, then quiet retries paced by the delays


async def test_recording_the_end_is_given_up_after_the_last_delay(
        store: Store, caplog: pytest.LogCaptureFixture) -> None:
    call = await open_call(store)
    records = CallRecords(store, CallStats())
    await read_only(store, True)
    await records.finish(call, CallEnd("completed", "caller hung up"), delays=(0.01, 0.01))
    await until(lambda: "gave up recording the end" in caplog.text)
    await read_only(store, False)
    run = await store.runs.get(call.org_id, call.run_id or 0)
    assert run is not None and run.ended_at is None  # left to the next start, which closes it as failed
