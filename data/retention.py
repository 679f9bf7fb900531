"""Where recordings live, and how long: the retention sweep.

Recordings are WAV files in `<db dir>/recordings/` (one volume with the database and its
backups), named in `workflow_runs.recording_path`. A recording is deleted with its run, or by
the sweep once it is older than its organisation's `recording_retention_days` (the run keeps
its transcript; only the audio goes). The sweep also removes orphans: finished files that no
run names (a run deleted while the file could not be removed, a restored older database) and
`.part` files a killed process left behind; and backup downloads (`.download-*` beside the
database) a dropped connection left behind.
"""
from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from pathlib import Path

from data.db import Database

log = logging.getLogger("switchboard.data.retention")

RECORDINGS_DIRNAME = "recordings"
ORPHAN_GRACE_S = 3600.0  # a file this young may belong to a call being torn down right now
PART_GRACE_S = 2 * 86400.0  # longer than any call (max_duration_s ≤ 1 day)


def recordings_dir(db_path: Path) -> Path:
    return Path(db_path).parent / RECORDINGS_DIRNAME


def recording_file(db_path: Path, name: str) -> Path | None:
    """The file of a stored recording name, never outside the recordings directory."""
    if not name or "/" in name or "\\" in name or name.startswith("."):
        return None
    return recordings_dir(db_path) / name


def remove_recording(db_path: Path, name: str | None) -> None:
    path = recording_file(db_path, name or "")
    if path is not None:
        try:
            path.unlink()
        except FileNotFoundError:
            pass
        except OSError as exc:  # the orphan sweep gets it later
            log.warning("could not delete recording error_id=recording-delete-failed file=%s: %s", name, exc)


@dataclass(frozen=True)
class SweepReport:
    expired: int = 0
    orphans: int = 0


async def sweep(db: Database, now: float | None = None) -> SweepReport:
    """Delete expired recordings and orphan files; returns how many of each."""
    rows = await db.fetch_all(
        """SELECT r.id, r.recording_path FROM workflow_runs r JOIN organizations o ON o.id = r.organization_id
        WHERE r.recording_path IS NOT NULL AND o.recording_retention_days IS NOT NULL
        AND r.created_at < strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-' || o.recording_retention_days || ' days')"""
    )
    for row in rows:
        await db.execute("UPDATE workflow_runs SET recording_path = NULL, recording_s = NULL WHERE id = ?",
                         (row["id"],))
        remove_recording(db.path, row["recording_path"])
    known = {r[0] for r in await db.fetch_all(
        "SELECT recording_path FROM workflow_runs WHERE recording_path IS NOT NULL")}
    now = time.time() if now is None else now
    orphans = await asyncio.to_thread(_remove_orphans, recordings_dir(db.path), known, now)
    await asyncio.to_thread(_remove_stale_downloads, db.path.parent, now)
    if rows or orphans:
        log.info("recording retention sweep expired=%d orphans=%d", len(rows), orphans)
    return SweepReport(len(rows), orphans)


def _remove_orphans(directory: Path, known: set[str], now: float) -> int:
    if not directory.is_dir():
        return 0
    removed = 0
    for path in directory.iterdir():
        if not path.is_file() or path.name in known:
            continue
        age = now - path.stat().st_mtime
        if (path.suffix == ".wav" and age > ORPHAN_GRACE_S) or (path.suffix == ".part" and age > PART_GRACE_S):
            try:
                path.unlink()
                removed += 1
            except OSError as exc:
                log.warning("could not delete orphan recording file=%s: %s", path.name, exc)
    return removed


def _remove_stale_downloads(directory: Path, now: float) -> None:
    for path in directory.glob(".download-*"):
        try:
            if now - path.stat().st_mtime > ORPHAN_GRACE_S:
                path.unlink()
        except OSError:
            pass


async def run_sweeps(db: Database, every_s: float) -> None:
    """The background task: a sweep at start-up, then every `every_s` seconds."""
    while True:
        try:
            await sweep(db)
        except asyncio.CancelledError:
            raise
        except Exception:  # a locked or missing file must not end the task
            log.exception("recording retention sweep failed error_id=retention-failed")
        await asyncio.sleep(every_s)
