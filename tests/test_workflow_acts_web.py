"""Tools, the pre-call lookup and webhooks on the workflow page (rows of fields, htmx and without
JavaScript) and in the API; the organisation's allowed hosts; the test chat calling a tool —
through a real app in process on a temporary SQLite file, tools on a real loopback server."""
from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from agent.definition import SECRET_MASK
from data.store import Store
from tests.conftest import Tenant
from tests.test_api import WORKFLOWS
from tests.test_workflow_editor import HX, form_of, raw_db, with_values
from tests.user_system import UserSystem, json_reply

OUTBOUND = "/api/v1/organization/outbound"
TOKEN = "Bearer tool-S3cret-Value-7781"


@pytest.fixture
async def system() -> AsyncIterator[UserSystem]:
    server = await UserSystem.start()
    yield server
    await server.close()


def tool_fields(key: str, **values: str) -> dict[str, str]:
    base = {"name": "book_table", "description": "Book a table", "method": "POST",
            "url": "http://127.0.0.1:9/book?caller={{caller_number}}",
            "parameters": json.dumps({"type": "object", "properties": {"party": {"type": "integer"}},
                                      "required": ["party"]}),
            "headers": "X-Team: {{called_number}}", "secret_headers": f"Authorization: {TOKEN}",
            "timeout_s": "3", "filler": "", "apology": ""}
    return {f"tool-{key}-{name}": value for name, value in (base | values).items()}


async def new_form(browser: httpx.AsyncClient) -> dict[str, list[str]]:
    return form_of((await browser.get("/workflows/new")).text)


def flat(form: dict[str, list[str]], **extra: str) -> dict[str, list[str]]:
    """The form's fields plus `extra` (in that order, as a browser would send them)."""
    return form | {k: [v] for k, v in extra.items()}


async def test_tools_saved_through_the_form_keep_their_secret_by_name(tenant: Tenant, browser: httpx.AsyncClient,
                                                                     store: Store) -> None:
    form = with_values(await new_form(browser), name="Bookings")
    body = flat(form, **tool_fields("a1"), **tool_fields("b2", name="cancel", secret_headers="Authorization: two-Zx9"))
    saved = await browser.post("/workflows", data=body)
    assert saved.status_code == 303, saved.text
    workflow_id = int(re.search(r"/workflows/(\d+)", saved.headers["location"]).group(1))  # type: ignore[union-attr]
    stored = await store.workflows.get(tenant.org_id, workflow_id)
    assert stored is not None and [t["name"] for t in stored.definition["tools"]] == ["book_table", "cancel"]
    assert TOKEN.encode() not in await raw_db(store)
    page = (await browser.get(f"/workflows/{workflow_id}")).text
    assert TOKEN not in page and "two-Zx9" not in page
    shown = form_of(page)
    keys = sorted({m.group(1) for k in shown if (m := re.match(r"tool-(\w+)-name", k))})
    assert [shown[f"tool-{k}-secret_headers"] for k in keys] == [[f"Authorization: {SECRET_MASK}"]] * 2
    assert "tool-" + keys[0] + "-headers" in shown and shown[f"tool-{keys[0]}-headers"] == ["X-Team: {{called_number}}"]
    # the page sent back with its rows in the other order: each tool keeps its own secret
    reordered = {k: v for k, v in shown.items() if not k.startswith("tool-")}
    for key in reversed(keys):
        reordered |= {k: v for k, v in shown.items() if k.startswith(f"tool-{key}-")}
    assert (await browser.post(f"/workflows/{workflow_id}", data=flat(reordered))).status_code == 303
    again = await store.workflows.get(tenant.org_id, workflow_id)
    assert again is not None
    secrets = {t["name"]: store.box.decrypt(t["headers"][1]["value"]) for t in again.definition["tools"]}
    assert secrets == {"book_table": TOKEN, "cancel": "two-Zx9"}
    assert [t["name"] for t in again.definition["tools"]] == ["cancel", "book_table"]


