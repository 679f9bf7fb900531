"""The repositories over one open database, built once at start-up and kept on app state."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from data.accounts import Accounts
from data.configs import Configs
from data.db import Database
from data.numbers import PhoneNumbers
from data.outbound import OutboundSettings
from data.runs import Runs
from data.secretbox import SecretBox
from data.webhooks import WebhookDeliveries
from data.workflows import Workflows


@dataclass(frozen=True)
class Store:
    db: Database
    box: SecretBox
    accounts: Accounts
    configs: Configs
    numbers: PhoneNumbers
    workflows: Workflows
    runs: Runs
    webhooks: WebhookDeliveries
    outbound: OutboundSettings

    @classmethod
    async def open(cls, path: Path, secret_key: str | None = None) -> Store:
        box = SecretBox.load(path.parent, secret_key)  # first: a refused key leaves no connection open
        db = await Database.open(path)
        return cls(db, box, Accounts(db), Configs(db, box), PhoneNumbers(db), Workflows(db), Runs(db),
                   WebhookDeliveries(db, box), OutboundSettings(db))

    async def close(self) -> None:
        await self.db.close()
