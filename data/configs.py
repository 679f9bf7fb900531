"""Telephony configurations (one ARI connection each). Passwords are stored encrypted."""
from __future__ import annotations

import builtins
import json
import sqlite3
from dataclasses import dataclass

from data.db import Database, Row
from data.errors import Conflict
from data.models import TelephonyConfig
from data.secretbox import SecretBox

_DUPLICATE_APP = (
    "another configuration already uses this Stasis app on this ARI endpoint; Asterisk gives an app "
    "to the newest connection only, so two configurations would take calls from each other"
)


@dataclass(frozen=True)
class ConfigFields:
    """Validated values for a create or an update (`app_password=None` keeps the stored one)."""

    name: str
    ari_endpoint_url: str
    stasis_app_name: str
    ari_username: str | None
    app_password: str | None
    websocket_client_name: str
    from_extensions: tuple[str, ...]
    dial_template: str
    transfer_context: str
    enabled: bool


def _config(row: Row) -> TelephonyConfig:
    keys = row.keys()
    return TelephonyConfig(
        id=row["id"],
        organization_id=row["organization_id"],
        name=row["name"],
        ari_endpoint_url=row["ari_endpoint_url"],
        stasis_app_name=row["stasis_app_name"],
        ari_username=row["ari_username"],
        websocket_client_name=row["websocket_client_name"],
        from_extensions=tuple(json.loads(row["from_extensions"])),
        dial_template=row["dial_template"],
        transfer_context=row["transfer_context"],
        enabled=bool(row["enabled"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        phone_number_count=row["phone_number_count"] if "phone_number_count" in keys else 0,
    )


_SELECT = """
SELECT c.*, (SELECT count(*) FROM phone_numbers p WHERE p.telephony_configuration_id = c.id)
       AS phone_number_count
FROM telephony_configurations c
"""


class Configs:
    def __init__(self, db: Database, box: SecretBox) -> None:
        self.db = db
        self.box = box

    async def list(self, org_id: int) -> list[TelephonyConfig]:
        rows = await self.db.fetch_all(_SELECT + " WHERE c.organization_id = ? ORDER BY c.name, c.id", (org_id,))
        return [_config(r) for r in rows]

    async def get(self, org_id: int, config_id: int) -> TelephonyConfig | None:
        row = await self.db.fetch_one(_SELECT + " WHERE c.organization_id = ? AND c.id = ?", (org_id, config_id))
        return None if row is None else _config(row)

    async def get_any(self, config_id: int) -> TelephonyConfig | None:
        """System use only (ARI supervisor): not scoped to an organisation."""
        row = await self.db.fetch_one(_SELECT + " WHERE c.id = ?", (config_id,))
        return None if row is None else _config(row)

    async def all(self) -> builtins.list[TelephonyConfig]:  # `list` is a method here
        """System use only (ARI supervisor at start-up)."""
        return [_config(r) for r in await self.db.fetch_all(_SELECT + " ORDER BY c.id")]

    async def ari_password(self, config_id: int) -> str:
        token = await self.db.fetch_value(
            "SELECT app_password_enc FROM telephony_configurations WHERE id = ?", (config_id,)
        )
        return "" if token is None else self.box.decrypt(token)

    async def create(self, org_id: int, fields: ConfigFields) -> TelephonyConfig:
        try:
            async with self.db.transaction() as tx:
                config_id = await tx.execute(
                    """INSERT INTO telephony_configurations (organization_id, name, ari_endpoint_url,
                    stasis_app_name, ari_username, app_password_enc, websocket_client_name,
                    from_extensions, dial_template, transfer_context, enabled)
                    VALUES (?,?,?,?,?,?,?,?,?,?,?)""",
                    (org_id, fields.name, fields.ari_endpoint_url, fields.stasis_app_name,
                     fields.ari_username, self.box.encrypt(fields.app_password or ""),
                     fields.websocket_client_name, json.dumps(list(fields.from_extensions)),
                     fields.dial_template, fields.transfer_context, int(fields.enabled)),
                )
        except sqlite3.IntegrityError as exc:
            raise Conflict("stasis_app_name", _DUPLICATE_APP) from exc
        created = await self.get(org_id, int(config_id or 0))
        assert created is not None
        return created

    async def update(self, org_id: int, config_id: int, fields: ConfigFields) -> TelephonyConfig | None:
        try:
            async with self.db.transaction() as tx:
                changed = await tx.execute_rowcount(
                    """UPDATE telephony_configurations SET name=?, ari_endpoint_url=?, stasis_app_name=?,
                    ari_username=?, websocket_client_name=?, from_extensions=?, dial_template=?,
                    transfer_context=?, enabled=?, updated_at=strftime('%Y-%m-%dT%H:%M:%fZ','now')
                    WHERE organization_id = ? AND id = ?""",
                    (fields.name, fields.ari_endpoint_url, fields.stasis_app_name, fields.ari_username,
                     fields.websocket_client_name, json.dumps(list(fields.from_extensions)),
                     fields.dial_template, fields.transfer_context, int(fields.enabled), org_id, config_id),
                )
                if changed and fields.app_password is not None:
                    await tx.execute(
                        "UPDATE telephony_configurations SET app_password_enc = ? WHERE id = ?",
                        (self.box.encrypt(fields.app_password), config_id),
                    )
        except sqlite3.IntegrityError as exc:
            raise Conflict("stasis_app_name", _DUPLICATE_APP) from exc
        return await self.get(org_id, config_id) if changed else None

    async def delete(self, org_id: int, config_id: int) -> bool:
        async with self.db.transaction() as tx:
            return await tx.execute_rowcount(
                "DELETE FROM telephony_configurations WHERE organization_id = ? AND id = ?", (org_id, config_id)
            ) > 0
