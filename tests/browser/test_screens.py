"""Screenshots of the main pages at a laptop and a phone width, into /tmp/shots/ (for people to
look at), with the checks a person would make first: nothing sticks out sideways, the controls
are on screen and big enough to tap."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser.ui import (
    LAPTOP, PHONE, Server, add_number, assert_fits_width, assert_htmx_hygiene, create_config, create_workflow,
    unique, workflow_id,
)

pytestmark = pytest.mark.browser

SHOTS = Path("/tmp/shots")


@pytest.fixture
def seeded(page: Page, server: Server) -> dict[str, int]:
    """A configuration with a few numbers, made once per server."""
    if "seeded" not in server.states:
        front = workflow_id(page, server.url, "Front desk")
        sales = create_workflow(page, server.url, "Sales assistant", "Hi! You reached the sales team of Acme Telecom.")
        config_id = create_config(
            page, server.url, name="Main office PBX", stasis_app_name=unique("mainoffice"),
            ari_endpoint_url="https://asterisk-main.office.example.com:8089",
            from_extensions="PJSIP/6001, PJSIP/6002", websocket_client_name="switchboard-media",
        )
        create_config(page, server.url, name="Warehouse", stasis_app_name=unique("warehouse"),
                      ari_endpoint_url="http://10.20.0.5:8088")
        add_number(page, server.url, config_id, "8000", front, "Reception")
        add_number(page, server.url, config_id, "8001", sales, "Sales line, second floor")
        add_number(page, server.url, config_id, "+4930123456789", None, "")
        server.states["seeded"] = {"config": config_id, "workflow": sales}
    return dict(server.states["seeded"])


PAGES = {
    "list": "/telephony-configurations",
    "detail": "/telephony-configurations/{config}",
    "workflows": "/workflows",
    "workflow": "/workflows/{workflow}",
    "calls": "/calls",
}


@pytest.mark.parametrize("size", ["laptop", "phone"])
def test_screenshots(new_page: Callable[..., Page], server: Server, seeded: dict[str, int], size: str) -> None:
    SHOTS.mkdir(exist_ok=True)
    viewport = LAPTOP if size == "laptop" else PHONE
    page = new_page(server, viewport=viewport)
    for name, path in PAGES.items():
        page.goto(path.format(**seeded))
        expect(page.locator("main h1").first).to_be_visible()
        assert_htmx_hygiene(page)
        assert_fits_width(page)
        page.screenshot(path=str(SHOTS / f"{size}-{name}.png"), full_page=True)

    # The edit form in place of the summary, with an error showing.
    page.goto(PAGES["detail"].format(**seeded))
    page.locator("#config-summary").get_by_role("link", name="Edit").click()
    page.fill("#f-ari_endpoint_url", "asterisk-main")
    page.get_by_role("button", name="Save Configuration").click()
    expect(page.locator("#e-ari_endpoint_url")).to_be_visible()
    assert_fits_width(page)
    page.screenshot(path=str(SHOTS / f"{size}-detail-edit.png"), full_page=True)

    # A phone-number row being edited.
    page.goto(PAGES["detail"].format(**seeded))
    page.locator("#number-rows > tr", has_text="8001").get_by_role("link", name="Edit").click()
    expect(page.locator("#number-rows > tr.editing")).to_be_visible()
    assert_fits_width(page)
    page.locator("#phone-numbers").screenshot(path=str(SHOTS / f"{size}-number-edit.png"))

    if size == "phone":
        # Every button and link in the main area is comfortably tappable.
        page.goto(PAGES["detail"].format(**seeded))
        small = page.evaluate("""() => [...document.querySelectorAll('main a, main button, main select, main input')]
            .filter(e => e.offsetParent !== null)
            .map(e => [e.textContent.trim() || e.name || e.id, e.getBoundingClientRect().height])
            .filter(([, h]) => h < 20)""")
        assert small == [], small


def test_login_screens(new_page: Callable[..., Page], server: Server) -> None:
    SHOTS.mkdir(exist_ok=True)
    for size, viewport in (("laptop", LAPTOP), ("phone", PHONE)):
        page = new_page(server, logged_in=False, viewport=viewport)
        page.goto("/login")
        assert_fits_width(page)
        page.screenshot(path=str(SHOTS / f"{size}-login.png"), full_page=True)
