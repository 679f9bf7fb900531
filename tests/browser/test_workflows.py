"""Workflows: create with inline validation, edit, delete; a workflow in use is not deleted."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser.ui import (
    Server, add_number, assert_htmx_hygiene, assert_same_document, create_config, create_workflow, mark_page,
    unique,
)

pytestmark = pytest.mark.browser


def _save(page: Page) -> int:
    with page.expect_response(lambda r: r.request.method == "POST") as posted:
        page.get_by_role("button", name="Save workflow").click()
    return posted.value.status


def test_create_edit_and_delete_a_workflow(page: Page, server: Server) -> None:
    name = unique("Night line ")
    page.goto("/workflows")
    expect(page.get_by_role("link", name="Front desk")).to_be_visible()
    assert_htmx_hygiene(page)
    page.get_by_role("link", name="New workflow").click()
    expect(page).to_have_url(server.url + "/workflows/new")
    assert_htmx_hygiene(page)
    mark_page(page)

    page.fill("#f-name", "")
    page.fill("#f-definition", '{"engine": "script", "barge_in": "yes"')
    assert _save(page) == 422
    expect(page.locator("#e-definition")).to_contain_text("not valid JSON")
    expect(page.locator("#e-name")).to_be_visible()
    page.fill("#f-definition", '{"engine": "script", "barge_in": "yes"}')
    page.fill("#f-name", name)
    assert _save(page) == 422
    expect(page.locator("#e-definition")).to_contain_text("barge_in")
    assert_same_document(page)

    page.fill("#f-greeting", "We are closed; leave a message.")
    page.fill("#f-definition", '{"engine": "script", "barge_in": false}')
    _save(page)
    page.wait_for_url("**/workflows/*?saved=1")
    expect(page.get_by_role("status")).to_have_text("Saved.")
    expect(page.locator("#workflow-form h1")).to_have_text(name)
    expect(page.locator("#f-definition")).to_have_value(re.compile('"barge_in": false'))

    # Edit in place (htmx): the form comes back with a Saved banner.
    mark_page(page)
    page.fill("#f-greeting", "Hello from the night line.")
    page.fill("#f-name", name + " v2")
    assert _save(page) == 200
    expect(page.locator("#workflow-form h1")).to_have_text(name + " v2")
    expect(page.get_by_role("status")).to_have_text("Saved.")
    assert_same_document(page)

    page.goto("/workflows")
    row = page.locator("#workflow-rows > tr", has_text=name + " v2")
    expect(row).to_contain_text("Hello from the night line.")
    page.once("dialog", lambda dialog: dialog.accept())
    with page.expect_response(lambda r: r.request.method == "DELETE") as deleted:
        row.get_by_role("button", name="Delete").click()
    assert deleted.value.status == 200
    expect(row).to_have_count(0)
    page.reload()
    expect(page.get_by_role("link", name=name + " v2")).to_have_count(0)


def test_a_workflow_in_use_is_not_deleted(page: Page, server: Server) -> None:
    name = unique("Busy ")
    workflow_id = create_workflow(page, server.url, name)
    config_id = create_config(page, server.url, name="In use PBX", stasis_app_name=unique("inuse"))
    add_number(page, server.url, config_id, "8123", workflow_id)
    add_number(page, server.url, config_id, "8124", workflow_id)

    page.goto("/workflows")
    row = page.locator(f"#workflow-{workflow_id}")
    expect(row).to_contain_text("8123")
    mark_page(page)
    page.once("dialog", lambda dialog: dialog.accept())
    with page.expect_response(lambda r: r.request.method == "DELETE") as refused:
        row.get_by_role("button", name="Delete").click()
    assert refused.value.status == 409
    alert = row.get_by_role("alert")
    expect(alert).to_contain_text(f"Cannot delete {name}")
    expect(alert).to_contain_text("8123")
    expect(alert).to_contain_text("8124")
    assert_same_document(page)
    page.reload()
    expect(page.locator(f"#workflow-{workflow_id}")).to_contain_text(name)

    # Its own page says which numbers it answers.
    page.goto(f"/workflows/{workflow_id}")
    expect(page.locator("#workflow-form")).to_contain_text("Answers 8123, 8124")
