"""Phone numbers on a configuration's page with htmx: add with a workflow, validation, inline edit,
delete a row."""
from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.browser.ui import (
    Server, assert_htmx_hygiene, assert_same_document, create_config, create_workflow, mark_page, unique,
)

pytestmark = pytest.mark.browser


def _post(page: Page, click: str) -> int:
    with page.expect_response(lambda r: r.request.method in ("POST", "DELETE")) as posted:
        page.locator(click).click()
    return posted.value.status


def test_add_edit_and_delete_phone_numbers_inline(page: Page, server: Server) -> None:
    config_id = create_config(page, server.url, name="Numbers PBX", stasis_app_name=unique("num"))
    other_workflow = unique("Sales ")
    create_workflow(page, server.url, other_workflow)
    page.goto(f"/telephony-configurations/{config_id}")
    mark_page(page)
    rows = page.locator("#number-rows > tr[id]")
    expect(rows).to_have_count(0)
    expect(page.locator("#number-rows .empty-row")).to_be_visible()

    # Add 8000 answered by the sample workflow created at setup.
    page.fill("#f-address-new", "8000")
    page.fill("#f-label-new", "Reception")
    page.select_option("#f-inbound_workflow_id-new", label="Front desk")
    assert _post(page, "#number-form button[type=submit]") == 200
    expect(rows).to_have_count(1)
    expect(page.locator("#number-rows .empty-row")).to_be_hidden()
    row = rows.first
    expect(row).to_contain_text("8000")
    expect(row).to_contain_text("Reception")
    expect(row.get_by_role("link", name="Front desk")).to_be_visible()
    expect(page.locator("#f-address-new")).to_have_value("")  # a fresh form for the next one
    number_id = int((row.get_attribute("id") or "").removeprefix("number-"))

    # Bad and duplicate extensions are refused beside the field.
    page.fill("#f-address-new", "80 00")
    assert _post(page, "#number-form button[type=submit]") == 422
    expect(page.locator("#e-address-new")).to_contain_text("SIP extension")
    expect(page.locator("#f-address-new")).to_have_attribute("aria-invalid", "true")
    page.fill("#f-address-new", "8000")
    assert _post(page, "#number-form button[type=submit]") == 422
    expect(page.locator("#e-address-new")).to_contain_text("already registered")
    expect(rows).to_have_count(1)

    # A second number without a workflow is flagged.
    page.fill("#f-address-new", "8001")
    page.select_option("#f-inbound_workflow_id-new", value="")
    assert _post(page, "#number-form button[type=submit]") == 200
    expect(rows).to_have_count(2)
    expect(rows.nth(1)).to_contain_text("calls are hung up")
    assert_htmx_hygiene(page)

    # Edit in place: cancel once, then change label and workflow.
    edit_row = page.locator(f"#number-{number_id}")
    edit_row.get_by_role("link", name="Edit").click()
    expect(edit_row).to_have_class("editing")
    expect(page.locator(f"#f-address-{number_id}")).to_have_value("8000")
    assert_htmx_hygiene(page)
    edit_row.get_by_role("link", name="Cancel").click()
    expect(edit_row).not_to_have_class("editing")
    expect(edit_row).to_contain_text("Reception")

    edit_row.get_by_role("link", name="Edit").click()
    page.fill(f"#f-address-{number_id}", "")
    assert _post(page, f"#number-{number_id} button[type=submit]") == 422
    expect(page.locator(f"#e-address-{number_id}")).to_be_visible()
    page.fill(f"#f-address-{number_id}", "8000")
    page.fill(f"#f-label-{number_id}", "Front office")
    page.select_option(f"#f-inbound_workflow_id-{number_id}", label=other_workflow)
    assert _post(page, f"#number-{number_id} button[type=submit]") == 200
    expect(edit_row).not_to_have_class("editing")
    expect(edit_row).to_contain_text("Front office")
    expect(edit_row.get_by_role("link", name=other_workflow)).to_be_visible()
    assert_same_document(page)

    # Delete a row after the confirm dialog (dismissing it keeps the row).
    page.once("dialog", lambda dialog: dialog.dismiss())
    edit_row.get_by_role("button", name="Delete").click()
    expect(rows).to_have_count(2)
    messages: list[str] = []
    page.once("dialog", lambda dialog: (messages.append(dialog.message), dialog.accept()))
    assert _post(page, f"#number-{number_id} button:has-text('Delete')") == 200
    expect(edit_row).to_have_count(0)
    expect(rows).to_have_count(1)
    assert "8000" in messages[0]
    assert_same_document(page)

    page.reload()
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("8001")


def test_stale_rows_and_expired_sessions_say_what_happened(page: Page, server: Server) -> None:
    config_id = create_config(page, server.url, name="Stale PBX", stasis_app_name=unique("stale"))
    page.goto(f"/telephony-configurations/{config_id}")
    page.fill("#f-address-new", "9100")
    assert _post(page, "#number-form button[type=submit]") == 200
    row = page.locator("#number-rows > tr", has_text="9100")
    number_id = int((row.get_attribute("id") or "").removeprefix("number-"))
    expect(page.locator("#flash")).to_be_hidden()

    # Deleted in another tab: Edit on the stale row explains instead of doing nothing.
    gone = page.request.delete(f"{server.url}/telephony-configurations/{config_id}/phone-numbers/{number_id}",
                               headers={"Origin": server.url})
    assert gone.status == 200
    row.get_by_role("link", name="Edit").click()
    expect(page.locator("#flash")).to_be_visible()
    expect(page.locator("#flash")).to_contain_text("does not exist")
    page.locator("#flash").get_by_role("button", name="Dismiss").click()
    expect(page.locator("#flash")).to_be_hidden()

    # Logged out meanwhile: an htmx request lands on the login page.
    page.context.clear_cookies()
    page.fill("#f-address-new", "9101")
    page.locator("#number-form button[type=submit]").click()
    expect(page).to_have_url(server.url + "/login")
