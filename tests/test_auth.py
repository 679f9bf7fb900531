"""First-run setup, login/logout, the session cookie, CSRF, API keys, and the admin CLI."""
from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from app import create_app
from data.store import Store
from tests.conftest import BASE_URL, PASSWORD, Tenant, asgi_client, log_in
from web.csrf import csrf_verdict
from web.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
ClientFactory = Callable[..., httpx.AsyncClient]


def cookie_header(response: httpx.Response) -> str:
    cookies = [v for k, v in response.headers.multi_items() if k == "set-cookie" and "switchboard_session" in v]
    assert len(cookies) == 1, response.headers
    return cookies[0]


# Setup -----------------------------------------------------------------------------------------

async def test_first_start_shows_setup_then_only_once(clients: ClientFactory, store: Store) -> None:
    c = clients(headers={"Origin": BASE_URL})
    for url in ("/", "/telephony-configurations", "/workflows", "/login"):
        response = await c.get(url, follow_redirects=True)
        assert response.url.path == "/setup" and response.status_code == 200
    bad = await c.post("/setup", data={"org": "", "email": "nope", "password": "short"})
    assert bad.status_code == 422
    assert bad.text.count('aria-invalid="true"') == 3 and await store.accounts.user_count() == 0

    response = await c.post("/setup", data={"org": "Acme", "email": "boss@example.com", "password": PASSWORD})
    assert response.status_code == 303 and response.headers["location"] == "/telephony-configurations"
    cookie = cookie_header(response).lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "path=/" in cookie
    assert (await c.get("/telephony-configurations")).status_code == 200

    # Setup is one-time: later attempts go to the login page and create nothing.
    other = clients(headers={"Origin": BASE_URL})
    assert (await other.get("/setup")).headers["location"] == "/login"
    again = await other.post("/setup", data={"org": "Evil", "email": "evil@example.com", "password": PASSWORD})
    assert again.status_code == 303 and again.headers["location"] == "/login"
    assert await store.accounts.user_count() == 1
    assert await store.accounts.user_with_hash("evil@example.com") is None


async def test_password_is_stored_hashed(tenant: Tenant, store: Store) -> None:
    found = await store.accounts.user_with_hash(tenant.email)
    assert found is not None
    assert found[1].startswith("$argon2") and tenant.password not in found[1]
    raw = store.db.path.read_bytes() + store.db.path.with_name(store.db.path.name + "-wal").read_bytes()
    assert tenant.password.encode() not in raw and tenant.key.encode() not in raw


# Login and logout ------------------------------------------------------------------------------

async def test_login_and_logout(tenant: Tenant, clients: ClientFactory) -> None:
    c = clients(headers={"Origin": BASE_URL})
    response = await c.get("/workflows")
    assert response.status_code == 303 and response.headers["location"] == "/login?next=/workflows"
    htmx = await c.get("/workflows", headers={"HX-Request": "true"})
    assert htmx.status_code == 204 and htmx.headers["hx-redirect"] == "/login?next=/workflows"
    assert (await c.get("/login")).status_code == 200

    for email, password in ((tenant.email, "wrong password"), ("nobody@example.com", PASSWORD), ("", "")):
        refused = await c.post("/login", data={"email": email, "password": password})
        assert refused.status_code == 401 and "Wrong email or password" in refused.text
        assert "switchboard_session" not in c.cookies

    ok = await c.post("/login", data={"email": tenant.email.upper(), "password": PASSWORD, "next": "/workflows"})
    assert ok.status_code == 303 and ok.headers["location"] == "/workflows"
    cookie = cookie_header(ok).lower()
    assert "httponly" in cookie and "samesite=lax" in cookie
    assert (await c.get("/workflows")).status_code == 200
    assert (await c.get("/login")).headers["location"] == "/telephony-configurations"

    out = await c.post("/logout")
    assert out.status_code == 303 and out.headers["location"] == "/login"
    assert (await c.get("/workflows")).status_code == 303


