"""Workflow runs (one per call or refused call) and their events (transcript, DTMF, actions).

`on_finished(listener)`: `listener(run_id)` is awaited after a run's end is committed (once per
run: the post-call webhooks hang off it). A failing listener is logged, never raised into the
call's teardown.
"""
from __future__ import annotations

import builtins
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from data.db import Database, Row
from data.models import RunEvent, WorkflowRun

ACTIVE_STATUSES = ("queued", "ringing", "in_progress")
FINAL_STATUSES = ("completed", "failed", "rejected", "no-answer", "busy", "canceled")
_NOW = "strftime('%Y-%m-%dT%H:%M:%fZ','now')"
log = logging.getLogger("switchboard.data.runs")

FinishListener = Callable[[int], Awaitable[None]]


def _run(row: Row) -> WorkflowRun:
    keys = row.keys()
    return WorkflowRun(
        id=row["id"],
        organization_id=row["organization_id"],
        workflow_id=row["workflow_id"],
        telephony_configuration_id=row["telephony_configuration_id"],
        phone_number_id=row["phone_number_id"],
        direction=row["direction"],
        status=row["status"],
        reason=row["reason"],
        error_id=row["error_id"],
        call_id=row["call_id"],
        caller_number=row["caller_number"],
        called_number=row["called_number"],
        context=json.loads(row["context"]),
        hangup_cause=row["hangup_cause"],
        created_at=row["created_at"],
        answered_at=row["answered_at"],
        ended_at=row["ended_at"],
        duration_s=row["duration_s"],
        workflow_name=row["workflow_name"] if "workflow_name" in keys else None,
        configuration_name=row["configuration_name"] if "configuration_name" in keys else None,
        recording_path=row["recording_path"] if "recording_path" in keys else None,
        recording_s=row["recording_s"] if "recording_s" in keys else None,
    )


@dataclass(frozen=True)
class RunFilter:
    telephony_configuration_id: int | None = None
    workflow_id: int | None = None
    direction: str | None = None
    status: str | None = None
    since: str | None = None
    until: str | None = None


_SELECT = """
SELECT r.*, w.name AS workflow_name, c.name AS configuration_name
FROM workflow_runs r
LEFT JOIN workflows w ON w.id = r.workflow_id
LEFT JOIN telephony_configurations c ON c.id = r.telephony_configuration_id
"""


