"""Workflows: create and edit (common fields + JSON) with inline validation, write-only API keys, export
and import, delete; a workflow in use is not deleted."""
from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from data.secretbox import SecretBox
from tests.browser.ui import (
    SECRET_KEY, Server, add_number, assert_htmx_hygiene, assert_same_document, assert_secret_absent, create_config,
    create_workflow, mark_page, unique,
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
    expect(page.get_by_label("LLM")).to_be_hidden()  # the script engine needs no endpoint
    mark_page(page)

    page.fill("#f-name", "")
    page.fill("#f-definition", '{"script": {"states": {}}')
    assert _save(page) == 422
    expect(page.locator("#e-definition")).to_contain_text("not valid JSON")
    expect(page.locator("#e-name")).to_be_visible()
    page.fill("#f-definition", '{"barge_in": "yes"}')
    page.fill("#f-name", name)
    assert _save(page) == 422
    expect(page.locator("#e-definition")).to_contain_text("barge_in: set this with the fields above")
    assert_same_document(page)

    page.fill("#f-greeting", "We are closed; leave a message.")
    page.fill("#f-definition", "{}")
    page.get_by_label("Barge-in").uncheck()
    _save(page)
    page.wait_for_url("**/workflows/*?saved=1")
    expect(page.get_by_role("status")).to_have_text("Saved.")
    expect(page.locator("#workflow-form h1")).to_have_text(name)
    expect(page.get_by_label("Barge-in")).not_to_be_checked()
    assert_htmx_hygiene(page)

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


def test_edit_the_common_fields_with_an_inline_error(page: Page, server: Server) -> None:
    name = unique("Timing ")
    workflow_id = create_workflow(page, server.url, name)
    page.goto(f"/workflows/{workflow_id}")
    mark_page(page)
    page.get_by_label("End-of-speech silence (ms)").fill("50")
    page.get_by_label("Language").fill("en-GB")
    page.get_by_label("Record calls").check()
    assert _save(page) == 422
    field = page.get_by_label("End-of-speech silence (ms)")
    expect(field).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#e-end_of_speech_ms")).to_have_text("must be between 100 and 5000")
    expect(page.get_by_label("Language")).to_have_value("en-GB")  # what was typed is kept
    expect(page.get_by_label("Record calls")).to_be_checked()
    field.fill("800")
    assert _save(page) == 200
    expect(page.get_by_role("status")).to_have_text("Saved.")
    expect(page.get_by_label("End-of-speech silence (ms)")).not_to_have_attribute("aria-invalid", "true")
    assert_same_document(page)
    page.reload()
    expect(page.get_by_label("End-of-speech silence (ms)")).to_have_value("800")
    expect(page.get_by_label("Language")).to_have_value("en-GB")
    expect(page.get_by_label("Record calls")).to_be_checked()


def test_an_llm_api_key_is_write_only(page: Page, server: Server) -> None:
    key = "sk-browser-" + unique("k")
    workflow_id = create_workflow(page, server.url, unique("Assistant "))
    page.goto(f"/workflows/{workflow_id}")
    page.get_by_label("Dialog engine").select_option("llm")
    expect(page.get_by_label("Model")).to_be_visible()
    assert _save(page) == 422
    expect(page.locator("#e-llm_model")).to_have_text("required")
    page.get_by_label("Model").fill("llama3.2")
    page.get_by_label("API key", exact=True).fill(key)
    assert _save(page) == 200
    expect(page.get_by_label("API key", exact=True)).to_have_value("")
    expect(page.locator("#h-llm_api_key")).to_contain_text("leave blank to keep it")
    assert_secret_absent(page, server.url, key, [f"/workflows/{workflow_id}", "/workflows",
                                                 f"/workflows/{workflow_id}/export"])
    with sqlite3.connect(f"file:{server.db}?mode=ro", uri=True) as conn:
        (stored,) = conn.execute("SELECT definition FROM workflows WHERE id = ?", (workflow_id,)).fetchone()
    assert key not in stored
    assert SecretBox(SECRET_KEY.encode()).decrypt(json.loads(stored)["llm"]["api_key"]) == key


def test_export_downloads_a_file_that_imports(page: Page, server: Server, tmp_path: Path) -> None:
    name = unique("Portable ")
    workflow_id = create_workflow(page, server.url, name, greeting="Exported greeting.")
    page.goto(f"/workflows/{workflow_id}")
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Export file").click()
    download = download_info.value
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    assert download.suggested_filename == f"{slug}.workflow.json"
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    document = json.loads(saved.read_text())
    assert document["name"] == name and document["definition"]["greeting"] == "Exported greeting."

    page.goto("/workflows")
    mark_page(page)
    bad = tmp_path / "bad.json"
    bad.write_text('{"name": "X", "definition": {"max_duration_s": 1}}')
    page.get_by_label("Workflow file (.json)").set_input_files(bad)
    with page.expect_response(lambda r: r.request.method == "POST") as refused:
        page.get_by_role("button", name="Import").click()
    assert refused.value.status == 422
    expect(page.locator("#e-file")).to_contain_text("max_duration_s: must be between 10 and 86400")
    assert_same_document(page)

    page.get_by_label("Workflow file (.json)").set_input_files(saved)
    page.get_by_label("Name (optional)").fill(name + " copy")
    page.get_by_role("button", name="Import").click()
    page.wait_for_url(re.compile(r"/workflows/\d+\?saved=imported$"))
    expect(page.get_by_role("status")).to_have_text("Imported.")
    expect(page.locator("#workflow-form h1")).to_have_text(name + " copy")
    expect(page.get_by_label("Greeting")).to_have_value("Exported greeting.")


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
