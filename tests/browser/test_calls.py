"""Calls in the browser, with real calls: the fake Asterisk runs as its own process and dials the
real server's media endpoint; the server runs its real voice agent.

- a live call appears in the list, is hung up from its row and ends there, without a reload;
- a call's page follows it live (transcript turns as they happen), then, once the caller hangs
  up, shows the ended call with its recording in an <audio> element that loads.
"""
from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.browser.ui import (
    PHONE, Server, add_number, assert_fits_width, assert_htmx_hygiene, assert_same_document, mark_page, post_form,
)
from tests.fixtures import CALLERS_DIR

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
APP, PASSWORD, WS_CLIENT = "opsline", "ops-Secret-1", "opsws"
GREETING = "Thanks for calling the operations line."


@dataclass
class Fake:
    url: str
    process: subprocess.Popen[bytes]

    def call(self, caller: str, exten: str) -> str:
        response = httpx.post(f"{self.url}/_fake/calls", json={"caller": caller, "exten": exten}, timeout=5)
        response.raise_for_status()
        return str(response.json()["channel_id"])

    def post(self, path: str, body: dict[str, Any] | None = None) -> None:
        httpx.post(f"{self.url}{path}", json=body or {}, timeout=5).raise_for_status()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(predicate: Any, what: str, timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@pytest.fixture(scope="module")
def fake(server: Server) -> Iterator[Fake]:
    port = _free_port()
    media = server.url.replace("http://", "ws://") + "/api/v1/telephony/ws/ari"
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.fake_asterisk", "--port", str(port), "--user", f"{APP}:{PASSWORD}",
         "--app", APP, "--ws-client", f"{WS_CLIENT}={media}"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        assert process.poll() is None, "the fake Asterisk exited"
        try:
            return httpx.get(f"{url}/_fake/state", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    try:
        _wait(up, "the fake Asterisk to listen")
        yield Fake(url, process)
    finally:
        process.terminate()
        process.wait(10)


@pytest.fixture(scope="module")
def line(fake: Fake, server: Server, chromium: Any) -> dict[str, int]:
    """A recording workflow on extension 8100 of a configuration connected to the fake."""
    from tests.browser.conftest import login_state

    context = chromium.new_context(storage_state=login_state(chromium, server), base_url=server.url)
    page = context.new_page()
    try:
        made = post_form(page, server.url, "/workflows", {
            "name": "Operations line", "greeting": GREETING,
            "definition": '{"recording": true, "no_input_reprompt_s": 60, "no_input_hangup_s": 120}'})
        assert made.status == 303, made.text()
        workflow_id = int(made.headers["location"].split("/workflows/")[1].split("?")[0])
        config = post_form(page, server.url, "/telephony-configurations", {
            "name": "Fake PBX", "ari_endpoint_url": fake.url, "stasis_app_name": APP, "app_password": PASSWORD,
            "websocket_client_name": WS_CLIENT, "enabled": "on"})
        assert config.status == 303, config.text()
        config_id = int(config.headers["location"].rstrip("/").rsplit("/", 1)[1])
        add_number(page, server.url, config_id, "8100", workflow_id)
        status = f"{server.url}/api/v1/telephony-configurations/{config_id}/status"
        _wait(lambda: page.request.get(status).json()["state"] == "connected", "the ARI link to connect")
    finally:
        context.close()
    return {"workflow_id": workflow_id, "config_id": config_id}


def test_a_live_call_appears_and_is_hung_up_without_a_reload(page: Page, fake: Fake, line: dict[str, int]) -> None:
    page.goto("/calls")
    assert_htmx_hygiene(page)
    mark_page(page)
    fake.call("+15550177", "8100")
    row = page.locator("#call-rows > tr", has_text="+15550177")
    expect(row).to_contain_text("in progress", timeout=15_000)
    expect(row).to_contain_text("Operations line")
    page.once("dialog", lambda dialog: dialog.accept())
    with page.expect_response(lambda r: r.request.method == "POST" and r.url.endswith("/hangup")) as posted:
        row.get_by_role("button", name="Hang up").click()
    assert posted.value.status == 204
    expect(row).to_contain_text("completed", timeout=10_000)
    expect(row).to_contain_text("hung up from the admin")
    expect(row.get_by_role("button", name="Hang up")).to_have_count(0)
    assert_same_document(page)


def test_a_call_page_follows_the_call_then_plays_its_recording(page: Page, fake: Fake, server: Server,
                                                               line: dict[str, int]) -> None:
    channel = fake.call("+15550188", "8100")
    page.goto("/calls")
    page.locator("#call-rows > tr", has_text="+15550188").get_by_role("link").first.click()
    expect(page.locator("#call-status")).to_have_text("in progress", timeout=15_000)
    assert_htmx_hygiene(page)
    mark_page(page)
    expect(page.locator("#call-live")).to_contain_text(channel)

    # The agent greets (its turn appears once spoken), the caller asks, the agent's STT hears it.
    agent_turn = page.locator("#timeline li", has_text=GREETING)
    expect(agent_turn).to_contain_text("Agent", timeout=20_000)
    fake.post(f"/_fake/calls/{channel}/say", {"audio_file": str(CALLERS_DIR / "01.ul")})
    expect(page.locator("#timeline li", has_text="opening hours")).to_contain_text("Caller", timeout=20_000)

    fake.post(f"/_fake/calls/{channel}/hangup", {"cause": 16})
    expect(page.locator("#call-status")).to_have_text("completed", timeout=10_000)
    expect(page.locator("#call-live")).to_contain_text("caller hung up")
    audio = page.locator("audio#recording")
    expect(audio).to_have_count(1)
    assert_same_document(page)

    # The recording loads in the browser: a WAV with a real duration, as long as the call.
    page.wait_for_function("""() => {
        const a = document.getElementById('recording');
        return a && a.readyState >= 1 && a.duration > 0 && isFinite(a.duration);
    }""", timeout=10_000)
    duration = page.evaluate("document.getElementById('recording').duration")
    assert duration > 2.0, duration
    played = page.evaluate("""async () => {
        const a = document.getElementById('recording');
        a.muted = true;
        try { await a.play(); } catch (e) { return e.name; }
        await new Promise(r => setTimeout(r, 300));
        a.pause();
        return a.currentTime > 0 ? 'played' : 'stalled';
    }""")
    assert played == "played"  # muted, so Chromium's autoplay policy lets a script start it
    href = page.locator("a[download]", has_text="Download WAV").get_attribute("href")
    download = page.request.get(href or "")
    assert download.status == 200 and download.body()[:4] == b"RIFF"
    assert download.headers["content-disposition"].startswith("attachment")


def test_calls_and_organisation_pages_fit_a_phone(new_page: Any, server: Server, line: dict[str, int]) -> None:
    page = new_page(server, viewport=PHONE)
    page.goto("/calls?direction=inbound")
    expect(page.locator("#call-rows > tr").first).to_be_visible()
    assert_htmx_hygiene(page)
    assert_fits_width(page)
    first = page.locator("#call-rows > tr a").first.get_attribute("href")
    page.goto(first or "/calls")
    expect(page.locator("#timeline")).to_be_visible()
    assert_htmx_hygiene(page)
    assert_fits_width(page)
    page.goto("/organization")
    expect(page.locator("#usage")).to_contain_text("Concurrent calls now")
    expect(page.get_by_role("link", name="Download database backup")).to_be_visible()
    assert_htmx_hygiene(page)
    assert_fits_width(page)

    # Limits: inline validation, then saved in place.
    page.fill("#f-max_concurrent_calls", "-3")
    with page.expect_response(lambda r: r.request.method == "POST") as posted:
        page.get_by_role("button", name="Save limits").click()
    assert posted.value.status == 422
    expect(page.locator("#e-max_concurrent_calls")).to_be_visible()
    page.fill("#f-max_concurrent_calls", "12")
    page.get_by_role("button", name="Save limits").click()
    expect(page.locator("#limits [role=status]")).to_have_text("Saved.")
    expect(page.locator("#calls-limit")).to_have_text("12", timeout=10_000)  # the usage block polls
