"""An organisation's allowed hosts for requests to its own systems (tools, pre-call lookups,
webhooks). The entries are validated by `agent.hosts.HostPolicy.parse` before they are stored."""
from __future__ import annotations

import json
from collections.abc import Sequence

from data.db import Database
from data.models import OutboundSetting


class OutboundSettings:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def get(self, org_id: int) -> OutboundSetting:
        """The setting (the default, public hosts only, for an unknown organisation)."""
        row = await self.db.fetch_one(
            "SELECT outbound_allowed_hosts, outbound_only_listed FROM organizations WHERE id = ?", (org_id,))
        if row is None:
            return OutboundSetting()
        try:
            entries = json.loads(row["outbound_allowed_hosts"])
        except json.JSONDecodeError:
            entries = []
        hosts = tuple(e for e in entries if isinstance(e, str)) if isinstance(entries, list) else ()
        return OutboundSetting(hosts, bool(row["outbound_only_listed"]))

    async def set(self, org_id: int, allowed_hosts: Sequence[str], only_listed: bool) -> None:
        await self.db.execute(
            "UPDATE organizations SET outbound_allowed_hosts = ?, outbound_only_listed = ? WHERE id = ?",
            (json.dumps(list(allowed_hosts)), int(only_listed), org_id))
