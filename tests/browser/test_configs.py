"""Telephony configurations with htmx: create with inline validation, edit, the Asterisk
snippets, delete a row; the App Password never reaches a page."""
from __future__ import annotations

from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect

from tests.browser.ui import Server
from tests.browser.ui import (
    assert_htmx_hygiene, assert_same_document, assert_secret_absent, create_config, mark_page, stored_password,
    unique,
)

pytestmark = pytest.mark.browser

PASSWORD = "Pw&#:%<i>'\"ari-7"


def _submit(page: Page, form: str) -> int:
    with page.expect_response(lambda r: r.request.method == "POST") as posted:
        page.locator(form).get_by_role("button", name="Save Configuration").click()
    return posted.value.status


def test_create_with_inline_errors_then_edit_keeping_the_password(page: Page, server: Server) -> None:
    app, client = unique("app"), unique("ws")
    page.goto("/telephony-configurations")
    assert_htmx_hygiene(page)
    mark_page(page)

    page.get_by_role("link", name="Add configuration").click()
    form = page.locator("#config-form")
    expect(form).to_be_visible()
    page.fill("#f-name", "Head office")
    page.fill("#f-ari_endpoint_url", "ftp://pbx.example.com")
    page.fill("#f-app_password", PASSWORD)
    page.fill("#f-websocket_client_name", client)
    page.fill("#f-from_extensions", "PJSIP/6001, 6002")

    assert _submit(page, "#config-form") == 422
    expect(page.locator("#e-ari_endpoint_url")).to_contain_text("http://")
    expect(page.locator("#f-ari_endpoint_url")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#e-stasis_app_name")).to_contain_text("Stasis App Name is required")
    expect(page.locator("#f-stasis_app_name")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#f-name")).to_have_value("Head office")
    expect(page.locator("#f-app_password")).to_have_value("")  # write-only: never sent back
    assert_same_document(page)
    assert_htmx_hygiene(page)

    page.fill("#f-ari_endpoint_url", "http://pbx.example.com:8088/ari")
    page.fill("#f-stasis_app_name", app)
    page.fill("#f-app_password", PASSWORD)
    _submit(page, "#config-form")
    page.wait_for_url("**/telephony-configurations/*")
    config_id = int(page.url.rsplit("/", 1)[1])
    summary = page.locator("#config-summary")
    expect(summary).to_contain_text("Head office")
    expect(summary).to_contain_text("http://pbx.example.com:8088")  # the /ari suffix is dropped
    expect(summary).to_contain_text(app)
    expect(page.locator("#snippet-ari-conf")).to_contain_text(f"[{app}]")
    expect(page.locator("#snippet-extensions-conf")).to_contain_text(f"same => n,Stasis({app})")
    ws = page.locator("#snippet-websocket_client-conf")
    expect(ws).to_contain_text(f"[{client}]")
    expect(ws).to_contain_text(f"uri = ws://127.0.0.1:{server.url.rsplit(':', 1)[1]}/api/v1/telephony/ws/ari")
    expect(ws).to_contain_text("protocols = media")
    expect(ws).not_to_contain_text("tls_enabled")
    expect(page.locator("#snippet-http-conf")).to_contain_text("bindport = 8088")
    assert_htmx_hygiene(page)
    assert stored_password(server.db, config_id) == PASSWORD

    # Edit in place: a bad URL first, then new names with the password left blank.
    mark_page(page)
    page.locator("#config-summary").get_by_role("link", name="Edit").click()
    expect(page.locator("#config-form")).to_be_visible()
    expect(page.locator("#f-app_password")).to_have_value("")
    expect(page.locator("#h-app_password")).to_contain_text("Leave blank to keep")
    page.fill("#f-ari_endpoint_url", "pbx.example.com")
    assert _submit(page, "#config-form") == 422
    expect(page.locator("#e-ari_endpoint_url")).to_be_visible()
    assert_same_document(page)

    new_app, new_client = unique("renamed"), unique("client")
    page.fill("#f-ari_endpoint_url", "http://pbx.example.com:8088")
    page.fill("#f-stasis_app_name", new_app)
    page.fill("#f-websocket_client_name", new_client)
    page.fill("#f-name", "Head office (new)")
    assert _submit(page, "#config-form") == 200
    expect(page.locator("#config-summary h1")).to_have_text("Head office (new)")
    # The snippets follow the new names without a reload.
    expect(page.locator("#snippet-extensions-conf")).to_contain_text(f"Stasis({new_app})")
    expect(page.locator("#snippet-websocket_client-conf")).to_contain_text(f"[{new_client}]")
    expect(page.locator("#numbers-app")).to_have_text(f"Stasis({new_app})")
    assert_same_document(page)
    assert_htmx_hygiene(page)
    assert stored_password(server.db, config_id) == PASSWORD

    base = f"/telephony-configurations/{config_id}"
    assert_secret_absent(page, server.url, PASSWORD, ["/telephony-configurations", base, base + "/edit"])
    raw = server.db.read_bytes() + (server.db.parent / "sb.db-wal").read_bytes()
    assert PASSWORD.encode() not in raw


def test_duplicate_endpoint_and_app_is_refused_inline(page: Page, server: Server) -> None:
    app = unique("dup")
    create_config(page, server.url, stasis_app_name=app, ari_endpoint_url="http://dup.example.com:8088")
    page.goto("/telephony-configurations/new")
    page.fill("#f-name", "Copy")
    page.fill("#f-ari_endpoint_url", "http://dup.example.com:8088")
    page.fill("#f-stasis_app_name", app)
    page.fill("#f-app_password", "whatever-1")
    page.fill("#f-websocket_client_name", "dograh")
    mark_page(page)
    assert _submit(page, "#config-form") == 422
    expect(page.locator("#e-stasis_app_name")).to_be_visible()
    assert_same_document(page)


def test_wss_snippet_when_the_public_url_is_https(new_page: Callable[..., Page], https_server: Server) -> None:
    page = new_page(https_server)
    config_id = create_config(page, https_server.url, stasis_app_name="voicebot", websocket_client_name="sb-media")
    page.goto(f"/telephony-configurations/{config_id}")
    ws = page.locator("#snippet-websocket_client-conf")
    expect(ws).to_contain_text("[sb-media]")
    expect(ws).to_contain_text("uri = wss://switchboard.example.com/pbx/api/v1/telephony/ws/ari")
    expect(ws).to_contain_text("tls_enabled = yes")
    expect(page.locator("#snippet-extensions-conf")).to_contain_text("Stasis(voicebot)")
    expect(page.locator("#asterisk-setup")).not_to_contain_text("guessed from your browser")


def test_delete_a_configuration_row_after_confirming(page: Page, server: Server) -> None:
    name = unique("Doomed ")
    config_id = create_config(page, server.url, name=name, stasis_app_name=unique("doomed"))
    page.goto("/telephony-configurations")
    row = page.locator(f"#config-{config_id}")
    expect(row).to_contain_text(name)
    mark_page(page)

    page.once("dialog", lambda dialog: dialog.dismiss())
    row.get_by_role("button", name="Delete").click()
    expect(row).to_be_visible()

    messages: list[str] = []
    page.once("dialog", lambda dialog: (messages.append(dialog.message), dialog.accept()))
    with page.expect_response(lambda r: r.request.method == "DELETE") as deleted:
        row.get_by_role("button", name="Delete").click()
    assert deleted.value.status == 200
    expect(row).to_have_count(0)
    assert name in messages[0]
    assert_same_document(page)
    assert page.request.get(f"{server.url}/telephony-configurations/{config_id}").status == 404


def test_delete_from_the_detail_page_asks_first(page: Page, server: Server) -> None:
    config_id = create_config(page, server.url, name="Detail delete", stasis_app_name=unique("dd"))
    page.goto(f"/telephony-configurations/{config_id}")
    page.once("dialog", lambda dialog: dialog.dismiss())
    page.locator("#config-summary").get_by_role("button", name="Delete").click()
    expect(page.locator("#config-summary")).to_be_visible()
    page.once("dialog", lambda dialog: dialog.accept())
    page.locator("#config-summary").get_by_role("button", name="Delete").click()
    expect(page).to_have_url(server.url + "/telephony-configurations")
    expect(page.locator(f"#config-{config_id}")).to_have_count(0)


def test_unknown_pages_are_friendly_404s(page: Page, server: Server) -> None:
    for path in ("/telephony-configurations/999999", "/telephony-configurations/999999/edit",
                 "/workflows/999999", "/telephony-configurations/1/phone-numbers/999999/edit", "/nope"):
        response = page.goto(path)
        assert response is not None and response.status == 404, path
        expect(page.get_by_role("heading", name="Not found")).to_be_visible()
