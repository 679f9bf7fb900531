"""Browser tests: a real `python app.py` subprocess on a free port, driven by Debian chromium
through playwright's sync API (plain test functions, so they coexist with pytest-asyncio's auto
mode; playwright lives in a package-scoped fixture and is gone before other tests run).

    server          a server whose first admin exists (created through /setup), shared by the package
    https_server    the same with `--public-url https://…`, for the wss:// snippets
    start_server    factory for a fresh server (the setup-page test wants an empty database)
    page            a logged-in page at laptop size (1280×800) on `server`
    nojs_page       the same with JavaScript disabled (the full-page fallbacks)

Every page records 5xx responses and JavaScript errors and fails its test on them; every server
fails its last test when its log holds a traceback.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, expect, sync_playwright

from tests.browser.ui import LAPTOP, SECRET_KEY, Server

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]
ADMIN_EMAIL = "admin@example.com"
ADMIN_PASSWORD = "correct horse battery"
STARTUP_TIMEOUT_S = 30.0

expect.set_options(timeout=5_000)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _launch(directory: Path, extra: list[str]) -> Server:
    directory.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    db, log = directory / "sb.db", directory / "server.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SWITCHBOARD_")}
    env["SWITCHBOARD_SECRET_KEY"] = SECRET_KEY
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "app.py", "--port", str(port), "--db", str(db), *extra],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
        )
    server = Server(url, db, log, process)
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    with httpx.Client(timeout=1.0) as client:
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"the server exited with {process.returncode}:\n{server.log_text()}")
            try:
                if client.get(url + "/healthz").status_code == 200:
                    return server
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                _stop(server)
                raise RuntimeError(f"the server did not answer /healthz in {STARTUP_TIMEOUT_S}s:\n{server.log_text()}")
            time.sleep(0.05)


def _stop(server: Server) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait(timeout=10)


def assert_clean_log(server: Server) -> None:
    """No request crashed: no 500 in the access log, no unhandled-error record."""
    text = server.log_text()
    crashes = [line for line in text.splitlines() if '" 500' in line or "error_id=internal" in line]
    assert not crashes, text[-6000:]


@pytest.fixture(scope="package")
def start_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., Server]]:
    started: list[Server] = []

    def start(*extra: str) -> Server:
        started.append(_launch(tmp_path_factory.mktemp("server"), list(extra)))
        return started[-1]

    yield start
    for server in started:
        _stop(server)


def create_first_admin(server: Server) -> None:
    """Through the setup form, as a browser would post it (Origin for the CSRF check)."""
    with httpx.Client(base_url=server.url, headers={"Origin": server.url}) as client:
        response = client.post("/setup", data={"org": "Acme", "email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
        assert response.status_code == 303, response.text


@pytest.fixture(scope="package")
def server(start_server: Callable[..., Server]) -> Iterator[Server]:
    started = start_server()
    create_first_admin(started)
    yield started
    assert_clean_log(started)


@pytest.fixture(scope="package")
def https_server(start_server: Callable[..., Server]) -> Iterator[Server]:
    started = start_server("--public-url", "https://switchboard.example.com/pbx")
    create_first_admin(started)
    yield started
    assert_clean_log(started)


@pytest.fixture(scope="package")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="package")
def chromium(playwright: Playwright) -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing: apt-get install -y chromium")
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield browser
    browser.close()


def login_state(chromium: Browser, server: Server) -> Any:
    """A logged-in storage state per server, made once through the login form."""
    if "auth" not in server.states:
        context = chromium.new_context(viewport=LAPTOP)
        page = context.new_page()
        page.goto(server.url + "/login")
        page.fill("#f-email", ADMIN_EMAIL)
        page.fill("#f-password", ADMIN_PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url("**/telephony-configurations")
        server.states["auth"] = context.storage_state()
        context.close()
    return server.states["auth"]


@dataclass
class Watch:
    """What went wrong on a page: server errors and JavaScript exceptions."""
    server_errors: list[str] = field(default_factory=list)
    js_errors: list[str] = field(default_factory=list)

    def attach(self, page: Page) -> None:
        page.on("response", lambda r: self.server_errors.append(f"{r.status} {r.request.method} {r.url}")
                if r.status >= 500 else None)
        page.on("pageerror", lambda e: self.js_errors.append(str(e)))

    def check(self) -> None:
        assert not self.server_errors, self.server_errors
        assert not self.js_errors, self.js_errors


@pytest.fixture
def new_page(chromium: Browser) -> Iterator[Callable[..., Page]]:
    """Factory: new_page(server, logged_in=True, javascript=True, viewport=LAPTOP)."""
    contexts: list[BrowserContext] = []
    watch = Watch()

    def make(server: Server, *, logged_in: bool = True, javascript: bool = True,
             viewport: dict[str, int] = LAPTOP) -> Page:
        context = chromium.new_context(
            viewport=viewport, java_script_enabled=javascript, base_url=server.url,
            storage_state=login_state(chromium, server) if logged_in else None,
        )
        context.set_default_timeout(10_000)
        contexts.append(context)
        page = context.new_page()
        watch.attach(page)
        return page

    yield make
    for context in contexts:
        context.close()
    watch.check()


@pytest.fixture
def page(new_page: Callable[..., Page], server: Server) -> Page:
    return new_page(server)


@pytest.fixture
def nojs_page(new_page: Callable[..., Page], server: Server) -> Page:
    return new_page(server, javascript=False)