async def test_tool_errors_show_beside_their_field(browser: httpx.AsyncClient) -> None:
    form = with_values(await new_form(browser), name="Bad tools")
    body = flat(form, **tool_fields("a1", url="ftp://crm", parameters="{nope", timeout_s="soon"),
                **tool_fields("b2", name="transfer_call", parameters='{"type": "object", "properties": '
                                                                     '{"n": {"type": "decimal"}}}'))
    response = await browser.post("/workflows", data=body, headers=HX)
    assert response.status_code == 422
    assert 'id="e-tool-a1-parameters"' in response.text and "not valid JSON" in response.text
    assert 'id="e-tool-a1-timeout_s"' in response.text
    fixed = flat(form, **tool_fields("a1", url="ftp://crm"), **tool_fields("b2", name="transfer_call"))
    response = await browser.post("/workflows", data=fixed, headers=HX)
    assert response.status_code == 422
    assert re.search(r'id="e-tool-a1-url">must be an http', response.text)
    assert re.search(r'id="e-tool-b2-name">transfer_call is built in', response.text)
    assert TOKEN not in response.text  # a typed secret is never shown again
    nested = flat(form, **tool_fields("a1", parameters='{"type": "object", "properties": {"n": {"type": "x"}}}'))
    response = await browser.post("/workflows", data=nested, headers=HX)
    assert re.search(r'id="e-tool-a1-parameters">properties\.n\.type: must be one of', response.text)


async def test_rows_are_added_and_removed_with_and_without_javascript(browser: httpx.AsyncClient) -> None:
    form = with_values(await new_form(browser), name="Rows")
    fragment = await browser.post("/workflows", data=flat(form, **tool_fields("a1"), row_action="add-tool"),
                                  headers=HX)  # htmx: only the new row, appended where it belongs
    assert fragment.status_code == 200 and fragment.text.count('class="tool-row"') == 1
    assert (fragment.headers["hx-retarget"], fragment.headers["hx-reswap"]) == ("#tool-rows", "beforeend")
    assert "<form" not in fragment.text and 'id="tool-a1"' not in fragment.text
    gone = await browser.post("/workflows", data=flat(form, **tool_fields("a1"), row_action="remove-tool-a1"),
                              headers=HX)
    assert (gone.text, gone.headers["hx-retarget"], gone.headers["hx-reswap"]) == ("", "#tool-a1", "delete")
    added = await browser.post("/workflows", data=flat(form, **tool_fields("a1"), row_action="add-tool"))
    assert added.status_code == 200 and added.text.count('class="tool-row"') == 2 and "Not saved yet" in added.text
    assert TOKEN not in added.text and "Authorization: " in added.text
    removed = await browser.post("/workflows", data=flat(form, **tool_fields("a1"), **tool_fields("b2", name="x"),
                                                         row_action="remove-tool-a1"))
    assert removed.text.count('class="tool-row"') == 1 and 'id="tool-b2"' in removed.text
    hooks = await browser.post("/workflows", data=flat(form, row_action="add-webhook"))
    assert hooks.text.count('class="webhook-row"') == 1


async def test_a_webhook_secret_is_generated_and_shown_once(tenant: Tenant, browser: httpx.AsyncClient,
                                                           store: Store) -> None:
    form = with_values(await new_form(browser), name="Hooks")
    response = await browser.post("/workflows", data=flat(form, **{"webhook-h1-url": "https://crm.example.com/h"}))
    assert response.status_code == 200 and 'id="new-secrets"' in response.text
    secret = re.search(r'<code class="secret">(whsec_[\w-]+)</code>', response.text).group(1)  # type: ignore[union-attr]
    workflow_id = int(re.search(r'action="/workflows/(\d+)"', response.text).group(1))  # type: ignore[union-attr]
    page = (await browser.get(f"/workflows/{workflow_id}")).text
    assert secret not in page and "Set; leave blank to keep it." in page
    stored = await store.workflows.get(tenant.org_id, workflow_id)
    assert stored is not None and store.box.decrypt(stored.definition["webhooks"][0]["secret"]) == secret
    kept = await browser.post(f"/workflows/{workflow_id}", data=flat(form_of(page)))
    assert kept.status_code == 303  # nothing new to show
    rotate = form_of(page) | {k: ["on"] for k in form_of(page) if k.endswith("-url") and k.startswith("webhook-")}
    rotate = {k.replace("-url", "-rotate") if k.startswith("webhook-") else k: v for k, v in rotate.items()}
    rotate |= {k: v for k, v in form_of(page).items() if k.startswith("webhook-")}
    rotated = await browser.post(f"/workflows/{workflow_id}", data=flat(rotate), headers=HX)
    new = re.search(r'<code class="secret">(whsec_[\w-]+)</code>', rotated.text)
    assert new is not None and new.group(1) != secret
    api = (await tenant.api.get(f"{WORKFLOWS}/{workflow_id}")).json()
    assert api["definition"]["webhooks"] == [{"url": "https://crm.example.com/h", "secret": SECRET_MASK}]
    assert "webhook_secrets" not in api