async def test_repeated_failed_logins_are_throttled_per_email(tenant: Tenant, clients: ClientFactory) -> None:
    c = clients(headers={"Origin": BASE_URL})
    for _ in range(5):
        assert (await c.post("/login", data={"email": tenant.email, "password": "guess"})).status_code == 401
    blocked = await c.post("/login", data={"email": tenant.email.upper(), "password": PASSWORD})
    assert blocked.status_code == 429 and "Too many failed attempts" in blocked.text
    assert int(blocked.headers["retry-after"]) > 0 and "switchboard_session" not in c.cookies
    other = await c.post("/login", data={"email": "someone-else@example.com", "password": "guess"})
    assert other.status_code == 401  # one email's failures do not lock out another


def test_throttle_window_expires_and_success_clears_it() -> None:
    from web.throttle import LoginThrottle

    now = [0.0]
    throttle = LoginThrottle(limit=2, window_s=60, clock=lambda: now[0])
    throttle.failed("a@x")
    throttle.failed("A@x")
    assert throttle.retry_after("a@x") == 60
    now[0] = 61
    assert throttle.retry_after("a@x") == 0
    throttle.failed("a@x")
    throttle.succeeded("a@x")
    throttle.failed("a@x")
    assert throttle.retry_after("a@x") == 0


@pytest.mark.parametrize("target, expected", [
    ("/calls", "/calls"), ("//evil.example", "/telephony-configurations"),
    ("https://evil.example/", "/telephony-configurations"), ("/\\evil.example", "/telephony-configurations"),
    ("", "/telephony-configurations"),
])
async def test_login_next_stays_on_this_site(tenant: Tenant, clients: ClientFactory, target: str,
                                             expected: str) -> None:
    c = clients(headers={"Origin": BASE_URL})
    response = await c.post("/login", data={"email": tenant.email, "password": PASSWORD, "next": target})
    assert response.status_code == 303 and response.headers["location"] == expected


async def test_tampered_session_cookie_is_ignored(browser: httpx.AsyncClient, clients: ClientFactory) -> None:
    value = browser.cookies["switchboard_session"]
    forged = clients(cookies={"switchboard_session": value[:-3] + ("aaa" if not value.endswith("aaa") else "bbb")})
    assert (await forged.get("/workflows")).status_code == 303
    assert (await forged.get("/api/v1/workflows")).status_code == 401


# CSRF ------------------------------------------------------------------------------------------

async def test_cross_site_posts_are_refused(tenant: Tenant, browser: httpx.AsyncClient, store: Store,
                                            clients: ClientFactory) -> None:
    workflow = (await tenant.api.get("/api/v1/workflows")).json()["items"][0]
    url = f"/workflows/{workflow['id']}/delete"
    for headers in ({"Origin": "https://evil.example"}, {"Origin": "null"},
                    {"Origin": "http://testserver.evil.example"},
                    {"Sec-Fetch-Site": "cross-site"}, {"Sec-Fetch-Site": "same-site"},
                    {"Sec-Fetch-Site": "cross-site", "Origin": BASE_URL}):
        response = await browser.post(url, headers=headers)
        assert response.status_code == 403, headers
        assert response.json()["error"]["id"] == "csrf-failed"
        # ... also through the API with the session cookie, and with a key-less "Bearer" on a page.
        api = await browser.delete(f"/api/v1/workflows/{workflow['id']}", headers=headers)
        assert api.status_code == 403
    no_origin = clients(cookies=browser.cookies)
    assert (await no_origin.post(url)).status_code == 403
    assert (await no_origin.post(url, headers={"Authorization": "Bearer x"})).status_code == 403
    assert await store.workflows.get(tenant.org_id, workflow["id"]) is not None

    for headers in ({"Sec-Fetch-Site": "same-origin"}, {"Origin": BASE_URL}):
        created = await browser.post("/workflows", data={"name": "Mine", "greeting": "Hi"}, headers=headers)
        assert created.status_code == 303, created.text
    assert (await browser.post(url, headers={"Sec-Fetch-Site": "same-origin"})).status_code == 303
    assert await store.workflows.get(tenant.org_id, workflow["id"]) is None


async def test_login_form_is_csrf_protected(tenant: Tenant, clients: ClientFactory) -> None:
    evil = clients(headers={"Origin": "https://evil.example"})
    response = await evil.post("/login", data={"email": tenant.email, "password": PASSWORD})
    assert response.status_code == 403 and "switchboard_session" not in evil.cookies


