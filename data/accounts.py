"""Organisations, users and API keys."""
from __future__ import annotations

from data.db import Database, Row
from data.errors import Conflict
from data.models import Organization, User


def _org(row: Row) -> Organization:
    return Organization(row["id"], row["name"], row["max_concurrent_calls"], row["monthly_minutes"],
                        row["recording_retention_days"])


def _user(row: Row) -> User:
    return User(row["id"], row["organization_id"], row["email"], bool(row["is_admin"]))


class Accounts:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def user_count(self) -> int:
        return int(await self.db.fetch_value("SELECT count(*) FROM users"))

    async def create_organization_with_admin(
        self, org_name: str, email: str, password_hash: str, *, first_only: bool = False
    ) -> tuple[Organization, User]:
        """`first_only`: the one-time setup page; refused (Conflict) once any user exists, checked
        inside the write transaction so two simultaneous setups cannot both succeed."""
        async with self.db.transaction() as tx:
            if first_only and await tx.fetch_one("SELECT 1 FROM users LIMIT 1"):
                raise Conflict("email", "setup is already done: log in instead")
            if await tx.fetch_one("SELECT 1 FROM users WHERE email = ?", (email,)):
                raise Conflict("email", "a user with this email already exists")
            org_id = await tx.execute("INSERT INTO organizations (name) VALUES (?)", (org_name,))
            user_id = await tx.execute(
                "INSERT INTO users (organization_id, email, password_hash, is_admin) VALUES (?,?,?,1)",
                (org_id, email, password_hash),
            )
        org = await self.organization(int(org_id or 0))
        user = await self.user(int(user_id or 0))
        assert org is not None and user is not None
        return org, user

    async def organization(self, org_id: int) -> Organization | None:
        row = await self.db.fetch_one("SELECT * FROM organizations WHERE id = ?", (org_id,))
        return None if row is None else _org(row)

    async def organizations(self) -> list[Organization]:
        return [_org(r) for r in await self.db.fetch_all("SELECT * FROM organizations ORDER BY id")]

    async def set_limits(self, org_id: int, max_concurrent_calls: int, monthly_minutes: int | None) -> None:
        await self.db.execute(
            "UPDATE organizations SET max_concurrent_calls = ?, monthly_minutes = ? WHERE id = ?",
            (max_concurrent_calls, monthly_minutes, org_id),
        )

    async def set_recording_retention(self, org_id: int, days: int | None) -> None:
        await self.db.execute("UPDATE organizations SET recording_retention_days = ? WHERE id = ?", (days, org_id))

    async def first_organization_id(self) -> int | None:
        """The organisation made at set-up: its admins operate the server (backups)."""
        value = await self.db.fetch_value("SELECT min(id) FROM organizations")
        return None if value is None else int(value)

    async def user(self, user_id: int) -> User | None:
        row = await self.db.fetch_one("SELECT * FROM users WHERE id = ?", (user_id,))
        return None if row is None else _user(row)

    async def user_with_hash(self, email: str) -> tuple[User, str] | None:
        row = await self.db.fetch_one("SELECT * FROM users WHERE email = ?", (email,))
        return None if row is None else (_user(row), row["password_hash"])

    async def add_api_key(self, user_id: int, prefix: str, key_hash: str, label: str = "") -> int:
        key_id = await self.db.execute(
            "INSERT INTO api_keys (user_id, prefix, key_hash, label) VALUES (?,?,?,?)",
            (user_id, prefix, key_hash, label),
        )
        return int(key_id or 0)

    async def api_key(self, prefix: str) -> tuple[User, str] | None:
        row = await self.db.fetch_one(
            "SELECT u.*, k.key_hash FROM api_keys k JOIN users u ON u.id = k.user_id WHERE k.prefix = ?",
            (prefix,),
        )
        return None if row is None else (_user(row), row["key_hash"])
