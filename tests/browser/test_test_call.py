"""The "Test call" dialog: a real `python app.py` dialling a fake Asterisk subprocess (driven through
its `/_fake/...` control surface); live progress without reload, errors inline, and the same
without JavaScript (form POST, self-refreshing result page)."""
from __future__ import annotations

import re
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

from tests.browser.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, ROOT
from tests.browser.ui import Server, assert_htmx_hygiene, assert_same_document, mark_page, unique

pytestmark = pytest.mark.browser

ARI_PASSWORD = "fake&ari:pw"


@dataclass
class Pbx:
    url: str  # the fake Asterisk (ARI and /_fake control surface)
    config_id: int
    config_name: str
    workflow_id: int
    workflow_name: str

    def control(self, path: str, body: dict[str, Any] | None = None) -> Any:
        response = httpx.post(f"{self.url}/_fake/{path}", json=body or {}, timeout=5)
        assert response.status_code in (200, 204), response.text
        return response.json() if response.content else None

    def outbound(self, pattern: str, behavior: str, **options: Any) -> None:
        self.control("outbound", {"pattern": pattern, "behavior": behavior, **options})

    def state(self) -> dict[str, Any]:
        return dict(httpx.get(f"{self.url}/_fake/state", timeout=5).json())


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(predicate: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        time.sleep(0.05)


def _logged_in(server: Server) -> httpx.Client:
    client = httpx.Client(base_url=server.url, headers={"Origin": server.url}, timeout=10)
    response = client.post("/login", data={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
    assert response.status_code == 303, response.text
    return client


@pytest.fixture(scope="module")
def pbx(server: Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pbx]:
    """The fake Asterisk as a process, and an enabled configuration connected to it."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    media = server.url.replace("http://", "ws://") + "/api/v1/telephony/ws/ari"
    log = tmp_path_factory.mktemp("fake") / "fake.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.fake_asterisk", "--port", str(port), "--user", f"dograh:{ARI_PASSWORD}",
             "--ws-client", f"dograh={media}", "--reconnect-attempts", "2", "--reconnect-interval", "0.1"],
            cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
        )
    try:
        _wait(lambda: process.poll() is not None or _answers(url + "/_fake/state"), 15, "the fake did not start")
        assert process.poll() is None, Path(log).read_text()
        client = _logged_in(server)
        try:
            config_name, workflow_name = unique("Lab PBX "), unique("Caller test ")
            created = client.post("/telephony-configurations", data={
                "name": config_name, "ari_endpoint_url": url, "stasis_app_name": "dograh",
                "app_password": ARI_PASSWORD, "websocket_client_name": "dograh",
                "from_extensions": "PJSIP/6001, PJSIP/6002", "enabled": "on"})
            assert created.status_code == 303, created.text
            config_id = int(created.headers["location"].rstrip("/").rsplit("/", 1)[1])
            made = client.post("/workflows", data={"name": workflow_name, "greeting": "Hello from the lab.",
                                                   "definition": "{}"})
            assert made.status_code == 303, made.text
            workflow_id = int(re.search(r"/workflows/(\d+)", made.headers["location"]).group(1))  # type: ignore[union-attr]
            _wait(lambda: client.get(f"/api/v1/telephony-configurations/{config_id}/status").json()["state"]
                  == "connected", 10, "the configuration did not connect to the fake")
        finally:
            client.close()
        yield Pbx(url, config_id, config_name, workflow_id, workflow_name)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.TransportError:
        return False


def _step(page: Page, step: str) -> Any:
    return page.locator(f"#test-call-steps [data-step={step}]")


def _run_id(page: Page) -> int:
    href = page.locator("#test-call-progress").get_by_role("link", name="Call details").get_attribute("href")
    return int(str(href).rsplit("/", 1)[1])


def _nothing_left(pbx: Pbx) -> None:
    _wait(lambda: not (s := pbx.state())["channels"] and not s["bridges"], 5, "channels or bridges left")


def test_test_call_from_the_configuration_page_shows_ringing_answered_ended(page: Page, server: Server,
                                                                           pbx: Pbx) -> None:
    pbx.outbound("6101", "answer", ringing_s=2.5)
    page.goto(f"/telephony-configurations/{pbx.config_id}")
    mark_page(page)
    page.get_by_role("link", name="Test call").click()
    dialog = page.locator("#test-call-dialog")
    expect(dialog).to_be_visible()
    assert_htmx_hygiene(page)
    expect(page.locator("#f-tc-config")).to_have_value(str(pbx.config_id))
    page.select_option("#f-tc-from", "PJSIP/6002")
    page.select_option("#f-tc-workflow", str(pbx.workflow_id))

    page.fill("#f-tc-to", "61 01")  # refused inline, nothing dialled
    with page.expect_response(lambda r: r.request.method == "POST") as posted:
        page.click("#test-call-submit")
    assert posted.value.status == 422
    expect(page.locator("#e-tc-to")).to_contain_text("not a number or extension")
    expect(page.locator("#test-call-error")).to_contain_text("invalid-destination")

    page.fill("#f-tc-to", "6101")
    page.click("#test-call-submit")
    expect(_step(page, "ringing")).to_have_attribute("data-state", "current")
    expect(page.locator("#test-call-status")).to_have_text("ringing")
    expect(page.locator("#test-call-cancel")).to_have_text("Cancel call")
    expect(_step(page, "answered")).to_have_attribute("data-state", "current", timeout=8_000)
    expect(_step(page, "ringing")).to_have_attribute("data-state", "done")
    expect(page.locator("#test-call-status")).to_have_text("in_progress")
    expect(page.locator("#test-call-cancel")).to_have_text("Hang up")

    run = page.request.get(f"/api/v1/workflow-runs/{_run_id(page)}").json()
    assert (run["caller_number"], run["called_number"], run["direction"]) == ("6002", "6101", "outbound")
    pbx.control(f"calls/{run['call_id']}/hangup", {"cause": 16})  # the callee hangs up
    expect(_step(page, "ended")).to_have_attribute("data-state", "done")
    expect(_step(page, "ended")).to_contain_text("Ended: completed")
    expect(page.locator("#test-call-reason")).to_contain_text("the called party hung up")
    expect(page.locator("#test-call-cancel")).to_have_count(0)
    assert_same_document(page)
    assert_htmx_hygiene(page)
    _nothing_left(pbx)


def test_test_call_from_the_workflow_page_busy_and_cancel(page: Page, server: Server, pbx: Pbx) -> None:
    pbx.outbound("6103", "busy", ringing_s=0.5)
    pbx.outbound("6104", "noanswer")
    page.goto(f"/workflows/{pbx.workflow_id}")
    mark_page(page)
    page.get_by_role("link", name="Test call").click()
    expect(page.locator("#test-call-dialog")).to_be_visible()
    expect(page.locator("#f-tc-workflow")).to_have_value(str(pbx.workflow_id))
    page.select_option("#f-tc-config", str(pbx.config_id))
    page.fill("#f-tc-to", "6103")
    page.click("#test-call-submit")
    expect(_step(page, "ended")).to_contain_text("Ended: busy")
    expect(_step(page, "answered")).to_have_attribute("data-state", "skipped")
    expect(page.locator("#test-call-status")).to_have_text("busy")

    page.locator("#test-call-dialog").get_by_role("button", name="Close").click()
    expect(page.locator("#test-call-dialog")).to_have_count(0)
    page.get_by_role("link", name="Test call").click()
    page.select_option("#f-tc-config", str(pbx.config_id))
    page.fill("#f-tc-to", "6104")
    page.click("#test-call-submit")
    expect(_step(page, "ringing")).to_have_attribute("data-state", "current")
    page.click("#test-call-cancel")
    expect(page.locator("#test-call-status")).to_have_text("canceled")
    expect(_step(page, "ended")).to_contain_text("Ended: canceled")
    assert_same_document(page)
    _nothing_left(pbx)


def test_test_call_without_javascript(nojs_page: Page, server: Server, pbx: Pbx) -> None:
    page = nojs_page
    pbx.outbound("6105", "busy", ringing_s=0.3)
    page.goto(f"/telephony-configurations/{pbx.config_id}")
    page.get_by_role("link", name="Test call").click()
    expect(page).to_have_url(re.compile(r"/test-call\?telephony_configuration_id=\d+$"))
    expect(page.locator(".topbar nav")).to_be_visible()  # a full page
    page.select_option("#f-tc-workflow", str(pbx.workflow_id))
    page.fill("#f-tc-to", "6105,1")
    with page.expect_response(lambda r: r.request.method == "POST") as posted:
        page.click("#test-call-submit")
    assert posted.value.status == 422
    expect(page.locator("#e-tc-to")).to_be_visible()
    page.fill("#f-tc-to", "6105")
    with page.expect_response(lambda r: r.request.method == "POST") as posted:
        page.click("#test-call-submit")
    assert posted.value.status == 303
    expect(page).to_have_url(re.compile(r"/test-call/\d+$"))
    # the result page refreshes itself while the call is live
    expect(page.locator("#test-call-status")).to_have_text("busy", timeout=8_000)
    expect(_step(page, "ended")).to_contain_text("Ended: busy")
    expect(page.get_by_role("link", name="Call again")).to_be_visible()
    _nothing_left(pbx)
