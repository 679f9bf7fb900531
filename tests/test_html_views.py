"""Server-rendered pages through the in-process client: full page vs htmx fragment, inline
validation (422), redirects after non-htmx POSTs, delete-row, and 404 across organisations."""
from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from data.store import Store
from tests.conftest import BASE_URL, MakeTenant, Tenant, log_in
from tests.test_api import CONFIGS, WORKFLOWS, config_body, new_config, new_number, new_workflow
from web.state import app_state

HX = {"HX-Request": "true"}
BASE = "/telephony-configurations"


def is_full_page(response: httpx.Response) -> bool:
    return "<html" in response.text and "</html>" in response.text


def invalid_fields(html: str) -> set[str]:
    """Names of the inputs marked aria-invalid."""
    return set(re.findall(r'name="([^"]+)"[^>]*aria-invalid="true"', html))


def config_form(**overrides: Any) -> dict[str, Any]:
    return config_body(enabled="on") | overrides


# Configurations --------------------------------------------------------------------------------

async def test_pages_render_full_or_fragment(tenant: Tenant, browser: httpx.AsyncClient) -> None:
    config = await new_config(tenant)
    workflow = await new_workflow(tenant)
    number = await new_number(tenant, config["id"], "8000", workflow["id"])
    c = f"{BASE}/{config['id']}"
    for url in (BASE, f"{BASE}/new", c, f"{c}/edit", f"{c}/phone-numbers/{number['id']}/edit", "/workflows",
                "/workflows/new", f"/workflows/{workflow['id']}", "/calls"):
        full = await browser.get(url)
        assert full.status_code == 200 and is_full_page(full), url
        assert full.headers["content-type"].startswith("text/html")
    for url in (f"{BASE}/new", f"{c}/edit", f"{c}/status", f"{c}/phone-numbers/{number['id']}",
                f"{c}/phone-numbers/{number['id']}/edit"):
        fragment = await browser.get(url, headers=HX)
        assert fragment.status_code == 200 and not is_full_page(fragment), url
    edit = await browser.get(f"{c}/edit", headers=HX)
    assert 'id="config-form"' in edit.text and 'value="dograh"' in edit.text
    row = await browser.get(f"{c}/phone-numbers/{number['id']}", headers=HX)
    assert f'id="number-{number["id"]}"' in row.text and "Sales" in row.text


async def test_create_config_by_form(browser: httpx.AsyncClient, store: Store, tenant: Tenant) -> None:
    response = await browser.post(BASE, data=config_form())
    assert response.status_code == 303
    config_id = int(response.headers["location"].rsplit("/", 1)[1])
    config = await store.configs.get(tenant.org_id, config_id)
    assert config is not None and config.enabled and config.name == "Main PBX"
    assert await store.configs.ari_password(config_id) == "s3cret"

    htmx = await browser.post(BASE, data=config_form(stasis_app_name="second", enabled="off"), headers=HX)
    assert htmx.status_code == 200 and htmx.headers["hx-redirect"].startswith(f"{BASE}/")
    second = await store.configs.get(tenant.org_id, int(htmx.headers["hx-redirect"].rsplit("/", 1)[1]))
    assert second is not None and second.enabled is False


@pytest.mark.parametrize("headers, full", [({}, True), (HX, False)])
async def test_invalid_config_is_422_with_inline_errors(browser: httpx.AsyncClient, store: Store, tenant: Tenant,
                                                        headers: dict[str, str], full: bool) -> None:
    response = await browser.post(BASE, data=config_form(ari_endpoint_url="ftp://pbx", stasis_app_name=""),
                                  headers=headers)
    assert response.status_code == 422 and is_full_page(response) is full
    assert invalid_fields(response.text) == {"ari_endpoint_url", "stasis_app_name"}
    assert "http:// or https://" in response.text and "Stasis App Name is required" in response.text
    assert 'value="Main PBX"' in response.text  # what was typed is kept
    assert await store.configs.list(tenant.org_id) == []


async def test_duplicate_config_is_refused_inline(browser: httpx.AsyncClient, tenant: Tenant) -> None:
    await new_config(tenant)
    response = await browser.post(BASE, data=config_form(name="Again"), headers=HX)
    assert response.status_code == 422
    assert "stasis_app_name" in invalid_fields(response.text) and "newest connection" in response.text


