"""Shared fixtures: a real app on a temporary SQLite file, driven in process over httpx.

    settings       Settings with a tmp database and a fixed secret key
    app            the app with its lifespan running (database open, migrations applied)
    store          app_state(app).store
    clients        factory of more clients (closed at the end of the test)
    client         an anonymous client (no key, no session, no Origin)
    make_tenant    async factory: an organisation + admin + API key, with a Bearer client
    tenant, other  two organisations
    browser        a client logged in as `tenant` that sends Origin like a browser

Clients use `raise_app_exceptions=False`, so a crash shows up as a 500 response, not an exception.
Password hashing runs at argon2's minimum cost here (`cheap_password_hashing`).
"""
from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from passlib.context import CryptContext
from starlette.applications import Starlette

import web.auth
import web.views.auth
from app import create_app
from data.models import User
from data.store import Store
from web.accounts import create_api_key, create_organization
from web.settings import Settings
from web.state import app_state

BASE_URL = "http://testserver"
PASSWORD = "correct horse battery"
_emails = itertools.count(1)


@dataclass(frozen=True)
class Tenant:
    user: User
    email: str
    password: str
    key: str
    api: httpx.AsyncClient  # sends `Authorization: Bearer <key>`

    @property
    def org_id(self) -> int:
        return self.user.organization_id


def asgi_client(app: Starlette, **kwargs: object) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url=BASE_URL, **kwargs)  # type: ignore[arg-type]


@pytest.fixture(autouse=True)
def cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """The same scheme (argon2id) at its minimum cost: the production cost takes ~0.15 s a hash and
    the tests hash hundreds of times. The CLI tests run in subprocesses at the real cost."""
    cheap = CryptContext(schemes=["argon2"], argon2__memory_cost=64, argon2__rounds=1, argon2__parallelism=1)
    monkeypatch.setattr(web.auth, "_passwords", cheap)
    dummy = cheap.hash("switchboard-no-such-user")  # what an unknown email is verified against
    monkeypatch.setattr(web.auth, "DUMMY_HASH", dummy)
    monkeypatch.setattr(web.views.auth, "DUMMY_HASH", dummy)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(db_path=tmp_path / "data" / "switchboard.db", secret_key="test-secret-key")


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[Starlette]:
    application = create_app(settings, with_ari=False)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
def store(app: Starlette) -> Store:
    result: Store = app_state(app).store
    return result


@pytest.fixture
async def clients(app: Starlette) -> AsyncIterator[Callable[..., httpx.AsyncClient]]:
    """A factory of clients on `app`, all closed at the end of the test."""
    made: list[httpx.AsyncClient] = []

    def make(**kwargs: object) -> httpx.AsyncClient:
        made.append(asgi_client(app, **kwargs))
        return made[-1]

    yield make
    for c in made:
        await c.aclose()


@pytest.fixture
def client(clients: Callable[..., httpx.AsyncClient]) -> httpx.AsyncClient:
    return clients()


MakeTenant = Callable[..., Awaitable[Tenant]]


@pytest.fixture
def make_tenant(store: Store, clients: Callable[..., httpx.AsyncClient]) -> MakeTenant:
    async def make(org: str = "Org", email: str | None = None, password: str = PASSWORD) -> Tenant:
        email = email or f"admin{next(_emails)}@example.com"
        user = await create_organization(store, org, email, password)
        key = await create_api_key(store, email)
        api = clients(headers={"Authorization": f"Bearer {key}"})
        return Tenant(user, email, password, key, api)

    return make


@pytest.fixture
async def tenant(make_tenant: MakeTenant) -> Tenant:
    return await make_tenant("Org A")


@pytest.fixture
async def other(make_tenant: MakeTenant) -> Tenant:
    return await make_tenant("Org B")


async def log_in(client: httpx.AsyncClient, email: str, password: str) -> None:
    response = await client.post("/login", data={"email": email, "password": password, "next": "/"})
    assert response.status_code == 303, response.text
    assert "switchboard_session" in client.cookies


@pytest.fixture
async def browser(tenant: Tenant, clients: Callable[..., httpx.AsyncClient]) -> httpx.AsyncClient:
    c = clients(headers={"Origin": BASE_URL})
    await log_in(c, tenant.email, tenant.password)
    return c
