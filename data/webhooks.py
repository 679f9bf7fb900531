"""The post-call webhook delivery log: one delivery per (finished call, target), its attempts.

`enqueue` stores the exact body and the target's secret (encrypted; cleared once the delivery
is final; an empty secret is stored as none, and the worker then gives the delivery up as
webhook-secret-unreadable rather than send it unsigned). The delivery worker
(`agent.webhook_worker`, through its `DeliveryStore` protocol, which this class satisfies) asks
`due(now)`, sends, and calls `record_attempt`. Times are passed in as unix seconds (the worker's
clock) and stored as UTC text. Reads for pages and the API are scoped to the organisation;
`due`/`next_due_at` serve the one worker of the process, across organisations.
"""
from __future__ import annotations

import builtins
import datetime

from data.db import Database, Row
from data.errors import Conflict
from data.models import DueDelivery, WebhookAttempt, WebhookDelivery
from data.secretbox import SecretBox

_COLUMNS = """id, organization_id, run_id, workflow_id, event, url, body, status, attempts, next_attempt_at,
last_status_code, last_error_id, created_at, updated_at"""


def utc_text(unix: float) -> str:
    """2026-03-05T10:00:00.000Z, the schema's time format."""
    moment = datetime.datetime.fromtimestamp(unix, datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def unix_seconds(text: str) -> float:
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _delivery(row: Row) -> WebhookDelivery:
    return WebhookDelivery(row["id"], row["organization_id"], row["run_id"], row["workflow_id"], row["event"],
                           row["url"], row["body"], row["status"], row["attempts"], row["next_attempt_at"],
                           row["last_status_code"], row["last_error_id"], row["created_at"], row["updated_at"])


class WebhookDeliveries:
    def __init__(self, db: Database, box: SecretBox) -> None:
        self.db, self.box = db, box

    async def enqueue(self, *, org_id: int, run_id: int, url: str, secret: str, body: str, now: float,
                      workflow_id: int | None = None, event: str = "call.ended") -> int:
        """Queue a delivery of the organisation's run, due at once. Conflict when the run is not theirs."""
        at = utc_text(now)
        async with self.db.transaction() as tx:
            owned = await tx.fetch_one("SELECT 1 FROM workflow_runs WHERE id = ? AND organization_id = ?",
                                       (run_id, org_id))
            if owned is None:
                raise Conflict("run_id", "no such call in this organisation")
            delivery_id = await tx.execute(
                """INSERT INTO webhook_deliveries (organization_id, run_id, workflow_id, event, url, body, secret_enc,
                next_attempt_at, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?)""",
                (org_id, run_id, workflow_id, event, url, body, self.box.encrypt(secret) if secret else None, at, at,
                 at))
        return int(delivery_id or 0)

    async def due(self, now: float, limit: int = 10) -> list[DueDelivery]:
        rows = await self.db.fetch_all(
            """SELECT id, organization_id, run_id, url, body, secret_enc, attempts FROM webhook_deliveries
            WHERE status = 'pending' AND next_attempt_at <= ? ORDER BY next_attempt_at, id LIMIT ?""",
            (utc_text(now), limit))
        return [DueDelivery(r["id"], r["organization_id"], r["run_id"], r["url"], r["body"],
                            self._secret(r["secret_enc"]), r["attempts"]) for r in rows]

    def _secret(self, token: str | None) -> str | None:
        if not token:
            return None
        try:
            return self.box.decrypt(token)
        except ValueError:
            return None

    async def next_due_at(self) -> float | None:
        value = await self.db.fetch_value(
            "SELECT min(next_attempt_at) FROM webhook_deliveries WHERE status = 'pending'")
        return None if value is None else unix_seconds(value)

    async def record_attempt(self, delivery_id: int, *, at: float, status_code: int | None, error_id: str | None,
                             message: str, duration_ms: int, next_attempt_at: float | None,
                             delivered: bool) -> None:
        """Log an attempt and move the delivery on: delivered, due again at `next_attempt_at`, or failed."""
        status = "delivered" if delivered else ("pending" if next_attempt_at is not None else "failed")
        final = status != "pending"
        async with self.db.transaction() as tx:
            attempts = await tx.fetch_one("SELECT attempts FROM webhook_deliveries WHERE id = ?", (delivery_id,))
            if attempts is None:
                return  # deleted with its call meanwhile
            await tx.execute(
                """INSERT INTO webhook_attempts (delivery_id, attempt, at, status_code, error_id, message, duration_ms)
                VALUES (?,?,?,?,?,?,?)""",
                (delivery_id, attempts[0] + 1, utc_text(at), status_code, error_id, message[:500], duration_ms))
            await tx.execute(
                f"""UPDATE webhook_deliveries SET attempts = attempts + 1, status = ?, next_attempt_at = ?,
                last_status_code = ?, last_error_id = ?, updated_at = ?{", secret_enc = NULL" if final else ""}
                WHERE id = ?""",
                (status, None if final else utc_text(next_attempt_at or at), status_code, error_id, utc_text(at),
                 delivery_id))

    async def get(self, org_id: int, delivery_id: int) -> WebhookDelivery | None:
        row = await self.db.fetch_one(
            f"SELECT {_COLUMNS} FROM webhook_deliveries WHERE organization_id = ? AND id = ?", (org_id, delivery_id))
        return None if row is None else _delivery(row)

    async def list_for_run(self, org_id: int, run_id: int) -> builtins.list[WebhookDelivery]:
        rows = await self.db.fetch_all(
            f"SELECT {_COLUMNS} FROM webhook_deliveries WHERE organization_id = ? AND run_id = ? ORDER BY id",
            (org_id, run_id))
        return [_delivery(r) for r in rows]

    async def attempts(self, org_id: int, delivery_id: int) -> builtins.list[WebhookAttempt]:
        rows = await self.db.fetch_all(
            """SELECT a.* FROM webhook_attempts a JOIN webhook_deliveries d ON d.id = a.delivery_id
            WHERE d.organization_id = ? AND a.delivery_id = ? ORDER BY a.id""", (org_id, delivery_id))
        return [WebhookAttempt(r["id"], r["delivery_id"], r["attempt"], r["at"], r["status_code"], r["error_id"],
                               r["message"], r["duration_ms"]) for r in rows]