async def test_edit_config_keeps_a_blank_password(tenant: Tenant, browser: httpx.AsyncClient, store: Store) -> None:
    config = await new_config(tenant, app_password="old p&ss")
    c = f"{BASE}/{config['id']}"
    inline = await browser.post(c, data=config_form(name="Renamed", app_password="",
                                                    websocket_client_name="media-client"), headers=HX)
    assert inline.status_code == 200 and not is_full_page(inline)
    assert 'id="config-summary"' in inline.text and "Renamed" in inline.text
    assert "[media-client]" in inline.text  # the Asterisk snippets follow the edit
    assert await store.configs.ari_password(config["id"]) == "old p&ss"

    page = await browser.post(c, data=config_form(name="Again", app_password="new pass"))
    assert page.status_code == 303 and page.headers["location"] == c
    assert await store.configs.ari_password(config["id"]) == "new pass"

    bad = await browser.post(c, data=config_form(dial_template="nope"), headers=HX)
    assert bad.status_code == 422 and invalid_fields(bad.text) == {"dial_template"}
    saved = await store.configs.get(tenant.org_id, config["id"])
    assert saved is not None and saved.name == "Again"


async def test_asterisk_snippets(tenant: Tenant, browser: httpx.AsyncClient) -> None:
    config = await new_config(tenant, stasis_app_name="switchboard", websocket_client_name="sb-media",
                              ari_endpoint_url="http://pbx.example.com:8089")
    page = (await browser.get(f"{BASE}/{config['id']}")).text
    assert "Stasis(switchboard)" in page and "[switchboard]" in page and "[sb-media]" in page
    assert "uri = ws://testserver/api/v1/telephony/ws/ari" in page and "protocols = media" in page
    assert "bindport = 8089" in page and "tls_enabled" not in page
    for reload in ("ari reload", "dialplan reload", "module reload res_websocket_client.so"):
        assert reload in page


async def test_snippets_use_the_public_url(make_tenant: MakeTenant, app: Starlette, tenant: Tenant,
                                           browser: httpx.AsyncClient) -> None:
    config = await new_config(tenant)
    state = app_state(app)
    state.settings = replace(state.settings, public_url="https://sb.example.org/base")
    page = (await browser.get(f"{BASE}/{config['id']}")).text
    assert "uri = wss://sb.example.org/base/api/v1/telephony/ws/ari" in page and "tls_enabled = yes" in page


async def test_delete_config(tenant: Tenant, browser: httpx.AsyncClient, store: Store) -> None:
    first, second = await new_config(tenant), await new_config(tenant, stasis_app_name="b")
    row = await browser.delete(f"{BASE}/{first['id']}", headers=HX)
    assert row.status_code == 200 and row.text == ""
    assert await store.configs.get(tenant.org_id, first["id"]) is None
    page = await browser.post(f"{BASE}/{second['id']}/delete")
    assert page.status_code == 303 and page.headers["location"] == BASE
    assert await store.configs.list(tenant.org_id) == []
    listing = await browser.get(BASE)
    assert listing.status_code == 200 and "Main PBX" not in listing.text


# Phone numbers ---------------------------------------------------------------------------------

async def test_phone_numbers_inline(tenant: Tenant, other: Tenant, browser: httpx.AsyncClient, store: Store) -> None:
    config = await new_config(tenant)
    workflow = await new_workflow(tenant, "Sales")
    foreign = await new_workflow(other, "Their secret workflow")
    c = f"{BASE}/{config['id']}"
    detail = (await browser.get(c)).text
    assert "Their secret workflow" not in detail and "Sales" in detail  # the select offers only ours

    created = await browser.post(f"{c}/phone-numbers", data={"address": "8000", "label": "Desk",
                                                             "inbound_workflow_id": str(workflow["id"])}, headers=HX)
    assert created.status_code == 200 and not is_full_page(created)
    assert 'id="number-form"' in created.text and "8000" in created.text and "hx-swap-oob" in created.text
    number = (await store.numbers.list(tenant.org_id, config["id"]))[0]
    assert (number.address, number.label, number.inbound_workflow_id) == ("8000", "Desk", workflow["id"])

    page = await browser.post(f"{c}/phone-numbers", data={"address": "8001", "inbound_workflow_id": ""})
    assert page.status_code == 303 and page.headers["location"] == c

    for data, field in (({"address": "80 00"}, "address"), ({"address": "8000"}, "address"),
                        ({"address": "8002", "inbound_workflow_id": str(foreign["id"])}, "inbound_workflow_id"),
                        ({"address": "8002", "inbound_workflow_id": "x"}, "inbound_workflow_id")):
        refused = await browser.post(f"{c}/phone-numbers", data=data, headers=HX)
        assert refused.status_code == 422 and not is_full_page(refused), data
        assert field in " ".join(invalid_fields(refused.text)), (data, refused.text)
        full = await browser.post(f"{c}/phone-numbers", data=data)
        assert full.status_code == 422 and is_full_page(full)
    assert len(await store.numbers.list(tenant.org_id, config["id"])) == 2

    n = f"{c}/phone-numbers/{number.id}"
    updated = await browser.post(n, data={"address": "8005", "label": "", "inbound_workflow_id": ""}, headers=HX)
    assert updated.status_code == 200 and f'id="number-{number.id}"' in updated.text and "8005" in updated.text
    refused = await browser.post(n, data={"address": "8001"}, headers=HX)
    assert refused.status_code == 422 and "already registered" in refused.text
    assert (await browser.post(n, data={"address": "8006"})).status_code == 303
    assert (await store.numbers.get(tenant.org_id, config["id"], number.id)).address == "8006"  # type: ignore[union-attr]

    deleted = await browser.delete(n, headers=HX)
    assert deleted.status_code == 200 and deleted.text == ""
    assert await store.numbers.get(tenant.org_id, config["id"], number.id) is None
    rest = (await store.numbers.list(tenant.org_id, config["id"]))[0]
    gone = await browser.post(f"{c}/phone-numbers/{rest.id}/delete")
    assert gone.status_code == 303 and await store.numbers.list(tenant.org_id, config["id"]) == []


