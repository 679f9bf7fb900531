"""SQLite access: one serialised writer connection and one reader, WAL, migrations on open.

Writes go through `Database.transaction()`, which takes an asyncio lock and runs
`BEGIN IMMEDIATE`, so there is never more than one writer and a write never fails half-way on
`SQLITE_BUSY` from inside our own process. Callbacks registered with `after_commit` run only once
the commit succeeded (Datasette's rule: events fire after the data is durable).
Errors live in `data.errors`.
"""
from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiosqlite

from data.errors import NotOurDatabase
from data.migrations import apply_migrations, check_compatible

log = logging.getLogger("switchboard.data")

Row = sqlite3.Row
Params = Iterable[Any] | dict[str, Any]


async def _connect(path: str) -> aiosqlite.Connection:
    conn = await aiosqlite.connect(path, isolation_level=None)
    conn.row_factory = sqlite3.Row
    try:
        for pragma in ("PRAGMA foreign_keys=ON", "PRAGMA busy_timeout=5000", "PRAGMA synchronous=NORMAL"):
            await _run(conn, pragma)
    except sqlite3.DatabaseError as exc:  # e.g. "file is not a database"
        await conn.close()
        raise NotOurDatabase(f"{path} is not a Switchboard database ({exc})") from exc
    except BaseException:
        await conn.close()
        raise
    return conn


def _check(conn: sqlite3.Connection, source: str) -> None:
    try:
        check_compatible(conn, source)
    except sqlite3.DatabaseError as exc:
        raise NotOurDatabase(f"{source} is not a Switchboard database ({exc})") from exc


async def _run(conn: aiosqlite.Connection, sql: str) -> None:
    """Execute and close the cursor at once (an open cursor blocks COMMIT)."""
    async with conn.execute(sql):
        pass


class Database:
    """An open Switchboard database file (WAL mode, migrated to the latest schema)."""

    def __init__(self, path: Path, writer: aiosqlite.Connection, reader: aiosqlite.Connection) -> None:
        self.path = path
        self._writer = writer
        self._reader = reader
        self._write_lock = asyncio.Lock()

    @classmethod
    async def open(cls, path: Path | str) -> Database:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        writer = await _connect(str(path))
        try:
            await writer._execute(_check, writer._conn, str(path))  # type: ignore[no-untyped-call]  # noqa: SLF001
            # WAL only after the check, so a file we refuse is left exactly as it was.
            await _run(writer, "PRAGMA journal_mode=WAL")
            await writer._execute(apply_migrations, writer._conn, str(path))  # type: ignore[no-untyped-call]  # noqa: SLF001
            reader = await _connect(str(path))
        except BaseException:
            await writer.close()
            raise
        return cls(path, writer, reader)

    async def close(self) -> None:
        await self._reader.close()
        await self._writer.close()

    async def fetch_all(self, sql: str, params: Params = ()) -> list[Row]:
        # Execute and fetch to the end in one step on the reader's thread. A statement left active
        # between awaits would hold the reader's snapshot open, and a query from another task would
        # then miss rows committed meanwhile (even its own task's write: read-your-writes breaks).
        return list(await self._reader.execute_fetchall(sql, params))

    async def fetch_one(self, sql: str, params: Params = ()) -> Row | None:
        rows = await self.fetch_all(sql, params)
        return rows[0] if rows else None

    async def fetch_value(self, sql: str, params: Params = ()) -> Any:
        row = await self.fetch_one(sql, params)
        return None if row is None else row[0]

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        """`BEGIN IMMEDIATE` … `COMMIT`, serialised. Safe under task cancellation: statements are
        queued to the connection's thread in order, so a ROLLBACK queued after a cancelled BEGIN
        always runs after it, and the connection is never left inside a transaction."""
        async with self._write_lock:
            tx = Transaction(self._writer)
            try:
                await _run(self._writer, "BEGIN IMMEDIATE")
                yield tx
                # A failed COMMIT (deferred foreign key, disk full) leaves the transaction open.
                await asyncio.shield(_run(self._writer, "COMMIT"))
            except BaseException:
                await asyncio.shield(self._rollback())
                raise
        for callback in tx.callbacks:
            await callback()

    async def _rollback(self) -> None:
        try:
            await _run(self._writer, "ROLLBACK")
        except sqlite3.OperationalError:
            pass  # the BEGIN failed or the COMMIT went through: nothing to roll back

    async def execute(self, sql: str, params: Params = ()) -> int | None:
        """One statement in its own transaction; returns lastrowid."""
        async with self.transaction() as tx:
            return await tx.execute(sql, params)

    async def run_in_thread(self, fn: Callable[[sqlite3.Connection], Any]) -> Any:
        """Run `fn` on the writer's own sqlite3 connection (backup API, integrity checks)."""
        async with self._write_lock:
            return await self._writer._execute(fn, self._writer._conn)  # type: ignore[no-untyped-call]  # noqa: SLF001


class Transaction:
    """The writer connection inside `BEGIN IMMEDIATE`."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn
        self.callbacks: list[Callable[[], Awaitable[None]]] = []

    async def execute(self, sql: str, params: Params = ()) -> int | None:
        async with self._conn.execute(sql, params) as cursor:
            return cursor.lastrowid

    async def execute_rowcount(self, sql: str, params: Params = ()) -> int:
        async with self._conn.execute(sql, params) as cursor:
            return cursor.rowcount

    async def fetch_one(self, sql: str, params: Params = ()) -> Row | None:
        async with self._conn.execute(sql, params) as cursor:
            return await cursor.fetchone()

    async def fetch_all(self, sql: str, params: Params = ()) -> list[Row]:
        async with self._conn.execute(sql, params) as cursor:
            return list(await cursor.fetchall())

    def after_commit(self, callback: Callable[[], Awaitable[None]]) -> None:
        self.callbacks.append(callback)
