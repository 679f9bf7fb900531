"""The first-admin claim on a server others can reach: a one-time setup token, printed in the log,
required by /setup; loopback servers keep the plain first-visit set-up (`web.setup_token`)."""
from __future__ import annotations

import asyncio
import logging
import os
import re
import socket
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from app import create_app
from tests.conftest import BASE_URL, PASSWORD, asgi_client
from web.logs import fields_of
from web.settings import Settings
from web.setup_token import SetupGate, is_loopback, setup_url
from web.state import app_state

ROOT = Path(__file__).resolve().parents[1]
ADMIN = {"org": "Acme", "email": "admin@example.com", "password": PASSWORD}


@pytest.mark.parametrize("host, loopback", [
    ("127.0.0.1", True), ("127.8.9.10", True), ("::1", True), ("[::1]", True), ("localhost", True),
    ("LOCALHOST", True), ("0.0.0.0", False), ("::", False), ("", False), ("192.168.1.20", False),
    ("2001:db8::1", False), ("pbx.example.com", False),
])
def test_loopback_addresses(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_a_reachable_server_without_users_needs_its_token_once() -> None:
    gate = SetupGate.for_server("0.0.0.0", has_users=False)
    assert gate.required and gate.token is not None and len(gate.token) >= 32
    token = gate.token
    assert not gate.admits("") and not gate.admits(token + "x") and not gate.admits(token[:-1])
    assert not gate.admits("é" * 32)  # any text is compared, none raises
    assert gate.admits(token)
    gate.spend()
    assert not gate.admits(token) and not gate.admits("")
    assert SetupGate.for_server("0.0.0.0", has_users=False).token != token  # a new one each start


def test_loopback_servers_and_servers_with_users_need_no_token() -> None:
    for gate in (SetupGate.for_server("127.0.0.1", has_users=False), SetupGate.for_server("0.0.0.0", has_users=True)):
        assert not gate.required and gate.token is None and gate.admits("")


@pytest.mark.parametrize("host, public_url, expected", [
    ("0.0.0.0", "", "http://localhost:8000/setup?token=T"),
    ("::", "", "http://localhost:8000/setup?token=T"),
    ("192.168.1.20", "", "http://192.168.1.20:8000/setup?token=T"),
    ("2001:db8::1", "", "http://[2001:db8::1]:8000/setup?token=T"),
    ("0.0.0.0", "https://sb.example.org/base/", "https://sb.example.org/base/setup?token=T"),
])
def test_setup_url(host: str, public_url: str, expected: str) -> None:
    assert setup_url(Settings(host=host, port=8000, public_url=public_url), "/setup", "T") == expected


@asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[Starlette]:
    app = create_app(settings, with_ari=False)
    async with app.router.lifespan_context(app):
        yield app


SETUP_URL = re.compile(r"(\S+)/setup\?token=([\w-]+) ")


def setup_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "/setup?token=" in r.getMessage()]


def logged_token(caplog: pytest.LogCaptureFixture) -> str | None:
    """The token of the one setup line in the log, if there is one."""
    lines = setup_lines(caplog)
    assert len(lines) <= 1
    if not lines:
        return None
    match = SETUP_URL.search(lines[0])
    assert match is not None and match.group(1).endswith("http://localhost:8000"), lines[0]
    assert fields_of(lines[0])["error_id"] == "setup-token-required"
    return match.group(2)


