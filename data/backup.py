"""Online backup and validated restore of the Switchboard database, and the server lock.

Backup: the SQLite online backup API copies a consistent snapshot of the live database (never
a file copy of a WAL database, which can miss or tear recent commits). In the server it runs on
the writer's own connection (`Database.run_in_thread`), so writes wait for the few milliseconds
the copy takes and nothing committed before it started is missed. The result is one
self-contained file (rollback journal mode, checked with `PRAGMA quick_check`), written beside
the target and renamed into place. Recordings are not in the database: `archive_recordings`
writes the finished ones (`*.wav`) to a tar, `<backup>.recordings.tar` by convention.

Restore: `data.restore` (offline, validated, never replaces anything when a check fails).

Errors:

    DatabaseError (data.errors)
     └── BackupError
          ├── BackupInvalid    the file is not a usable Switchboard backup (error id backup-invalid)
          └── ServerRunning    a server is using the database (error id server-running)
"""
from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import logging
import os
import re
import secrets
import signal
import sqlite3
import tarfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from data.db import Database
from data.errors import DatabaseError
from data.migrations import check_compatible
from data.retention import recordings_dir

log = logging.getLogger("switchboard.data.backup")

RECORDINGS_SUFFIX = ".recordings.tar"
SCHEDULED_NAME = re.compile(r"^switchboard-(\d{8}T\d{6}Z)\.db\Z")
WAV_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,200}\.wav\Z")


class BackupError(DatabaseError):
    error_id = "backup-error"


class BackupInvalid(BackupError):
    error_id = "backup-invalid"


class ServerRunning(BackupError):
    error_id = "server-running"

    def __init__(self, message: str, pid: int | None) -> None:
        super().__init__(message)
        self.pid = pid


def recordings_archive(backup: Path) -> Path:
    return backup.with_name(backup.name + RECORDINGS_SUFFIX)