# Workflows -------------------------------------------------------------------------------------

async def test_workflow_forms(tenant: Tenant, browser: httpx.AsyncClient, store: Store) -> None:
    created = await browser.post("/workflows", data={"name": "Desk", "greeting": " Hello there ",
                                                      "definition": '{"language": "en-GB", "barge_in": false}'})
    assert created.status_code == 303
    workflow_id = int(re.search(r"/workflows/(\d+)", created.headers["location"]).group(1))  # type: ignore[union-attr]
    workflow = await store.workflows.get(tenant.org_id, workflow_id)
    assert workflow is not None and workflow.greeting == "Hello there"
    assert workflow.definition["language"] == "en-GB" and workflow.definition["barge_in"] is False

    for data, marker in (({"name": "", "definition": "{}"}, 'name="name"'),
                         ({"name": "X", "definition": "{oops"}, "not valid JSON"),
                         ({"name": "X", "definition": "[1]"}, "must be a JSON object"),
                         ({"name": "X", "definition": '{"typo": 1}'}, "unknown field"),
                         ({"name": "X", "greeting": "x" * 2001}, "at most 2000")):
        refused = await browser.post("/workflows", data=data)
        assert refused.status_code == 422 and is_full_page(refused) and marker in refused.text, data
        assert 'aria-invalid="true"' in refused.text
        inline = await browser.post(f"/workflows/{workflow_id}", data=data, headers=HX)
        assert inline.status_code == 422 and not is_full_page(inline)
    unchanged = await store.workflows.get(tenant.org_id, workflow_id)
    assert unchanged == workflow

    edited = await browser.post(f"/workflows/{workflow_id}", data={"name": "Desk 2", "greeting": "Hi",
                                                                   "definition": '{"language": "en-US"}'})
    assert edited.status_code == 303
    saved = await store.workflows.get(tenant.org_id, workflow_id)
    assert saved is not None and (saved.name, saved.greeting, saved.definition["language"]) == ("Desk 2", "Hi", "en-US")


async def test_workflow_in_use_cannot_be_deleted(tenant: Tenant, browser: httpx.AsyncClient, store: Store) -> None:
    workflow = await new_workflow(tenant)
    config = await new_config(tenant)
    await new_number(tenant, config["id"], "8123", workflow["id"])
    inline = await browser.delete(f"/workflows/{workflow['id']}", headers=HX)
    assert inline.status_code == 409 and "8123" in inline.text and f'id="workflow-{workflow["id"]}"' in inline.text
    page = await browser.post(f"/workflows/{workflow['id']}/delete")
    assert page.status_code == 409 and is_full_page(page) and "8123" in page.text
    listing = (await browser.get("/workflows")).text
    assert "8123" in listing  # the list says which numbers use it
    assert await store.workflows.get(tenant.org_id, workflow["id"]) is not None

    await tenant.api.delete(f"{CONFIGS}/{config['id']}")
    deleted = await browser.delete(f"/workflows/{workflow['id']}", headers=HX)
    assert deleted.status_code == 200 and deleted.text == ""
    assert await store.workflows.get(tenant.org_id, workflow["id"]) is None


# Calls -----------------------------------------------------------------------------------------

async def test_calls_pages(tenant: Tenant, browser: httpx.AsyncClient, store: Store) -> None:
    run = await store.runs.create(org_id=tenant.org_id, workflow_id=None, direction="inbound",
                                  status="completed", caller_number="+15551234", called_number="8000")
    await store.runs.add_event(run.id, "transcript", role="user", text="I need <help> & more")
    listing = await browser.get("/calls")
    assert listing.status_code == 200 and "+15551234" in listing.text
    detail = await browser.get(f"/calls/{run.id}")
    assert detail.status_code == 200 and "I need &lt;help&gt; &amp; more" in detail.text


# Organisations, ids and errors -----------------------------------------------------------------

