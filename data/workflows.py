"""Workflows: a name and a JSON definition (validated by the agent package before it gets here)."""
from __future__ import annotations

import json
import sqlite3
from typing import Any

from data.db import Database, Row
from data.errors import Conflict
from data.models import Workflow


def _workflow(row: Row) -> Workflow:
    return Workflow(
        id=row["id"],
        organization_id=row["organization_id"],
        name=row["name"],
        definition=json.loads(row["definition"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


class Workflows:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def list(self, org_id: int) -> list[Workflow]:
        rows = await self.db.fetch_all(
            "SELECT * FROM workflows WHERE organization_id = ? ORDER BY name, id", (org_id,)
        )
        return [_workflow(r) for r in rows]

    async def get(self, org_id: int, workflow_id: int) -> Workflow | None:
        row = await self.db.fetch_one(
            "SELECT * FROM workflows WHERE organization_id = ? AND id = ?", (org_id, workflow_id)
        )
        return None if row is None else _workflow(row)

    async def create(self, org_id: int, name: str, definition: dict[str, Any]) -> Workflow:
        workflow_id = await self.db.execute(
            "INSERT INTO workflows (organization_id, name, definition) VALUES (?,?,?)",
            (org_id, name, json.dumps(definition)),
        )
        created = await self.get(org_id, int(workflow_id or 0))
        assert created is not None
        return created

    async def update(
        self, org_id: int, workflow_id: int, name: str, definition: dict[str, Any]
    ) -> Workflow | None:
        async with self.db.transaction() as tx:
            changed = await tx.execute_rowcount(
                """UPDATE workflows SET name = ?, definition = ?,
                updated_at = strftime('%Y-%m-%dT%H:%M:%fZ','now') WHERE organization_id = ? AND id = ?""",
                (name, json.dumps(definition), org_id, workflow_id),
            )
        return await self.get(org_id, workflow_id) if changed else None

    async def delete(self, org_id: int, workflow_id: int) -> bool:
        """Delete; raises Conflict naming the phone numbers that still use it."""
        async with self.db.transaction() as tx:
            users = await tx.fetch_all(
                "SELECT address FROM phone_numbers WHERE organization_id = ? AND inbound_workflow_id = ? "
                "ORDER BY address",
                (org_id, workflow_id),
            )
            if users:
                addresses = ", ".join(r["address"] for r in users)
                raise Conflict(
                    "workflow", f"this workflow answers phone numbers {addresses}: assign them another "
                    "workflow first"
                )
            try:
                return await tx.execute_rowcount(
                    "DELETE FROM workflows WHERE organization_id = ? AND id = ?", (org_id, workflow_id)
                ) > 0
            except sqlite3.IntegrityError as exc:
                raise Conflict("workflow", "this workflow is still in use") from exc