async def test_bearer_requests_are_exempt(tenant: Tenant) -> None:
    response = await tenant.api.post("/api/v1/workflows", json={"name": "Via key"},
                                     headers={"Origin": "https://elsewhere.example"})
    assert response.status_code == 201


async def test_trusted_public_url_origin(tmp_path: Path) -> None:
    settings = Settings(db_path=tmp_path / "t.db", secret_key="k", public_url="https://pbx.example.org")
    app = create_app(settings, with_ari=False)
    async with app.router.lifespan_context(app), asgi_client(app) as c:
        # Behind a proxy the Host differs from the public origin; that origin is trusted.
        c.headers["Origin"] = "https://pbx.example.org"
        response = await c.post("/setup", data={"org": "A", "email": "a@example.com", "password": PASSWORD})
        assert response.status_code == 303


@pytest.mark.parametrize("method, path, headers, refused", [
    ("GET", "/workflows", {}, False),
    ("HEAD", "/workflows", {}, False),
    ("POST", "/workflows", {}, True),
    ("POST", "/workflows", {"origin": "http://testserver"}, False),
    ("POST", "/workflows", {"origin": "http://testserver:80"}, True),
    ("DELETE", "/workflows/1", {"sec-fetch-site": "same-origin"}, False),
    ("DELETE", "/workflows/1", {"sec-fetch-site": "none"}, False),
    ("PUT", "/workflows/1", {"sec-fetch-site": "same-site", "origin": "http://testserver"}, True),
    ("POST", "/workflows", {"authorization": "Bearer sb_x"}, True),  # Bearer exempts the API only
    ("POST", "/api/v1/workflows", {"authorization": "Bearer sb_x", "cookie": "s=1"}, False),
    ("POST", "/api/v1/workflows", {}, False),  # no cookie: no ambient authority, the API says 401
    ("POST", "/api/v1/workflows", {"cookie": "s=1"}, True),
    ("POST", "/api/v1/workflows", {"cookie": "s=1", "origin": "https://evil.example"}, True),
    ("PATCH", "/api/v1/workflows/1", {"cookie": "s=1", "origin": "http://testserver"}, False),
])
def test_csrf_verdict(method: str, path: str, headers: dict[str, str], refused: bool) -> None:
    scope = {"type": "http", "method": method, "path": path,
             "headers": [(b"host", b"testserver")] + [(k.encode(), v.encode()) for k, v in headers.items()]}
    assert (csrf_verdict(scope) is not None) == refused


# Command line ----------------------------------------------------------------------------------

def cli(db: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SWITCHBOARD_")}
    return subprocess.run([sys.executable, "app.py", "--db", str(db), *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)


async def test_cli_create_admin_and_api_key(tmp_path: Path) -> None:
    db = tmp_path / "cli" / "switchboard.db"
    made = cli(db, "create-admin", "--email", "ops@example.com", "--password", "pa ss&#:%word", "--org", "Ops")
    assert made.returncode == 0, made.stderr
    assert "ops@example.com" in made.stdout
    taken = cli(db, "create-admin", "--email", "OPS@example.com", "--password", "another password")
    assert taken.returncode != 0 and "already exists" in taken.stderr
    bad = cli(db, "create-admin", "--email", "not-an-email", "--password", "x")
    assert bad.returncode != 0 and "email" in bad.stderr and "password" in bad.stderr

    key_run = cli(db, "create-api-key", "--email", "ops@example.com")
    assert key_run.returncode == 0, key_run.stderr
    key = key_run.stdout.strip()
    assert key.startswith("sb_") and "\n" not in key
    unknown = cli(db, "create-api-key", "--email", "ghost@example.com")
    assert unknown.returncode != 0 and "ghost@example.com" in unknown.stderr

    app = create_app(Settings(db_path=db), with_ari=False)
    async with app.router.lifespan_context(app), asgi_client(app) as c:
        response = await c.get("/api/v1/workflows", headers={"Authorization": f"Bearer {key}"})
        assert response.status_code == 200 and response.json()["items"]
        c.headers["Origin"] = BASE_URL
        await log_in(c, "ops@example.com", "pa ss&#:%word")
    assert (db.parent / "secret.key").exists() and (db.parent / "secret.key").stat().st_mode & 0o077 == 0
