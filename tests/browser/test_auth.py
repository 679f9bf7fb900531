"""First-run setup, login, logout: on a server of its own, because setup happens once."""
from __future__ import annotations

from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect

from tests.browser.ui import Server
from tests.browser.ui import assert_htmx_hygiene

pytestmark = pytest.mark.browser

EMAIL, PASSWORD = "owner@example.com", "a long enough password"


def test_setup_creates_the_first_admin_then_login_and_logout(
    start_server: Callable[..., Server], new_page: Callable[..., Page]
) -> None:
    server = start_server()
    page = new_page(server, logged_in=False)

    page.goto("/telephony-configurations")
    expect(page).to_have_url(server.url + "/setup")
    expect(page.get_by_role("heading", name="Welcome to Switchboard")).to_be_visible()
    assert_htmx_hygiene(page)

    # A bad submission comes back with the errors beside the fields, the other values kept.
    page.fill("#f-org", "Acme Telecom")
    page.fill("#f-email", EMAIL)
    page.fill("#f-password", "short")
    with page.expect_response(lambda r: r.request.method == "POST") as posted:
        page.click("button[type=submit]")
    assert posted.value.status == 422
    expect(page.locator("#e-password")).to_contain_text("at least 8 characters")
    expect(page.locator("#f-password")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#f-email")).to_have_value(EMAIL)

    page.fill("#f-password", PASSWORD)
    page.click("button[type=submit]")
    expect(page).to_have_url(server.url + "/telephony-configurations")
    expect(page.locator(".topbar")).to_contain_text(EMAIL)
    expect(page.get_by_role("heading", name="Telephony configurations")).to_be_visible()

    # The setup page is shown once.
    page.goto("/setup")
    expect(page).to_have_url(server.url + "/telephony-configurations")

    # Log out, then back in (a wrong password first).
    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(server.url + "/login")
    page.goto("/workflows")
    expect(page).to_have_url(server.url + "/login?next=/workflows")
    page.fill("#f-email", EMAIL)
    page.fill("#f-password", "not the password")
    page.click("button[type=submit]")
    expect(page.get_by_role("alert")).to_contain_text("Wrong email or password")
    expect(page.locator(".topbar nav")).to_have_count(0)
    page.fill("#f-password", PASSWORD)
    page.click("button[type=submit]")
    expect(page).to_have_url(server.url + "/workflows")
    expect(page.get_by_role("link", name="Front desk")).to_be_visible()  # the sample workflow from setup

    page.get_by_role("button", name="Log out").click()
    page.goto("/login")
    page.fill("#f-email", EMAIL)
    page.fill("#f-password", PASSWORD)
    page.click("button[type=submit]")
    expect(page).to_have_url(server.url + "/telephony-configurations")