def backup_stamp(now: datetime | None = None) -> str:
    return (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")


# --- backup ---------------------------------------------------------------------------------

def _copy_into(source: sqlite3.Connection, staging: Path) -> None:
    """Copy `source` into a new file with the backup API, in one step (one consistent snapshot)."""
    target = sqlite3.connect(staging, isolation_level=None)
    try:
        source.backup(target)
        target.execute("PRAGMA journal_mode=DELETE").fetchall()  # one file, no -wal beside it
        result = target.execute("PRAGMA quick_check").fetchall()
        if result != [("ok",)]:
            raise BackupError(f"the backup copy failed its check: {result[:3]}")
    finally:
        target.close()


async def backup_database(db: Database, dest: Path) -> Path:
    """Back up the open database to `dest` (replaced atomically when complete)."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = dest.with_name(f".{dest.name}.{secrets.token_hex(4)}.tmp")
    try:
        # Shielded: a cancelled caller must not leave the copy running on a closing connection.
        await asyncio.shield(db.run_in_thread(lambda conn: _copy_into(conn, staging)))
        os.replace(staging, dest)
    finally:
        staging.unlink(missing_ok=True)
    return dest


def backup_file(db_path: Path, dest: Path) -> Path:
    """Back up a database file from another process (the CLI), whether or not a server runs:
    the backup API reads one consistent snapshot; the server keeps writing meanwhile."""
    db_path, dest = Path(db_path), Path(dest)
    if not db_path.is_file():
        raise BackupError(f"there is no database at {db_path}")
    try:
        source = sqlite3.connect(f"file:{db_path}?mode=rw", uri=True, isolation_level=None)
    except sqlite3.Error as exc:
        raise BackupError(f"cannot open {db_path}: {exc}") from exc
    try:
        source.execute("PRAGMA busy_timeout=5000")
        try:
            check_compatible(source, str(db_path))
        except sqlite3.DatabaseError as exc:
            raise BackupInvalid(f"{db_path} is not a Switchboard database ({exc})") from exc
        dest.parent.mkdir(parents=True, exist_ok=True)
        staging = dest.with_name(f".{dest.name}.{secrets.token_hex(4)}.tmp")
        try:
            _copy_into(source, staging)
            os.replace(staging, dest)
        finally:
            staging.unlink(missing_ok=True)
    finally:
        source.close()
    return dest


def archive_recordings(db_path: Path, dest: Path) -> int:
    """Write the finished recordings to the tar `dest`; returns how many."""
    directory = recordings_dir(db_path)
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = dest.with_name(f".{dest.name}.{secrets.token_hex(4)}.tmp")
    count = 0
    try:
        with tarfile.open(staging, "w") as tar:
            for path in sorted(directory.glob("*.wav")) if directory.is_dir() else []:
                if WAV_NAME.match(path.name) and path.is_file():
                    tar.add(path, arcname=path.name, recursive=False)
                    count += 1
        os.replace(staging, dest)
    finally:
        staging.unlink(missing_ok=True)
    return count


# --- scheduled backups ----------------------------------------------------------------------

@dataclass(frozen=True)
class BackupPolicy:
    directory: Path
    interval_s: float  # 0: no scheduled backups
    keep: int
    recordings: bool = False


@dataclass(frozen=True)
class BackupFile:
    path: Path
    size: int
    taken_at: datetime
    recordings: bool


def list_backups(directory: Path) -> list[BackupFile]:
    """Scheduled backups in `directory`, newest first."""
    found = []
    for path in directory.glob("switchboard-*.db") if directory.is_dir() else []:
        match = SCHEDULED_NAME.match(path.name)
        if match and path.is_file():
            taken = datetime.strptime(match.group(1), "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
            found.append(BackupFile(path, path.stat().st_size, taken, recordings_archive(path).is_file()))
    return sorted(found, key=lambda b: b.taken_at, reverse=True)


async def take_scheduled_backup(db: Database, policy: BackupPolicy, now: datetime | None = None) -> Path:
    """One backup into the policy's directory, then prune to its `keep` newest."""
    dest = policy.directory / f"switchboard-{backup_stamp(now)}.db"
    await backup_database(db, dest)
    if policy.recordings:
        await asyncio.to_thread(archive_recordings, db.path, recordings_archive(dest))
    for old in list_backups(policy.directory)[max(1, policy.keep):]:
        old.path.unlink(missing_ok=True)
        recordings_archive(old.path).unlink(missing_ok=True)
    log.info("scheduled backup written file=%s keep=%d", dest, policy.keep)
    return dest


FIRST_BACKUP_DELAY_S = 600.0


async def run_scheduled_backups(db: Database, policy: BackupPolicy) -> None:
    """The background task: a backup whenever the newest one is `interval_s` old; with none yet,
    the first one `FIRST_BACKUP_DELAY_S` after start (a server that just came up is busy)."""
    while True:
        newest = list_backups(policy.directory)
        if newest:
            delay = policy.interval_s - (time.time() - newest[0].taken_at.timestamp())
        else:
            delay = min(policy.interval_s, FIRST_BACKUP_DELAY_S)
        await asyncio.sleep(max(0.0, delay))
        try:
            await take_scheduled_backup(db, policy)
        except asyncio.CancelledError:
            raise
        except Exception:  # a full disk must not end the schedule; try again next interval
            log.exception("scheduled backup failed error_id=backup-failed directory=%s", policy.directory)
            await asyncio.sleep(policy.interval_s)


# --- the server lock ------------------------------------------------------------------------

def lock_path(db_path: Path) -> Path:
    return Path(db_path).with_name(Path(db_path).name + ".lock")


class ServerLock:
    """An exclusive `flock` on `<db>.lock`, held by a serving process for its whole life and by
    `restore` while it swaps files. The kernel drops it when the process dies, so it is never
    stale. The file says who holds it (pid, port) for the messages."""

    def __init__(self, path: Path, handle: IO[str]) -> None:
        self.path = path
        self._handle = handle

    @classmethod
    def acquire(cls, db_path: Path, **info: Any) -> ServerLock:
        path = lock_path(db_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(path, "a+", encoding="utf-8")  # noqa: SIM115 - held until release()
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = read_lock(db_path)
            handle.close()
            pid = holder.get("pid") if isinstance(holder.get("pid"), int) else None
            port = f" on port {holder['port']}" if holder.get("port") else ""
            raise ServerRunning(
                f"a Switchboard server (pid {pid or '?'}{port}) is using {db_path}: stop it first, "
                "or pass --force-stop to stop it", pid) from None
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps({"pid": os.getpid(), **info}))
        handle.flush()
        return cls(path, handle)

    def release(self) -> None:
        if not self._handle.closed:
            with contextlib.suppress(OSError):
                self._handle.seek(0)
                self._handle.truncate()
            fcntl.flock(self._handle.fileno(), fcntl.LOCK_UN)
            self._handle.close()


def read_lock(db_path: Path) -> dict[str, Any]:
    try:
        data = json.loads(lock_path(db_path).read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def stop_server(db_path: Path, timeout_s: float = 60.0) -> ServerLock:
    """SIGTERM the server holding the lock (it ends live calls politely), wait until it is gone,
    and return the lock, now ours."""
    deadline = time.monotonic() + timeout_s
    signalled = False
    while True:
        try:
            return ServerLock.acquire(db_path, purpose="restore")
        except ServerRunning as running:
            if running.pid is None:
                raise ServerRunning(f"{running}; its pid is unknown, stop it by hand", None) from None
            if not signalled:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(running.pid, signal.SIGTERM)
                signalled = True
            if time.monotonic() > deadline:
                raise ServerRunning(f"the server (pid {running.pid}) did not stop within {timeout_s:g} s",
                                    running.pid) from None
        time.sleep(0.1)
