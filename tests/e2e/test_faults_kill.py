"""The server killed (SIGKILL) with calls up, then started again on the same database: the runs it
left open are closed as `failed` / "server restarted", and what it left in Asterisk (callers sitting
in our Stasis app, bridges) is hung up / deleted once the link is back (ari/reconcile.py)."""
from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from data.configs import ConfigFields
from data.store import Store
from tests.e2e.harness import APP, PASSWORD, WS_CLIENT, free_socket
from tests.fake_asterisk import FakeAsterisk
from web.accounts import create_organization

ROOT = Path(__file__).resolve().parents[2]
SECRET = "kill-test-secret"


@asynccontextmanager
async def server(db: Path, port: int) -> AsyncIterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.e2e.server_process", "--db", str(db), "--port", str(port), "--secret", SECRET],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
    )
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), 30)
        assert line.strip() == b"ready", line
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(asyncio.to_thread(proc.wait), 10)
            except TimeoutError:
                proc.kill()
                await asyncio.to_thread(proc.wait)
        if proc.stdout is not None:
            proc.stdout.close()


async def runs_of(db: Path) -> list:  # type: ignore[type-arg]
    store = await Store.open(db, SECRET)
    try:
        org = (await store.db.fetch_one("SELECT id FROM organizations"))[0]
        return await store.runs.list(org, limit=100)
    finally:
        await store.close()


async def test_sigkill_with_calls_up_then_restart_closes_runs_and_cleans_asterisk(tmp_path: Path) -> None:
    db = tmp_path / "sb.db"
    sock = free_socket()
    port = sock.getsockname()[1]
    sock.close()
    media_uri = f"ws://127.0.0.1:{port}/api/v1/telephony/ws/ari"
    async with FakeAsterisk(users={APP: PASSWORD}, websocket_clients={WS_CLIENT: {
            "uri": media_uri, "reconnect_attempts": 2, "reconnect_interval": 0.05}}) as fake:
        store = await Store.open(db, SECRET)
        user = await create_organization(store, "Acme", "admin@example.com", "password123")
        workflow = await store.workflows.create(user.organization_id, "Reception", {"greeting": "Hello"})
        config = await store.configs.create(user.organization_id, ConfigFields(
            "PBX", fake.base_url, APP, None, PASSWORD, WS_CLIENT, (), "PJSIP/{number}", "from-internal", True))
        await store.numbers.create(user.organization_id, config.id, "8000", "Reception", workflow.id)
        await store.close()

        async with server(db, port) as first:
            await fake.wait_for(lambda: APP in fake.registered_apps, timeout=10)
            callers = [await fake.place_inbound_call(f"+1555{i}", "8000") for i in range(3)]
            await fake.wait_for(lambda: len(fake.bridges) == 3 and all(len(b.channels) == 2 for b in fake.bridges.values()),
                                timeout=10)
            os.kill(first.pid, signal.SIGKILL)
            await asyncio.to_thread(first.wait)
            assert first.returncode == -signal.SIGKILL
        # What a killed process leaves: callers hearing nothing in Stasis, bridges, open runs.
        await fake.wait_for(lambda: APP not in fake.registered_apps, timeout=5)
        assert all(c in fake.channels for c in callers) and len(fake.bridges) == 3
        assert [r.ended_at for r in await runs_of(db)] == [None] * 3

        async with server(db, port):
            runs = await runs_of(db)  # closed by the lifespan before the links start
            assert len(runs) == 3
            for run in runs:
                assert run.status == "failed" and run.reason == "server restarted" and run.ended_at, run
                assert run.error_id == "server-restarted"
            await fake.wait_for(lambda: APP in fake.registered_apps, timeout=10)
            await fake.wait_for(lambda: not fake.channels and not fake.bridges, timeout=10)
            deleted = {r.path.split("/")[-1].split("?")[0] for r in fake.requests if r.method == "DELETE"}
            assert set(callers) <= deleted
            # The restarted server takes calls.
            again = await fake.place_inbound_call("+1999", "8000")
            await fake.wait_for(lambda: len(fake.bridges) == 1, timeout=10)
            await fake.caller_hangup(again)
            await fake.wait_for(lambda: not fake.channels and not fake.bridges, timeout=10)
        runs = await runs_of(db)
        assert [r.status for r in runs if r.call_id == again] == ["completed"]
        assert all(r.ended_at for r in runs)
