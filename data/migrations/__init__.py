"""Numbered SQL migrations (`NNNN_name.sql`), tracked by `PRAGMA user_version`.

Every Switchboard database carries `PRAGMA application_id = APPLICATION_ID`, so a foreign SQLite
file is refused instead of being "migrated" into ours.
"""
from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from data.errors import NotOurDatabase, SchemaTooNew

APPLICATION_ID = 0x53574244  # "SWBD"
_DIR = Path(__file__).parent
_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql\Z")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def load_migrations() -> list[Migration]:
    found = []
    for path in sorted(_DIR.glob("*.sql")):
        match = _NAME.match(path.name)
        if match is None:
            raise RuntimeError(f"badly named migration file {path.name}")
        found.append(Migration(int(match.group(1)), path.stem, path.read_text()))
    versions = [m.version for m in found]
    if versions != list(range(1, len(found) + 1)):
        raise RuntimeError(f"migrations must be numbered 1..n without gaps, got {versions}")
    return found


def latest_version() -> int:
    return len(load_migrations())


def check_compatible(conn: sqlite3.Connection, source: str = "the database") -> int:
    """Raise unless `conn` is an empty file or a Switchboard database this code can open."""
    version = _value(conn, "PRAGMA user_version")
    app_id = _value(conn, "PRAGMA application_id")
    tables = _value(conn, "SELECT count(*) FROM sqlite_master WHERE type='table'")
    if app_id != APPLICATION_ID and (version or tables):
        raise NotOurDatabase(f"{source} is not a Switchboard database (no Switchboard application id)")
    latest = latest_version()
    if version > latest:
        raise SchemaTooNew(
            f"{source} has schema version {version}, but this Switchboard only knows up to "
            f"version {latest}: it was written by a newer release. Upgrade Switchboard, "
            "or restore a backup made by this release."
        )
    return int(version)


def _value(conn: sqlite3.Connection, sql: str) -> int:
    return int(conn.execute(sql).fetchall()[0][0])


def apply_migrations(conn: sqlite3.Connection, source: str = "the database") -> int:
    """Bring `conn` (autocommit mode) to the latest schema; returns the version reached."""
    version = check_compatible(conn, source)
    for migration in load_migrations():
        if migration.version <= version:
            continue
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in _statements(migration.sql):
                conn.execute(statement).close()
            conn.execute(f"PRAGMA application_id = {APPLICATION_ID}").close()
            conn.execute(f"PRAGMA user_version = {migration.version}").close()
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        version = migration.version
    return version


def _statements(sql: str) -> list[str]:
    """Split a migration into statements (sqlite3.complete_statement keeps triggers whole)."""
    statements, current = [], ""
    for line in sql.splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            if current.strip():
                statements.append(current.strip())
            current = ""
    if current.strip():
        statements.append(current.strip())
    return statements
