"""Backup and restore on real files and real processes: online backups under a steady write load,
restores that refuse anything unusable without touching the current database, the server lock,
older schemas migrated, recordings archived, scheduled backups pruned, the UI download."""
from __future__ import annotations

import asyncio
import hashlib
import io
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import tarfile
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest

from data.backup import (
    BackupPolicy, ServerLock, ServerRunning, backup_database, list_backups, recordings_archive, take_scheduled_backup,
)
from data.migrations import APPLICATION_ID, _statements, latest_version, load_migrations
from data.store import Store
from tests.conftest import BASE_URL, MakeTenant, Tenant, log_in

ROOT = Path(__file__).resolve().parent.parent
KEY = "backup-test-key"


def cli(db: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SWITCHBOARD_")}
    env["SWITCHBOARD_SECRET_KEY"] = KEY
    return subprocess.run([sys.executable, "app.py", "--db", str(db), *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)


def fingerprint(directory: Path) -> dict[str, str]:
    """Every file under `directory` and the SHA-256 of its bytes."""
    return {str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(directory.rglob("*")) if p.is_file()}


def run_ids(path: Path) -> set[int]:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        return {r[0] for r in conn.execute("SELECT id FROM workflow_runs")}


async def seeded(path: Path, runs: int = 3) -> Store:
    store = await Store.open(path, KEY)
    org, _ = await store.accounts.create_organization_with_admin("Acme", f"a{runs}@example.com", "hash")
    for i in range(runs):
        await store.runs.create(org_id=org.id, workflow_id=None, direction="inbound", status="completed",
                                caller_number=f"+1555{i}")
    return store


# --- online backup under load -------------------------------------------------------------------

async def test_backups_under_fifty_writes_a_second_hold_every_earlier_commit(tmp_path: Path) -> None:
    live = tmp_path / "live" / "switchboard.db"
    store = await seeded(live, runs=0)
    org_id = (await store.accounts.organizations())[0].id
    committed: list[int] = []
    stop = asyncio.Event()

    async def write_load() -> None:  # 50 run inserts a second, each its own transaction
        loop = asyncio.get_running_loop()
        start = loop.time()
        while not stop.is_set():
            run = await store.runs.create(org_id=org_id, workflow_id=None, direction="inbound", status="completed")
            committed.append(run.id)
            await asyncio.sleep(max(0.0, start + len(committed) * 0.02 - loop.time()))

    async def until(predicate: object) -> None:
        async with asyncio.timeout(10):
            while not predicate():  # type: ignore[operator]
                await asyncio.sleep(0.005)

    writer = asyncio.create_task(write_load())
    try:
        await until(lambda: len(committed) >= 25)
        # In the server: the backup API on the writer's own connection.
        before_online = set(committed)
        online = await backup_database(store.db, tmp_path / "online.db")
        await until(lambda: len(committed) >= len(before_online) + 25)
        # From another process (the CLI) while this one keeps writing.
        before_cli = set(committed)
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "app.py", "--db", str(live), "backup", str(tmp_path / "cli.db"), cwd=ROOT,
            env={**{k: v for k, v in os.environ.items() if not k.startswith("SWITCHBOARD_")},
                 "SWITCHBOARD_SECRET_KEY": KEY},
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await proc.communicate()
        assert proc.returncode == 0, err.decode()
        assert "written to" in out.decode()
        written = len(committed)
    finally:
        stop.set()
        await writer
        await store.close()
    assert written - len(before_cli) >= 5, "the writes went on while the CLI backed up"

    for backup, before in ((online, before_online), (tmp_path / "cli.db", before_cli)):
        assert not Path(str(backup) + "-wal").exists()  # one self-contained file
        target = tmp_path / f"restored-{backup.stem}" / "switchboard.db"
        result = cli(target, "restore", str(backup))
        assert result.returncode == 0, result.stderr
        assert before <= run_ids(target), "a run committed before the backup started is missing"


# --- restore refuses, and changes nothing --------------------------------------------------------

def _corrupt(good: Path, bad: Path) -> None:
    data = bytearray(good.read_bytes())
    page = 4096
    for start in range(page, len(data) - page, page * 2):  # scribble over every other b-tree page
        data[start + 8:start + 200] = os.urandom(192)
    bad.write_bytes(bytes(data))


def _sqlite(path: Path, *statements: str) -> Path:
    conn = sqlite3.connect(path)
    for statement in statements:
        conn.execute(statement)
    conn.commit()
    conn.close()
    return path


async def test_restore_refuses_unusable_files_and_leaves_the_database_alone(tmp_path: Path) -> None:
    current = tmp_path / "data" / "switchboard.db"
    store = await seeded(current, runs=40)
    good = await backup_database(store.db, tmp_path / "good.db")
    await store.close()
    bad = tmp_path / "files"
    bad.mkdir()
    _corrupt(good, bad / "corrupt.db")
    (bad / "truncated.db").write_bytes(good.read_bytes()[: len(good.read_bytes()) // 2])
    (bad / "notes.db").write_text("not a database at all\n" * 100)
    _sqlite(bad / "foreign.db", "CREATE TABLE customers (id INTEGER PRIMARY KEY)", "INSERT INTO customers VALUES (1)")
    _sqlite(bad / "newer.db", "CREATE TABLE organizations (id INTEGER PRIMARY KEY)",
            f"PRAGMA application_id = {APPLICATION_ID}", f"PRAGMA user_version = {latest_version() + 1}")
    _sqlite(bad / "empty.db", "PRAGMA user_version = 0")
    expected = {
        "corrupt.db": ("damaged", "not a SQLite database", "malformed"),
        "truncated.db": ("damaged", "not a SQLite database", "malformed"),
        "notes.db": ("not a SQLite database",),
        "foreign.db": ("not a Switchboard database",),
        "newer.db": ("newer release",),
        "empty.db": ("empty database",),
        "missing.db": ("no backup file",),
    }
    before = fingerprint(current.parent)
    for name, words in expected.items():
        result = cli(current, "restore", str(bad / name))
        assert result.returncode == 2, (name, result.stdout, result.stderr)
        assert "backup-invalid" in result.stderr and "nothing was changed" in result.stderr, result.stderr
        assert any(w in result.stderr for w in words), (name, result.stderr)
        assert "Traceback" not in result.stderr
        assert fingerprint(current.parent) == before, f"{name}: the current database was touched"

    restored = cli(current, "restore", str(good))
    assert restored.returncode == 0, restored.stderr
    assert "previous database is kept at" in restored.stdout
    aside = [p for p in current.parent.iterdir() if ".before-restore-" in p.name and not p.name.endswith(("-wal", "-shm"))]
    assert len(aside) == 1 and hashlib.sha256(aside[0].read_bytes()).hexdigest() == before["switchboard.db"]
    assert len(run_ids(current)) == 40


# --- the server lock -----------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


SERVER = """
import sys, uvicorn
from pathlib import Path
from app import create_app
from web.settings import Settings
port = int(sys.argv[2])
app = create_app(Settings(db_path=Path(sys.argv[1]), secret_key="backup-test-key", port=port), with_ari=False)
uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")
"""


@pytest.fixture
def running_server(tmp_path: Path) -> Iterator[tuple[Path, subprocess.Popen[bytes]]]:
    db, port = tmp_path / "served" / "switchboard.db", _free_port()
    process = subprocess.Popen([sys.executable, "-c", SERVER, str(db), str(port)], cwd=ROOT,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            pass
        assert process.poll() is None, process.stderr.read() if process.stderr else ""
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    yield db, process
    if process.poll() is None:
        process.terminate()
        process.wait(10)


def test_restore_refuses_while_the_server_runs_unless_told_to_stop_it(
        tmp_path: Path, running_server: tuple[Path, subprocess.Popen[bytes]]) -> None:
    db, process = running_server
    backup = tmp_path / "backup.db"
    assert cli(db, "backup", str(backup)).returncode == 0
    with pytest.raises(ServerRunning, match=f"pid {process.pid}"):
        ServerLock.acquire(db)
    before = fingerprint(db.parent)

    refused = cli(db, "restore", str(backup))
    assert refused.returncode == 4, refused.stderr
    assert "server-running" in refused.stderr and f"pid {process.pid}" in refused.stderr
    assert "--force-stop" in refused.stderr and "Traceback" not in refused.stderr
    assert process.poll() is None and fingerprint(db.parent) == before

    forced = cli(db, "restore", str(backup), "--force-stop")
    assert forced.returncode == 0, forced.stderr
    assert process.wait(10) in (0, -signal.SIGTERM)  # uvicorn re-raises SIGTERM after its graceful stop
    # Its lifespan finished: the database was closed cleanly (checkpointed, no -wal left).
    assert [p.name for p in db.parent.iterdir() if ".before-restore-" in p.name] == [
        next(p.name for p in db.parent.iterdir() if ".before-restore-" in p.name)]
    run_ids(db)
    ServerLock.acquire(db).release()  # nobody holds it now


async def test_the_server_lifespan_holds_the_lock(tmp_path: Path) -> None:
    from app import create_app
    from web.settings import Settings

    db = tmp_path / "switchboard.db"
    app = create_app(Settings(db_path=db, secret_key=KEY, port=8123), with_ari=False)
    async with app.router.lifespan_context(app):
        with pytest.raises(ServerRunning, match="port 8123"):
            ServerLock.acquire(db)
        second = create_app(Settings(db_path=db, secret_key=KEY), with_ari=False)
        with pytest.raises(ServerRunning):
            async with second.router.lifespan_context(second):
                pass
    ServerLock.acquire(db).release()


# --- older schema, recordings, schedule ------------------------------------------------------------

def test_a_backup_from_an_older_schema_is_migrated(tmp_path: Path) -> None:
    old = tmp_path / "v1.db"
    conn = sqlite3.connect(old, isolation_level=None)
    for statement in _statements(load_migrations()[0].sql):
        conn.execute(statement)
    conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    conn.execute("PRAGMA user_version = 1")
    conn.execute("INSERT INTO organizations (name) VALUES ('Old Co')")
    conn.execute("INSERT INTO workflow_runs (organization_id, direction, status) VALUES (1, 'inbound', 'completed')")
    conn.close()
    target = tmp_path / "new" / "switchboard.db"
    result = cli(target, "restore", str(old))
    assert result.returncode == 0, result.stderr
    assert f"schema version 1, migrated to {latest_version()}" in result.stdout
    with sqlite3.connect(target) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == latest_version()
        assert conn.execute("SELECT name, recording_retention_days FROM organizations").fetchall() == [("Old Co", None)]
        assert conn.execute("SELECT recording_path FROM workflow_runs").fetchall() == [(None,)]
    assert old.read_bytes()[:16] == b"SQLite format 3\x00"  # the source itself is never migrated
    with sqlite3.connect(old) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 1


async def test_recordings_are_archived_and_restored_by_flag(tmp_path: Path) -> None:
    live = tmp_path / "live" / "switchboard.db"
    store = await seeded(live, runs=2)
    recordings = live.parent / "recordings"
    recordings.mkdir()
    (recordings / "run-1.wav").write_bytes(b"RIFF-one")
    (recordings / "run-2.wav").write_bytes(b"RIFF-two")
    (recordings / "run-3.wav.part").write_bytes(b"still recording")
    await store.runs.set_recording(1, "run-1.wav", 1.0)
    await store.close()
    backup = tmp_path / "b" / "backup.db"
    made = cli(live, "backup", str(backup), "--recordings")
    assert made.returncode == 0, made.stderr
    with tarfile.open(recordings_archive(backup)) as tar:
        assert sorted(tar.getnames()) == ["run-1.wav", "run-2.wav"]

    target = tmp_path / "other" / "switchboard.db"
    (target.parent / "recordings").mkdir(parents=True)
    (target.parent / "recordings" / "mine.wav").write_bytes(b"keep me aside")
    without = cli(target, "restore", str(backup))
    assert without.returncode == 0 and sorted(p.name for p in (target.parent / "recordings").iterdir()) == ["mine.wav"]
    restored = cli(target, "restore", str(backup), "--recordings")
    assert restored.returncode == 0, restored.stderr
    assert (target.parent / "recordings" / "run-1.wav").read_bytes() == b"RIFF-one"
    aside = next(p for p in target.parent.iterdir() if p.name.startswith("recordings.before-restore-"))
    assert (aside / "mine.wav").read_bytes() == b"keep me aside"

    evil = tmp_path / "evil" / "backup.db"
    evil.parent.mkdir()
    evil.write_bytes(backup.read_bytes())
    with tarfile.open(recordings_archive(evil), "w") as tar:
        info = tarfile.TarInfo("../../escape.wav")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"bad"))
    before = fingerprint(target.parent)
    refused = cli(target, "restore", str(evil), "--recordings")
    assert refused.returncode == 2 and "not a recording file" in refused.stderr
    assert fingerprint(target.parent) == before and not (tmp_path / "escape.wav").exists()
    missing = cli(target, "restore", str(tmp_path / "good-but-alone.db"), "--recordings")
    assert missing.returncode == 2


async def test_scheduled_backups_keep_the_newest(tmp_path: Path) -> None:
    store = await seeded(tmp_path / "switchboard.db")
    policy = BackupPolicy(tmp_path / "backups", 3600.0, keep=2, recordings=True)
    start = datetime(2025, 5, 1, tzinfo=timezone.utc)
    try:
        for hours in range(4):
            await take_scheduled_backup(store.db, policy, now=start + timedelta(hours=hours))
    finally:
        await store.close()
    kept = list_backups(policy.directory)
    assert [b.path.name for b in kept] == ["switchboard-20250501T030000Z.db", "switchboard-20250501T020000Z.db"]
    assert all(b.recordings for b in kept)
    assert sorted(p.name for p in policy.directory.iterdir()) == sorted(
        [b.path.name for b in kept] + [recordings_archive(b.path).name for b in kept])
    assert len(run_ids(kept[0].path)) == 3


async def test_backup_download_is_for_the_operator_only(tenant: Tenant, browser: httpx.AsyncClient,
                                                        make_tenant: MakeTenant, clients: Callable[..., httpx.AsyncClient],
                                                        store: Store, tmp_path: Path) -> None:
    response = await browser.get("/organization/backup.db")
    assert response.status_code == 200, response.text
    assert "attachment" in response.headers["content-disposition"]
    copy = tmp_path / "downloaded.db"
    copy.write_bytes(response.content)
    with sqlite3.connect(copy) as conn:
        assert conn.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert not [p for p in store.db.path.parent.iterdir() if p.name.startswith(".download-")]
    assert "Download database backup" in (await browser.get("/organization")).text
    now = await browser.post("/organization/backups", headers={"HX-Request": "true"})
    assert now.status_code == 200 and "written" in now.text and len(list_backups(store.db.path.parent / "backups")) == 1

    # An admin of any other organisation: as if none of it existed (a backup holds every organisation).
    second = await make_tenant("Second org")
    other = clients(headers={"Origin": BASE_URL})
    await log_in(other, second.email, second.password)
    for path in ("/organization/backup.db", "/organization/recordings.tar"):
        assert (await other.get(path)).status_code == 404
    assert (await other.post("/organization/backups")).status_code == 404
    assert "Download database backup" not in (await other.get("/organization")).text
