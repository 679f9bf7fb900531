"""Migrations on real files: empty → latest, refusing newer or foreign files, idempotent reopen."""
from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from app import create_app
from data.db import Database
from data.errors import NotOurDatabase, SchemaTooNew
from data.migrations import APPLICATION_ID, Migration, apply_migrations, latest_version, load_migrations
from data.store import Store
from web.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
TABLES = {"organizations", "users", "api_keys", "telephony_configurations", "phone_numbers", "workflows",
          "workflow_runs", "run_events"}


def inspect(path: Path) -> tuple[int, int, set[str], str]:
    conn = sqlite3.connect(path)
    try:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        app_id = conn.execute("PRAGMA application_id").fetchone()[0]
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
        return version, app_id, tables, mode
    finally:
        conn.close()


def make_file(path: Path, *statements: str) -> bytes:
    conn = sqlite3.connect(path)
    for statement in statements:
        conn.execute(statement)
    conn.commit()
    conn.close()
    return path.read_bytes()


def cli(db: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SWITCHBOARD_")}
    return subprocess.run([sys.executable, "app.py", "--db", str(db), *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)


def test_migrations_are_numbered_from_one() -> None:
    migrations = load_migrations()
    assert [m.version for m in migrations] == list(range(1, len(migrations) + 1))
    assert latest_version() == len(migrations) >= 1


async def test_empty_file_to_latest(tmp_path: Path) -> None:
    path = tmp_path / "new" / "switchboard.db"  # the directory does not exist yet
    db = await Database.open(path)
    try:
        assert await db.fetch_value("PRAGMA foreign_keys") == 1
        assert await db.fetch_value("PRAGMA journal_mode") == "wal"
    finally:
        await db.close()
    version, app_id, tables, mode = inspect(path)
    assert version == latest_version() and app_id == APPLICATION_ID and mode == "wal"
    assert TABLES <= tables


async def test_zero_byte_file_is_migrated(tmp_path: Path) -> None:
    path = tmp_path / "empty.db"
    path.touch()
    await (await Database.open(path)).close()
    assert inspect(path)[0] == latest_version()


async def test_reopening_is_idempotent_and_keeps_data(tmp_path: Path) -> None:
    path = tmp_path / "switchboard.db"
    store = await Store.open(path, "k")
    org, _ = await store.accounts.create_organization_with_admin("Acme", "a@example.com", "hash")
    await store.close()
    for _ in range(3):
        store = await Store.open(path, "k")
        try:
            assert [o.name for o in await store.accounts.organizations()] == ["Acme"]
            assert await store.db.fetch_value("PRAGMA user_version") == latest_version()
        finally:
            await store.close()
    assert inspect(path)[:3] == (latest_version(), APPLICATION_ID, inspect(path)[2])
    assert org.max_concurrent_calls == 10 and org.monthly_minutes is None


async def test_newer_schema_is_refused_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "future.db"
    newer = latest_version() + 1
    before = make_file(path, "CREATE TABLE organizations (id INTEGER PRIMARY KEY)",
                       f"PRAGMA application_id = {APPLICATION_ID}", f"PRAGMA user_version = {newer}")
    with pytest.raises(SchemaTooNew) as caught:
        await Database.open(path)
    message = str(caught.value)
    assert f"schema version {newer}" in message and f"up to version {latest_version()}" in message
    assert "newer" in message and str(path) in message
    assert caught.value.error_id == "db-schema-too-new"
    assert path.read_bytes() == before  # not even switched to WAL
    assert not path.with_name("future.db-wal").exists()

    app = create_app(Settings(db_path=path, secret_key="k"), with_ari=False)
    with pytest.raises(SchemaTooNew):
        async with app.router.lifespan_context(app):
            pass

    result = cli(path, "create-admin", "--email", "a@example.com", "--password", "long enough password")
    assert result.returncode != 0
    assert "newer release" in result.stderr and "db-schema-too-new" in result.stderr
    assert "Traceback" not in result.stderr
    assert path.read_bytes() == before


@pytest.mark.parametrize("statements", [
    ("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)", "INSERT INTO customers VALUES (1, 'x')"),
    ("PRAGMA user_version = 1",),  # a foreign app that versions its schema the same way
    ("CREATE TABLE organizations (id INTEGER PRIMARY KEY)",),  # even with a table name like ours
])
async def test_foreign_sqlite_file_is_refused(tmp_path: Path, statements: tuple[str, ...]) -> None:
    path = tmp_path / "other-app.db"
    before = make_file(path, *statements)
    with pytest.raises(NotOurDatabase) as caught:
        await Database.open(path)
    assert "not a Switchboard database" in str(caught.value)
    assert path.read_bytes() == before


async def test_file_that_is_not_sqlite_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_text("these are my notes, not a database\n" * 50)
    with pytest.raises(NotOurDatabase):
        await Database.open(path)
    result = cli(path, "create-api-key", "--email", "a@example.com")
    assert result.returncode != 0 and "not a Switchboard database" in result.stderr
    assert "Traceback" not in result.stderr
    assert path.read_text().startswith("these are my notes")


def test_failed_migration_rolls_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "switchboard.db"
    conn = sqlite3.connect(path, isolation_level=None)
    latest = apply_migrations(conn)
    assert latest == latest_version()
    broken = Migration(latest + 1, "9999_broken",
                       "CREATE TABLE half_done (id INTEGER);\nALTER TABLE no_such_table ADD COLUMN x TEXT;")
    monkeypatch.setattr("data.migrations.load_migrations", lambda: [*load_migrations(), broken])
    with pytest.raises(sqlite3.OperationalError):
        apply_migrations(conn)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == latest
    assert conn.execute("SELECT count(*) FROM sqlite_master WHERE name = 'half_done'").fetchone()[0] == 0
    conn.close()