class Runs:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._finished: builtins.list[FinishListener] = []

    def on_finished(self, listener: FinishListener) -> None:
        """Await `listener(run_id)` after each run's end is committed."""
        self._finished.append(listener)

    async def create(
        self, *, org_id: int, workflow_id: int | None, direction: str, status: str,
        telephony_configuration_id: int | None = None, phone_number_id: int | None = None,
        call_id: str | None = None, caller_number: str | None = None, called_number: str | None = None,
        context: dict[str, Any] | None = None, reason: str | None = None, error_id: str | None = None,
    ) -> WorkflowRun:
        final = status in FINAL_STATUSES
        run_id = await self.db.execute(
            f"""INSERT INTO workflow_runs (organization_id, workflow_id, telephony_configuration_id,
            phone_number_id, direction, status, reason, error_id, call_id, caller_number, called_number,
            context, ended_at, duration_s) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,{_NOW if final else 'NULL'},
            {'0' if final else 'NULL'})""",
            (org_id, workflow_id, telephony_configuration_id, phone_number_id, direction, status, reason,
             error_id, call_id, caller_number, called_number, json.dumps(context or {})),
        )
        created = await self.get_any(int(run_id or 0))
        assert created is not None
        if final:
            await self._ended(created.id)
        return created

    async def create_within_quota(
        self, *, org_id: int, workflow_id: int, direction: str, status: str,
        telephony_configuration_id: int | None = None, phone_number_id: int | None = None,
        call_id: str | None = None, caller_number: str | None = None, called_number: str | None = None,
        context: dict[str, Any] | None = None,
    ) -> tuple[WorkflowRun, str | None]:
        """Check the organisation's quota and create the run in one write transaction, so that
        concurrent calls cannot both take the last slot. Over quota, the run is recorded as
        `rejected` and the second element says why."""
        async with self.db.transaction() as tx:
            org = await tx.fetch_one(
                "SELECT max_concurrent_calls, monthly_minutes FROM organizations WHERE id = ?", (org_id,)
            )
            active = await tx.fetch_one(
                "SELECT count(*) FROM workflow_runs WHERE organization_id = ? AND ended_at IS NULL", (org_id,)
            )
            used = await tx.fetch_one(
                """SELECT coalesce(sum(duration_s), 0) / 60.0 FROM workflow_runs WHERE organization_id = ?
                AND created_at >= strftime('%Y-%m-01T00:00:00Z', 'now')""", (org_id,)
            )
            refusal = None
            if org is None:
                refusal = "organisation not found"
            elif active is not None and active[0] >= org["max_concurrent_calls"]:
                refusal = f"quota exceeded: {active[0]} of {org['max_concurrent_calls']} concurrent calls in use"
            elif org["monthly_minutes"] is not None and used is not None and used[0] >= org["monthly_minutes"]:
                refusal = f"quota exceeded: {used[0]:.0f} of {org['monthly_minutes']} minutes used this month"
            final = refusal is not None
            run_id = await tx.execute(
                f"""INSERT INTO workflow_runs (organization_id, workflow_id, telephony_configuration_id,
                phone_number_id, direction, status, reason, error_id, call_id, caller_number, called_number,
                context, ended_at, duration_s) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,{_NOW if final else 'NULL'},
                {'0' if final else 'NULL'})""",
                (org_id, workflow_id, telephony_configuration_id, phone_number_id, direction,
                 "rejected" if final else status, refusal, "quota-exceeded" if final else None, call_id,
                 caller_number, called_number, json.dumps(context or {})),
            )
        created = await self.get_any(int(run_id or 0))
        assert created is not None
        if refusal is not None:
            await self._ended(created.id)
        return created, refusal

    async def get(self, org_id: int, run_id: int) -> WorkflowRun | None:
        row = await self.db.fetch_one(_SELECT + " WHERE r.organization_id = ? AND r.id = ?", (org_id, run_id))
        return None if row is None else _run(row)

    async def get_any(self, run_id: int) -> WorkflowRun | None:
        row = await self.db.fetch_one(_SELECT + " WHERE r.id = ?", (run_id,))
        return None if row is None else _run(row)

    async def list(
        self, org_id: int, flt: RunFilter | None = None, *, limit: int = 50, before_id: int | None = None
    ) -> list[WorkflowRun]:
        flt = flt or RunFilter()
        where: builtins.list[str] = ["r.organization_id = ?"]
        params: builtins.list[int | str] = [org_id]
        for column, value in (
            ("r.telephony_configuration_id = ?", flt.telephony_configuration_id),
            ("r.workflow_id = ?", flt.workflow_id),
            ("r.direction = ?", flt.direction),
            ("r.status = ?", flt.status),
            ("r.created_at >= ?", flt.since),
            ("r.created_at < ?", flt.until),
            ("r.id < ?", before_id),
        ):
            if value is not None:
                where.append(column)
                params.append(value)
        sql = _SELECT + " WHERE " + " AND ".join(where) + " ORDER BY r.id DESC LIMIT ?"
        rows = await self.db.fetch_all(sql, (*params, limit))
        return [_run(r) for r in rows]

    async def set_status(self, run_id: int, status: str, *, answered: bool = False) -> None:
        extra = f", answered_at = coalesce(answered_at, {_NOW})" if answered else ""
        await self.db.execute(
            f"UPDATE workflow_runs SET status = ?{extra} WHERE id = ? AND ended_at IS NULL", (status, run_id)
        )

    async def set_call(self, run_id: int, call_id: str) -> None:
        await self.db.execute("UPDATE workflow_runs SET call_id = ? WHERE id = ?", (call_id, run_id))

    async def finish(
        self, run_id: int, status: str, reason: str | None = None, *, error_id: str | None = None,
        hangup_cause: str | None = None,
    ) -> bool:
        """End a run once (later calls change nothing). Duration counts from answer."""
        async with self.db.transaction() as tx:
            ended = await tx.execute_rowcount(
                f"""UPDATE workflow_runs SET status = ?, reason = ?, error_id = coalesce(?, error_id),
                hangup_cause = coalesce(?, hangup_cause), ended_at = {_NOW},
                duration_s = CASE WHEN answered_at IS NULL THEN 0
                    ELSE max(0, (julianday({_NOW}) - julianday(answered_at)) * 86400.0) END
                WHERE id = ? AND ended_at IS NULL""",
                (status, reason, error_id, hangup_cause, run_id),
            ) > 0
        if ended:
            await self._ended(run_id)
        return ended

    async def _ended(self, run_id: int) -> None:
        """Tell the listeners (after the commit) that this run's end is recorded."""
        for listener in self._finished:
            try:
                await listener(run_id)
            except Exception:  # the run is recorded; only what hangs off its end is lost
                log.exception("a listener of the run's end failed error_id=run-listener-failed run=%d", run_id)

    async def set_recording(self, run_id: int, name: str | None, seconds: float | None = None) -> None:
        """Attach (or, with None, detach) the run's recording file."""
        await self.db.execute("UPDATE workflow_runs SET recording_path = ?, recording_s = ? WHERE id = ?",
                              (name, seconds, run_id))

    async def delete(self, org_id: int, run_id: int) -> bool:
        """Delete an ended run and its events (a live call's run stays). The caller removes the
        recording file it read from the run beforehand."""
        async with self.db.transaction() as tx:
            return await tx.execute_rowcount(
                "DELETE FROM workflow_runs WHERE organization_id = ? AND id = ? AND ended_at IS NOT NULL",
                (org_id, run_id),
            ) > 0

    async def finish_all_open(self, status: str, reason: str, error_id: str) -> int:
        """At start-up: runs a previous process left open can never finish now. Listeners hear of
        each (their post-call webhooks still go out)."""
        async with self.db.transaction() as tx:
            rows = await tx.fetch_all("SELECT id FROM workflow_runs WHERE ended_at IS NULL")
            await tx.execute_rowcount(
                f"""UPDATE workflow_runs SET status = ?, reason = ?, error_id = ?, ended_at = {_NOW},
                duration_s = CASE WHEN answered_at IS NULL THEN 0
                    ELSE max(0, (julianday({_NOW}) - julianday(answered_at)) * 86400.0) END
                WHERE ended_at IS NULL""",
                (status, reason, error_id),
            )
        for row in rows:
            await self._ended(int(row[0]))
        return len(rows)

    async def active_count(self, org_id: int) -> int:
        return int(await self.db.fetch_value(
            "SELECT count(*) FROM workflow_runs WHERE organization_id = ? AND ended_at IS NULL", (org_id,)
        ))

    async def minutes_this_month(self, org_id: int) -> float:
        seconds = await self.db.fetch_value(
            """SELECT coalesce(sum(duration_s), 0) FROM workflow_runs
            WHERE organization_id = ? AND created_at >= strftime('%Y-%m-01T00:00:00Z', 'now')""",
            (org_id,),
        )
        return float(seconds) / 60.0

    async def add_event(
        self, run_id: int, kind: str, *, role: str | None = None, text: str | None = None,
        data: dict[str, Any] | None = None,
    ) -> None:
        await self.db.execute(
            "INSERT INTO run_events (run_id, kind, role, text, data) VALUES (?,?,?,?,?)",
            (run_id, kind, role, text, json.dumps(data or {})),
        )

    async def events(self, run_id: int) -> builtins.list[RunEvent]:  # `list` is a method here
        rows = await self.db.fetch_all("SELECT * FROM run_events WHERE run_id = ? ORDER BY id", (run_id,))
        return [RunEvent(r["id"], r["run_id"], r["at"], r["kind"], r["role"], r["text"], json.loads(r["data"]))
                for r in rows]
