"""Phone numbers: SIP extensions of a configuration, each with an inbound workflow."""
from __future__ import annotations

import builtins
import sqlite3

from data.db import Database, Row
from data.errors import Conflict
from data.models import PhoneNumber

_SELECT = """
SELECT p.*, w.name AS inbound_workflow_name
FROM phone_numbers p LEFT JOIN workflows w ON w.id = p.inbound_workflow_id
"""


def _number(row: Row) -> PhoneNumber:
    return PhoneNumber(
        id=row["id"],
        organization_id=row["organization_id"],
        telephony_configuration_id=row["telephony_configuration_id"],
        address=row["address"],
        label=row["label"],
        inbound_workflow_id=row["inbound_workflow_id"],
        inbound_workflow_name=row["inbound_workflow_name"],
    )


def _refused(exc: sqlite3.IntegrityError, address: str) -> Conflict:
    if "UNIQUE" in str(exc):
        return Conflict("address", f"extension {address} is already registered on this configuration")
    # A foreign key: the workflow (or the configuration) was deleted meanwhile.
    return Conflict("inbound_workflow_id", "this workflow or configuration no longer exists")


class PhoneNumbers:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def list(self, org_id: int, config_id: int) -> list[PhoneNumber]:
        rows = await self.db.fetch_all(
            _SELECT + " WHERE p.organization_id = ? AND p.telephony_configuration_id = ? ORDER BY p.address",
            (org_id, config_id),
        )
        return [_number(r) for r in rows]

    async def get(self, org_id: int, config_id: int, number_id: int) -> PhoneNumber | None:
        row = await self.db.fetch_one(
            _SELECT + " WHERE p.organization_id = ? AND p.telephony_configuration_id = ? AND p.id = ?",
            (org_id, config_id, number_id),
        )
        return None if row is None else _number(row)

    async def find(self, config_id: int, address: str) -> PhoneNumber | None:
        """Inbound routing: the number `address` of configuration `config_id`."""
        row = await self.db.fetch_one(
            _SELECT + " WHERE p.telephony_configuration_id = ? AND p.address = ?", (config_id, address)
        )
        return None if row is None else _number(row)

    async def using_workflow(self, org_id: int, workflow_id: int) -> builtins.list[PhoneNumber]:
        rows = await self.db.fetch_all(
            _SELECT + " WHERE p.organization_id = ? AND p.inbound_workflow_id = ? ORDER BY p.address",
            (org_id, workflow_id),
        )
        return [_number(r) for r in rows]

    async def create(
        self, org_id: int, config_id: int, address: str, label: str, inbound_workflow_id: int | None
    ) -> PhoneNumber:
        try:
            number_id = await self.db.execute(
                """INSERT INTO phone_numbers (organization_id, telephony_configuration_id, address, label,
                inbound_workflow_id) VALUES (?,?,?,?,?)""",
                (org_id, config_id, address, label, inbound_workflow_id),
            )
        except sqlite3.IntegrityError as exc:
            raise _refused(exc, address) from exc
        created = await self.get(org_id, config_id, int(number_id or 0))
        assert created is not None
        return created

    async def update(
        self, org_id: int, config_id: int, number_id: int, address: str, label: str,
        inbound_workflow_id: int | None,
    ) -> PhoneNumber | None:
        try:
            async with self.db.transaction() as tx:
                changed = await tx.execute_rowcount(
                    """UPDATE phone_numbers SET address = ?, label = ?, inbound_workflow_id = ?
                    WHERE organization_id = ? AND telephony_configuration_id = ? AND id = ?""",
                    (address, label, inbound_workflow_id, org_id, config_id, number_id),
                )
        except sqlite3.IntegrityError as exc:
            raise _refused(exc, address) from exc
        return await self.get(org_id, config_id, number_id) if changed else None

    async def delete(self, org_id: int, config_id: int, number_id: int) -> bool:
        async with self.db.transaction() as tx:
            return await tx.execute_rowcount(
                "DELETE FROM phone_numbers WHERE organization_id = ? AND telephony_configuration_id = ? AND id = ?",
                (org_id, config_id, number_id),
            ) > 0