async def test_other_organisations_pages_are_404(tenant: Tenant, other: Tenant, browser: httpx.AsyncClient,
                                                 store: Store) -> None:
    workflow = await new_workflow(other, "Theirs")
    config = await new_config(other)
    number = await new_number(other, config["id"], "8000", workflow["id"])
    run = await store.runs.create(org_id=other.org_id, workflow_id=workflow["id"], direction="inbound",
                                  status="completed")
    mine = await new_config(tenant, stasis_app_name="mine")
    c, n, w = f"{BASE}/{config['id']}", f"{BASE}/{config['id']}/phone-numbers/{number['id']}", \
        f"/workflows/{workflow['id']}"
    my_n = f"{BASE}/{mine['id']}/phone-numbers/{number['id']}"
    snapshot = [(await other.api.get(url)).json() for url in (
        f"{CONFIGS}/{config['id']}", f"{CONFIGS}/{config['id']}/phone-numbers", f"{WORKFLOWS}/{workflow['id']}")]

    form = config_form(address="9", label="x", name="Hijacked")
    attempts = [("GET", c), ("GET", f"{c}/edit"), ("GET", f"{c}/status"), ("POST", c), ("DELETE", c),
                ("POST", f"{c}/delete"), ("POST", f"{c}/phone-numbers"), ("GET", n), ("GET", f"{n}/edit"),
                ("POST", n), ("DELETE", n), ("POST", f"{n}/delete"), ("GET", my_n), ("GET", f"{my_n}/edit"),
                ("POST", my_n), ("GET", w), ("POST", w), ("DELETE", w), ("POST", f"{w}/delete"),
                ("GET", f"/calls/{run.id}")]
    for method, url in attempts:
        for headers in ({}, HX):
            response = await browser.request(method, url, data=form if method == "POST" else None, headers=headers)
            assert response.status_code == 404, (method, url, headers, response.status_code)
            assert "Hijacked" not in response.text and "Theirs" not in response.text
    after = [(await other.api.get(url)).json() for url in (
        f"{CONFIGS}/{config['id']}", f"{CONFIGS}/{config['id']}/phone-numbers", f"{WORKFLOWS}/{workflow['id']}")]
    assert after == snapshot
    for page in ("/calls", "/workflows", BASE):
        assert "Theirs" not in (await browser.get(page)).text


@pytest.mark.parametrize("url", [f"{BASE}/{2**63}", f"{BASE}/{10**40}/edit", f"{BASE}/0",
                                 f"{BASE}/1/phone-numbers/{2**64}", f"/workflows/{2**63}", f"/calls/{2**70}",
                                 "/no-such-page", f"{BASE}/abc"])
async def test_unknown_pages_are_404(browser: httpx.AsyncClient, url: str) -> None:
    page = await browser.get(url)
    assert page.status_code == 404 and is_full_page(page) and "not-found" in page.text
    fragment = await browser.get(url, headers=HX)
    assert fragment.status_code == 404 and not is_full_page(fragment)
    assert (await browser.post(url, data={"name": "x"})).status_code in (404, 405)


async def test_user_text_is_escaped(tenant: Tenant, browser: httpx.AsyncClient) -> None:
    evil = '<img src=x onerror="alert(1)">'
    config = await new_config(tenant, name=evil)
    workflow = await new_workflow(tenant, name=evil, greeting=evil)
    await tenant.api.post(f"{CONFIGS}/{config['id']}/phone-numbers",
                          json={"address": "8000", "label": evil, "inbound_workflow_id": workflow["id"]})
    for url in (BASE, f"{BASE}/{config['id']}", f"{BASE}/{config['id']}/edit", "/workflows",
                f"/workflows/{workflow['id']}"):
        page = await browser.get(url)
        assert page.status_code == 200 and evil not in page.text and "&lt;img" in page.text, url


async def test_oversized_form_is_413(browser: httpx.AsyncClient, store: Store, tenant: Tenant) -> None:
    response = await browser.post(BASE, data=config_form(name="x" * 1_100_000))
    assert response.status_code == 413 and is_full_page(response) and "body-too-large" in response.text
    assert await store.configs.list(tenant.org_id) == []


async def test_pages_need_login_but_not_for_static(client: httpx.AsyncClient, tenant: Tenant) -> None:
    for url in (BASE, f"{BASE}/new", "/workflows", "/calls", f"{BASE}/1"):
        assert (await client.get(url)).status_code == 303
    assert (await client.get("/static/app.css")).status_code == 200
    assert (await client.get("/healthz")).json() == {"status": "ok"}


async def test_logged_in_user_of_another_org_sees_only_theirs(other: Tenant, tenant: Tenant,
                                                              clients: Any) -> None:
    await new_config(tenant, name="Alpha config")
    await new_config(other, name="Beta config", stasis_app_name="beta")
    c = clients(headers={"Origin": BASE_URL})
    await log_in(c, other.email, other.password)
    page = (await c.get(BASE)).text
    assert "Beta config" in page and "Alpha config" not in page
