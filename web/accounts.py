"""Creating organisations, admins and API keys: shared by the setup page and the CLI."""
from __future__ import annotations

import asyncio
import re

from agent.samples import sample_workflows
from data.models import User
from data.store import Store
from web.auth import MIN_PASSWORD_LENGTH, hash_password, new_api_key

EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,255}\Z")


async def create_organization(
    store: Store, org_name: str, email: str, password: str, *, first_only: bool = False
) -> User:
    """Create an organisation with its first admin and the sample workflows.

    Raises ValueError({field: message}) on bad input, data.errors.Conflict on a taken email.
    """
    errors: dict[str, str] = {}
    org_name, email = org_name.strip(), email.strip()
    if not org_name or len(org_name) > 100:
        errors["org"] = "enter an organisation name of at most 100 characters"
    if not EMAIL_RE.match(email):
        errors["email"] = "enter a valid email address"
    if len(password) < MIN_PASSWORD_LENGTH or len(password) > 1024:
        errors["password"] = f"use at least {MIN_PASSWORD_LENGTH} characters"
    if errors:
        raise ValueError(errors)
    password_hash = await asyncio.to_thread(hash_password, password)  # ~0.1 s of CPU: off the event loop
    org, user = await store.accounts.create_organization_with_admin(org_name, email, password_hash,
                                                                   first_only=first_only)
    for name, definition in sample_workflows():
        await store.workflows.create(org.id, name, definition)
    return user


async def create_api_key(store: Store, email: str, label: str = "") -> str:
    found = await store.accounts.user_with_hash(email)
    if found is None:
        raise LookupError(f"no user with email {email}")
    key, prefix, key_hash = new_api_key()
    await store.accounts.add_api_key(found[0].id, prefix, key_hash, label)
    return key
