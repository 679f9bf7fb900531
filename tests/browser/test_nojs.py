"""With JavaScript off every form still works: real action and method, full pages with the errors
inline (422), and a 303 redirect after each successful POST."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser.ui import Server, assert_secret_absent, create_workflow, stored_password, unique

pytestmark = pytest.mark.browser

PASSWORD = "no-js&#:%pass"


def _submit(page: Page, button: str) -> int:
    """Click a submit button; the status of the POST itself (a redirect is followed afterwards)."""
    with page.expect_response(lambda r: r.request.method == "POST") as posted:
        page.locator(button).click()
    page.wait_for_load_state()
    return posted.value.status


def test_configurations_and_numbers_without_javascript(nojs_page: Page, server: Server) -> None:
    page, app = nojs_page, unique("nojs")
    page.goto("/telephony-configurations")
    page.get_by_role("link", name="Add configuration").click()
    expect(page).to_have_url(server.url + "/telephony-configurations/new")

    page.fill("#f-name", "No script PBX")
    page.fill("#f-ari_endpoint_url", "http://")
    page.fill("#f-app_password", PASSWORD)
    page.fill("#f-websocket_client_name", "dograh")
    assert _submit(page, "#config-form button[type=submit]") == 422
    expect(page.locator("#e-ari_endpoint_url")).to_contain_text("host name")
    expect(page.locator("#e-stasis_app_name")).to_be_visible()
    expect(page.locator(".topbar nav")).to_be_visible()  # a full page, not a fragment
    expect(page.locator("#f-app_password")).to_have_value("")

    page.fill("#f-ari_endpoint_url", "https://pbx.example.com:8089")
    page.fill("#f-stasis_app_name", app)
    page.fill("#f-app_password", PASSWORD)
    page.uncheck("input[type=checkbox][name=enabled]")
    assert _submit(page, "#config-form button[type=submit]") == 303
    expect(page).to_have_url(re.compile(r"/telephony-configurations/\d+$"))
    config_id = int(page.url.rsplit("/", 1)[1])
    expect(page.locator("#config-summary")).to_contain_text(app)
    expect(page.locator("#snippet-http-conf")).to_contain_text("tlsenable = yes")
    expect(page.locator("#snippet-http-conf")).to_contain_text("tlsbindaddr = 0.0.0.0:8089")

    # Edit on its own page; the blank password keeps the stored one.
    page.locator("#config-summary").get_by_role("link", name="Edit").click()
    expect(page).to_have_url(server.url + f"/telephony-configurations/{config_id}/edit")
    page.fill("#f-name", "No script PBX (edited)")
    assert _submit(page, "#config-form button[type=submit]") == 303
    expect(page.locator("#config-summary h1")).to_have_text("No script PBX (edited)")
    assert stored_password(server.db, config_id) == PASSWORD

    # Phone numbers: add (a bad one first), edit, delete.
    page.fill("#f-address-new", "")
    assert _submit(page, "#number-form button[type=submit]") == 422
    expect(page.locator("#e-address-new")).to_be_visible()
    page.fill("#f-address-new", "7000")
    page.select_option("#f-inbound_workflow_id-new", label="Front desk")
    assert _submit(page, "#number-form button[type=submit]") == 303
    row = page.locator("#number-rows > tr", has_text="7000")
    expect(row).to_contain_text("Front desk")

    row.get_by_role("link", name="Edit").click()
    expect(page).to_have_url(re.compile(r"/phone-numbers/\d+/edit$"))
    page.fill("input[name=label]", "Lobby")
    assert _submit(page, "button[type=submit]:has-text('Save')") == 303
    expect(page.locator("#number-rows > tr", has_text="7000")).to_contain_text("Lobby")

    assert _submit(page, "#number-rows > tr:has-text('7000') button:has-text('Delete')") == 303
    expect(page.locator("#number-rows > tr[id]")).to_have_count(0)
    expect(page.locator("#number-rows .empty-row")).to_be_visible()

    base = f"/telephony-configurations/{config_id}"
    assert_secret_absent(page, server.url, PASSWORD, [base, base + "/edit", "/telephony-configurations"])

    # Delete the configuration from the list.
    page.goto("/telephony-configurations")
    assert _submit(page, f"#config-{config_id} button:has-text('Delete')") == 303
    expect(page).to_have_url(server.url + "/telephony-configurations")
    expect(page.locator(f"#config-{config_id}")).to_have_count(0)


def test_workflows_without_javascript(nojs_page: Page, server: Server) -> None:
    page, name = nojs_page, unique("Plain ")
    page.goto("/workflows/new")
    page.fill("#f-name", name)
    page.fill("#f-definition", "[1, 2]")
    assert _submit(page, "#workflow-form button.primary") == 422
    expect(page.locator("#e-definition")).to_contain_text("JSON object")
    expect(page.locator(".topbar nav")).to_be_visible()
    page.fill("#f-definition", "{}")
    assert _submit(page, "#workflow-form button.primary") == 303
    expect(page.get_by_role("status")).to_have_text("Saved.")
    page.fill("#f-greeting", "Edited without script.")
    assert _submit(page, "#workflow-form button.primary") == 303
    expect(page.locator("#f-greeting")).to_have_value("Edited without script.")

    page.goto("/workflows")
    assert _submit(page, f"#workflow-rows > tr:has-text('{name}') button:has-text('Delete')") == 303
    expect(page.get_by_role("link", name=name)).to_have_count(0)

    # In use: a clear refusal page naming the extension.
    busy = unique("Busy plain ")
    workflow_id = create_workflow(page, server.url, busy)
    page.goto("/telephony-configurations/new")
    page.fill("#f-name", "Refusal PBX")
    page.fill("#f-ari_endpoint_url", "http://refusal.example.com:8088")
    page.fill("#f-stasis_app_name", unique("refuse"))
    page.fill("#f-app_password", "whatever-1")
    page.fill("#f-websocket_client_name", "dograh")
    page.uncheck("input[type=checkbox][name=enabled]")
    _submit(page, "#config-form button[type=submit]")
    page.fill("#f-address-new", "8555")
    page.select_option("#f-inbound_workflow_id-new", label=busy)
    _submit(page, "#number-form button[type=submit]")
    page.goto("/workflows")
    assert _submit(page, f"#workflow-{workflow_id} button:has-text('Delete')") == 409
    expect(page.locator("main")).to_contain_text("8555")
    expect(page.get_by_role("heading", name="Conflict")).to_be_visible()
    expect(page.get_by_role("link", name="Back to workflows")).to_be_visible()