async def test_the_api_generates_webhook_secrets_once_and_keeps_them_behind_the_mask(tenant: Tenant) -> None:
    body = {"name": "Hooks", "definition": {"webhooks": [{"url": "https://crm.example.com/h"}]}}
    created = await tenant.api.post(WORKFLOWS, json=body)
    assert created.status_code == 201, created.text
    secret = created.json()["webhook_secrets"]["https://crm.example.com/h"]
    assert secret.startswith("whsec_")
    shown = created.json()["definition"]
    again = await tenant.api.put(f"{WORKFLOWS}/{created.json()['id']}", json={"name": "Hooks", "definition": shown})
    assert again.status_code == 200 and "webhook_secrets" not in again.json()
    short = await tenant.api.put(f"{WORKFLOWS}/{created.json()['id']}", json={
        "name": "Hooks", "definition": {"webhooks": [{"url": "https://crm.example.com/h", "secret": "short"}]}})
    assert short.status_code == 422 and "definition.webhooks.0.secret" in short.json()["error"]["fields"]


async def test_allowed_hosts_through_the_api_and_the_page(tenant: Tenant, browser: httpx.AsyncClient,
                                                          store: Store, make_tenant: Any) -> None:
    assert (await tenant.api.get(OUTBOUND)).json() == {"allowed_hosts": [], "only_listed": False}
    bad = await tenant.api.patch(OUTBOUND, json={"allowed_hosts": ["crm.lan", "crm.lan:8080", 5]})
    assert bad.status_code == 422
    assert set(bad.json()["error"]["fields"]) == {"allowed_hosts.1", "allowed_hosts.2"}
    good = await tenant.api.patch(OUTBOUND, json={"allowed_hosts": ["crm.lan", "10.0.0.0/8"]})
    assert good.json() == {"allowed_hosts": ["crm.lan", "10.0.0.0/8"], "only_listed": False}
    assert (await tenant.api.patch(OUTBOUND, json={"only_listed": True})).json()["allowed_hosts"] == [
        "crm.lan", "10.0.0.0/8"]
    page = await browser.get("/organization")
    assert "crm.lan\n10.0.0.0/8" in page.text and 'name="only_listed" value="on" checked' in page.text
    refused = await browser.post("/organization/outbound", data={"allowed_hosts": "ok.lan\n*.\n", "only_listed": ""},
                                 headers=HX)
    assert refused.status_code == 422 and 'id="e-allowed_hosts">*.: a wildcard' in refused.text
    saved = await browser.post("/organization/outbound", data={"allowed_hosts": "127.0.0.1\n\n", "only_listed": ""})
    assert saved.status_code == 303
    setting = await store.outbound.get(tenant.org_id)
    assert (setting.allowed_hosts, setting.only_listed) == (("127.0.0.1",), False)


async def test_the_test_chat_calls_a_tool_under_the_allowed_hosts(tenant: Tenant, browser: httpx.AsyncClient,
                                                                 system: UserSystem) -> None:
    system.route("/slots", json_reply({"free": 3}))
    definition: dict[str, Any] = {
        "greeting": "Hi.", "tools": [{"name": "slots", "description": "Free tables", "url": system.url("/slots")}],
        "script": {"start": "check", "states": {
            "check": {"tool": {"name": "slots", "save": {"free": "free"}}, "next": "done", "failure": "sorry"},
            "done": {"say": "{{free}} tables are free."}, "sorry": {"say": "I cannot check now."}}}}
    workflow = (await tenant.api.post(WORKFLOWS, json={"name": "Slots", "definition": definition})).json()
    refused = await tenant.api.post(f"{WORKFLOWS}/{workflow['id']}/chat", json={})
    [reply] = refused.json()["replies"]
    assert reply["actions"][0]["error_id"] == "tool-host-not-allowed" and system.received == []
    assert reply["text"].endswith("I cannot check now.")
    await tenant.api.patch(OUTBOUND, json={"allowed_hosts": ["127.0.0.1"]})
    page = await browser.post(f"/workflows/{workflow['id']}/chat", data={"action": "restart"}, headers=HX)
    assert "3 tables are free." in page.text and "Tool <code>slots</code>" in page.text and "HTTP 200" in page.text
    assert len(system.received) == 1
