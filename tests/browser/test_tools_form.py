"""The workflow page's tools, lookup and webhooks (rows of fields): add and remove rows without
leaving the page, inline errors, write-only secrets; and the same without JavaScript."""
from __future__ import annotations

import json
import sqlite3

import pytest
from playwright.sync_api import Page, expect

from data.secretbox import SecretBox
from tests.browser.ui import (
    SECRET_KEY,
    Server,
    assert_htmx_hygiene,
    assert_same_document,
    assert_secret_absent,
    create_workflow,
    mark_page,
    unique,
)

pytestmark = pytest.mark.browser
TOKEN = "Bearer tool-browser-9Hq4"


def _post(page: Page, button: str) -> int:
    with page.expect_response(lambda r: r.request.method == "POST") as posted:
        page.locator(button).click()
    return posted.value.status


def _row(page: Page, index: int = 0) -> tuple[str, str]:
    """(the key of the tool row, its field id prefix)."""
    key = page.locator(".tool-row").nth(index).get_attribute("data-key")
    assert key
    return key, f"#f-tool-{key}-"


def _stored_tools(server: Server, workflow_id: int) -> list[dict[str, object]]:
    with sqlite3.connect(f"file:{server.db}?mode=ro", uri=True) as conn:
        (stored,) = conn.execute("SELECT definition FROM workflows WHERE id = ?", (workflow_id,)).fetchone()
    tools: list[dict[str, object]] = json.loads(stored).get("tools", [])
    return tools


def test_add_fill_fix_and_remove_tools_on_the_page(page: Page, server: Server) -> None:
    workflow_id = create_workflow(page, server.url, unique("Bookings "))
    page.goto(f"/workflows/{workflow_id}")
    assert_htmx_hygiene(page)
    mark_page(page)
    expect(page.locator(".tool-row")).to_have_count(0)
    assert _post(page, "#add-tool") == 200
    expect(page.locator(".tool-row")).to_have_count(1)
    key, field = _row(page)
    page.fill(field + "name", "book_table")
    page.fill(field + "description", "Book a table for the caller")
    page.select_option(field + "method", "POST")
    page.fill(field + "url", "ftp://crm.example.com/book")
    page.fill(field + "parameters", '{"type": "object", "properties": {"party": {"type": "integer"}}}')
    page.fill(field + "secret_headers", f"Authorization: {TOKEN}")
    assert _post(page, "#add-tool") == 200  # a second row: what was typed in the first stays
    expect(page.locator(".tool-row")).to_have_count(2)
    expect(page.locator(field + "name")).to_have_value("book_table")
    second, _ = _row(page, 1)
    assert _post(page, f"#tool-{second} .remove-row") == 200
    expect(page.locator(".tool-row")).to_have_count(1)
    assert_same_document(page)

    assert _post(page, "#workflow-form button.primary") == 422
    expect(page.locator(f"#e-tool-{key}-url")).to_contain_text("must be an http:// or https:// URL")
    expect(page.locator(field + "url")).to_have_attribute("aria-invalid", "true")
    expect(page.locator(field + "name")).to_have_value("book_table")  # the rest is kept
    page.fill(field + "url", "https://crm.example.com/book?caller={{caller_number}}")
    page.fill(field + "secret_headers", f"Authorization: {TOKEN}")  # typed secrets are never shown back
    assert _post(page, "#workflow-form button.primary") == 200
    expect(page.get_by_role("status")).to_have_text("Saved.")
    assert_same_document(page)
    assert_htmx_hygiene(page)

    page.reload()
    expect(page.locator(".tool-row")).to_have_count(1)
    key, field = _row(page)
    expect(page.locator(field + "name")).to_have_value("book_table")
    expect(page.locator(field + "secret_headers")).to_have_value("Authorization: ********")
    assert_secret_absent(page, server.url, TOKEN, [f"/workflows/{workflow_id}", f"/workflows/{workflow_id}/export"])
    [tool] = _stored_tools(server, workflow_id)
    [header] = tool["headers"]  # type: ignore[misc]
    assert SecretBox(SECRET_KEY.encode()).decrypt(header["value"]) == TOKEN

    page.locator(field + "name").press("Enter")  # Enter saves; it never removes the row
    expect(page.get_by_role("status")).to_have_text("Saved.")
    expect(page.locator(".tool-row")).to_have_count(1)
    assert SecretBox(SECRET_KEY.encode()).decrypt(_stored_tools(server, workflow_id)[0]["headers"][0]["value"]) \
        == TOKEN  # type: ignore[index]


def test_a_webhook_secret_is_shown_once(page: Page, server: Server) -> None:
    workflow_id = create_workflow(page, server.url, unique("Hooks "))
    page.goto(f"/workflows/{workflow_id}")
    assert _post(page, "#add-webhook") == 200
    key = page.locator(".webhook-row").first.get_attribute("data-key")
    page.fill(f"#f-webhook-{key}-url", "https://crm.example.com/hooks/calls")
    assert _post(page, "#workflow-form button.primary") == 200
    secret = page.locator("#new-secrets code.secret").inner_text()
    assert secret.startswith("whsec_")
    page.reload()
    expect(page.locator("#new-secrets")).to_have_count(0)
    assert_secret_absent(page, server.url, secret, [f"/workflows/{workflow_id}"])


def test_tool_rows_without_javascript(nojs_page: Page, server: Server) -> None:
    page = nojs_page
    workflow_id = create_workflow(page, server.url, unique("No script tools "))
    page.goto(f"/workflows/{workflow_id}")
    assert _post(page, "#add-tool") == 200
    page.wait_for_load_state()
    expect(page.locator(".tool-row")).to_have_count(1)
    expect(page.get_by_role("status")).to_contain_text("Not saved yet")
    key, field = _row(page)
    page.fill(field + "name", "lookup_order")
    page.fill(field + "description", "Find an order")
    page.fill(field + "url", "https://crm.example.com/orders/{{order}}")
    assert _post(page, "#workflow-form button.primary") == 303
    page.wait_for_load_state()
    expect(page.get_by_role("status")).to_have_text("Saved.")
    key, field = _row(page)
    assert _post(page, f"#tool-{key} .remove-row") == 200
    page.wait_for_load_state()
    expect(page.locator(".tool-row")).to_have_count(0)
    assert _post(page, "#workflow-form button.primary") == 303
    page.wait_for_load_state()
    assert _stored_tools(server, workflow_id) == []