async def test_claiming_a_server_on_all_interfaces_needs_the_logged_token(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="switchboard")
    settings = Settings(host="0.0.0.0", port=8000, db_path=tmp_path / "sb.db", secret_key="k")
    async with running(settings) as app, asgi_client(app, headers={"Origin": BASE_URL}) as c:
        token = logged_token(caplog)
        assert token is not None
        store = app_state(app).store

        form = await c.get("/setup")
        assert form.status_code == 200 and 'name="token"' in form.text and token not in form.text
        linked = await c.get("/setup", params={"token": token})
        assert f'type="hidden" name="token" value="{token}"' in linked.text

        missing = await c.post("/setup", data=ADMIN)
        wrong = await c.post("/setup", data=ADMIN | {"token": token[::-1]})
        for refused in (missing, wrong):
            assert refused.status_code == 403 and "one-time setup token" in refused.text
            assert 'aria-invalid="true"' in refused.text and PASSWORD not in refused.text
        assert "enter the setup token" in missing.text and "not the setup token" in wrong.text
        assert await store.accounts.user_count() == 0 and "switchboard_session" not in c.cookies

        invalid = await c.post("/setup", data=ADMIN | {"token": token, "email": "nope"})
        assert invalid.status_code == 422 and f'name="token" value="{token}"' in invalid.text

        claimed = await c.post("/setup", data=ADMIN | {"token": token})
        assert claimed.status_code == 303 and claimed.headers["location"] == "/telephony-configurations"
        assert (await c.get("/workflows")).status_code == 200  # logged in as the new admin

        async with asgi_client(app, headers={"Origin": BASE_URL}) as late:
            again = await late.post("/setup", data=ADMIN | {"token": token, "email": "second@example.com"})
            assert again.status_code == 303 and again.headers["location"] == "/login"
        assert await store.accounts.user_count() == 1
        assert not app_state(app).setup_gate.admits(token)

    caplog.clear()
    async with running(settings):  # restarted with its administrator: no token any more
        assert logged_token(caplog) is None


async def test_a_loopback_server_is_claimed_without_a_token(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="switchboard")
    async with running(Settings(db_path=tmp_path / "sb.db", secret_key="k")) as app, \
            asgi_client(app, headers={"Origin": BASE_URL}) as c:
        assert logged_token(caplog) is None
        assert 'name="token"' not in (await c.get("/setup")).text
        response = await c.post("/setup", data=ADMIN)
        assert response.status_code == 303 and response.headers["location"] == "/telephony-configurations"


async def test_the_token_line_names_the_public_url(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="switchboard")
    settings = Settings(host="0.0.0.0", db_path=tmp_path / "sb.db", secret_key="k",
                        public_url="https://sb.example.org")
    async with running(settings) as app:
        [line] = setup_lines(caplog)
        token = app_state(app).setup_gate.token
        assert f" https://sb.example.org/setup?token={token} " in line and "listens on 0.0.0.0" in line


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def read_until(stream: asyncio.StreamReader, needle: str, timeout: float) -> list[str]:
    """Lines of `stream` up to and including the first that holds `needle`."""
    lines: list[str] = []
    async with asyncio.timeout(timeout):
        while not lines or needle not in lines[-1]:
            line = await stream.readline()
            if not line:
                raise AssertionError("the server exited:\n" + "".join(lines))
            lines.append(line.decode(errors="replace"))
    return lines


async def test_python_app_py_on_all_interfaces_logs_the_setup_url(tmp_path: Path) -> None:
    """What `docker logs switchboard` shows: the real server (`python app.py --host 0.0.0.0`)."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SWITCHBOARD_")}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "app.py", "--host", "0.0.0.0", "--port", str(port), "--db", str(tmp_path / "sb.db"),
        cwd=ROOT, env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    assert proc.stderr is not None
    try:
        lines = await read_until(proc.stderr, "Application startup complete", 120)
        [line] = [line for line in lines if "/setup?token=" in line]
        match = SETUP_URL.search(line)
        assert match is not None and match.group(1).endswith(f"http://localhost:{port}"), line
        server = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(base_url=server, headers={"Origin": server}) as c:
            refused = await c.post("/setup", data=ADMIN | {"token": "guess"})
            assert refused.status_code == 403
            claimed = await c.post("/setup", data=ADMIN | {"token": match.group(2)})
            assert claimed.status_code == 303 and claimed.headers["location"] == "/telephony-configurations"
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), 30)
