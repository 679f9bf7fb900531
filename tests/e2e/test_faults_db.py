"""The database busy (another connection holds the write lock) or read-only: new calls are
refused cleanly (caller hung up with congestion, a logged reason, nothing left in Asterisk), live
calls go on and finish, and the file is intact afterwards."""
from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.e2e.harness import Stack, stack


@contextmanager
def write_lock(path: Path) -> Iterator[sqlite3.Connection]:
    """Another process's writer: holds SQLite's write lock until the block ends."""
    conn = sqlite3.connect(path, isolation_level=None, timeout=0)
    try:
        conn.execute("BEGIN IMMEDIATE")
        yield conn
        conn.execute("ROLLBACK")
    finally:
        conn.close()


async def make_read_only(s: Stack) -> None:
    """The file cannot be written: SQLITE_READONLY, what a read-only mount or a read-only file gives.
    (We run as root here, so chmod would not stop us; and a full disk cannot be simulated faithfully
    in-process: SQLite's max_page_count leaves the WAL and half-empty pages writable.)"""
    await s.store.db.run_in_thread(lambda conn: conn.execute("PRAGMA query_only = 1"))


async def make_writable(s: Stack) -> None:
    await s.store.db.run_in_thread(lambda conn: conn.execute("PRAGMA query_only = 0"))


async def integrity(s: Stack) -> str:
    return str(await s.store.db.run_in_thread(lambda c: c.execute("PRAGMA integrity_check").fetchone()[0]))


async def refused_cleanly(s: Stack, channel: str, caplog: pytest.LogCaptureFixture) -> None:
    await s.wait(lambda: channel not in s.fake.channels, timeout=15)
    assert s.fake.all_channels[channel].state != "Up"  # never answered
    hangups = [r for r in s.fake.requests if r.method == "DELETE" and channel in r.path]
    assert hangups and dict(hangups[0].query).get("reason") == "congestion"
    assert any("error_id=db-unavailable" in r.getMessage() for r in caplog.records)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]  # a refusal, not a crash


async def test_database_locked_by_another_writer(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    async with stack(tmp_path) as s:
        live = await s.fake.place_inbound_call("live", "8000")
        run = await s.wait_run(lambda r: r.call_id == live and r.status == "in_progress")
        await s.wait(lambda: s.agent.sessions)
        await s.wait_for_value(lambda: s.store.runs.events(run.id))  # the greeting's transcript is written
        with write_lock(s.store.db.path):
            refused = await s.fake.place_inbound_call("new", "8000")
            await refused_cleanly(s, refused, caplog)  # after SQLite's busy timeout
            assert live in s.fake.channels and s.service.controls[s.config.id].calls[live].session
            await s.fake.caller_hangup(live)  # the live call ends while the lock is still held ...
            await asyncio.sleep(0.5)  # the behaviour under test: the lock outlives the call's end by a while
        run = await s.wait_run(lambda r: r.call_id == live and r.ended_at is not None)  # ... and is finished after
        assert run.status == "completed"
        await s.wait(lambda: not s.leftovers())
        assert [r.call_id for r in await s.store.runs.list(s.org_id)] == [live]
        assert await integrity(s) == "ok"
        again = await s.fake.place_inbound_call("later", "8000")
        await s.wait_run(lambda r: r.call_id == again and r.status == "in_progress")


async def test_database_read_only(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    async with stack(tmp_path) as s:
        live = await s.fake.place_inbound_call("live", "8000")
        run = await s.wait_run(lambda r: r.call_id == live and r.status == "in_progress")
        await s.wait(lambda: s.agent.sessions)
        await s.wait_for_value(lambda: s.store.runs.events(run.id))
        await make_read_only(s)
        refused = await s.fake.place_inbound_call("new", "8000")
        await refused_cleanly(s, refused, caplog)
        control = s.service.controls[s.config.id]
        assert live in s.fake.channels and control.calls[live].session and not control.calls[live].session.closed
        await s.fake.caller_say(live, b"\xff" * 1600, wait=True)  # the live call still carries audio
        await s.fake.caller_hangup(live)
        await s.wait(lambda: not s.leftovers() and not control.calls)  # ended in Asterisk at once
        await make_writable(s)
        run = await s.wait_run(lambda r: r.call_id == live and r.ended_at is not None)  # recorded once writable
        assert run.status == "completed" and run.reason == "caller hung up"
        assert await integrity(s) == "ok"
        again = await s.fake.place_inbound_call("later", "8000")
        await s.wait_run(lambda r: r.call_id == again and r.status == "in_progress")
