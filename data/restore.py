"""Validated restore of a Switchboard backup (offline; `python app.py restore FILE`).

Steps:
1. copy the file to a staging file beside the database and validate the copy:
   `PRAGMA integrity_check`, our application id, a schema version this release knows; an older
   schema is migrated there; the recordings tar is checked (plain `*.wav` members only);
2. refuse while a server holds the database's lock (`ServerLock`, `<db>.lock`), or with
   `force_stop` send it SIGTERM and wait for it to let go;
3. only then move the current database (with its `-wal`/`-shm`) aside to
   `<db>.before-restore-<time>` and rename the staging file into place; recordings likewise.
Nothing is replaced when any check fails.

Errors are data.backup's (`BackupInvalid`, `ServerRunning`).
"""
from __future__ import annotations

import contextlib
import logging
import os
import secrets
import shutil
import sqlite3
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from data.backup import (
    WAV_NAME,
    BackupInvalid,
    ServerLock,
    backup_stamp,
    recordings_archive,
    stop_server,
)
from data.errors import DatabaseError
from data.migrations import apply_migrations, check_compatible, latest_version
from data.retention import recordings_dir

log = logging.getLogger("switchboard.data.restore")


@dataclass(frozen=True)
class BackupInfo:
    schema_version: int
    organizations: int
    runs: int


def validate_copy(path: Path, source: str) -> BackupInfo:
    """Check (and migrate, if older) a staging copy of a backup. Raises BackupInvalid."""
    try:
        conn = sqlite3.connect(f"file:{path}?mode=rw", uri=True, isolation_level=None)
    except sqlite3.Error as exc:
        raise BackupInvalid(f"{source} cannot be opened: {exc}") from exc
    try:
        try:
            result = [r[0] for r in conn.execute("PRAGMA integrity_check").fetchall()]
        except sqlite3.DatabaseError as exc:
            raise BackupInvalid(f"{source} is not a SQLite database ({exc})") from exc
        if result != ["ok"]:
            raise BackupInvalid(f"{source} is damaged: integrity_check says {'; '.join(result[:3])}")
        try:
            version = check_compatible(conn, source)
        except DatabaseError as exc:
            raise BackupInvalid(str(exc)) from exc
        if version == 0:
            raise BackupInvalid(f"{source} is an empty database, not a Switchboard backup")
        if version < latest_version():
            log.info("migrating the backup from schema version %d to %d", version, latest_version())
        apply_migrations(conn, source)
        conn.execute("PRAGMA journal_mode=DELETE").fetchall()
        orgs = conn.execute("SELECT count(*) FROM organizations").fetchone()[0]
        runs = conn.execute("SELECT count(*) FROM workflow_runs").fetchone()[0]
        return BackupInfo(version, int(orgs), int(runs))
    finally:
        conn.close()


def check_recordings_archive(archive: Path) -> int:
    """Every member a plain `*.wav` file with a flat, safe name; returns how many."""
    try:
        with tarfile.open(archive, "r") as tar:
            members = tar.getmembers()
    except (OSError, tarfile.TarError) as exc:
        raise BackupInvalid(f"{archive} is not a readable recordings archive ({exc})") from exc
    for member in members:
        if not member.isfile() or not WAV_NAME.match(member.name):
            raise BackupInvalid(f"{archive} holds {member.name!r}, which is not a recording file")
    return len(members)


@dataclass(frozen=True)
class RestoreReport:
    info: BackupInfo
    previous: Path | None
    previous_recordings: Path | None
    recordings: int | None


def _move_aside(db_path: Path, stamp: str) -> Path | None:
    aside = db_path.with_name(f"{db_path.name}.before-restore-{stamp}")
    if not db_path.exists():
        return None
    for suffix in ("-wal", "-shm"):  # the WAL pair goes with its database
        companion = db_path.with_name(db_path.name + suffix)
        if companion.exists():
            os.replace(companion, aside.with_name(aside.name + suffix))
    os.replace(db_path, aside)
    return aside


def restore(source: Path, db_path: Path, *, recordings: bool = False, force_stop: bool = False) -> RestoreReport:
    """Replace the database at `db_path` with the backup `source` (see the module docstring)."""
    source, db_path = Path(source), Path(db_path)
    if not source.is_file():
        raise BackupInvalid(f"there is no backup file at {source}")
    archive = recordings_archive(source)
    if recordings and not archive.is_file():
        raise BackupInvalid(f"--recordings: there is no {archive.name} beside the backup")
    stamp = backup_stamp()
    staging = db_path.with_name(f".{db_path.name}.restore-{secrets.token_hex(4)}")
    unpacked = recordings_dir(db_path).with_name(f".recordings.restore-{stamp}")
    db_path.parent.mkdir(parents=True, exist_ok=True)
    companions = [staging.with_name(staging.name + suffix) for suffix in ("-journal", "-wal", "-shm")]
    with _cleanup(staging, *companions, unpacked):
        shutil.copyfile(source, staging)  # a backup file is not live: a copy is safe here
        info = validate_copy(staging, str(source))
        count = None
        if recordings:
            count = check_recordings_archive(archive)
            unpacked.mkdir(parents=True)
            with tarfile.open(archive, "r") as tar:
                if hasattr(tarfile, "data_filter"):
                    tar.extractall(unpacked, filter="data")
                else:  # Python < 3.11.4 (Debian 12 has 3.11.2): no filters; the members are checked above
                    tar.extractall(unpacked)
        # Everything checked. Only now: is the database free? Then swap.
        lock = stop_server(db_path) if force_stop else ServerLock.acquire(db_path, purpose="restore")
        try:
            previous = _move_aside(db_path, stamp)
            os.replace(staging, db_path)
            previous_recordings = None
            if recordings:
                current = recordings_dir(db_path)
                if current.exists():
                    previous_recordings = current.with_name(f"{current.name}.before-restore-{stamp}")
                    os.replace(current, previous_recordings)
                os.replace(unpacked, current)
        finally:
            lock.release()
    return RestoreReport(info, previous, previous_recordings, count)


@contextlib.contextmanager
def _cleanup(*paths: Path) -> Iterator[None]:
    try:
        yield
    finally:
        for path in paths:
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
