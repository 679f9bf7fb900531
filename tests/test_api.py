"""JSON API under /api/v1: CRUD of every resource, auth, organisation scoping, error shapes."""
from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Route

from data.store import Store
from tests.conftest import Tenant

API = "/api/v1"
CONFIGS = f"{API}/telephony-configurations"
WORKFLOWS = f"{API}/workflows"
RUNS = f"{API}/workflow-runs"
NASTY_PASSWORD = "p&#:%ü 'q' \"dq\" ☎ x"


def config_body(**overrides: Any) -> dict[str, Any]:
    body = {"name": "Main PBX", "ari_endpoint_url": "http://pbx.example.com:8088",
            "stasis_app_name": "dograh", "app_password": "s3cret", "websocket_client_name": "dograh"}
    return body | overrides


def assert_error(response: httpx.Response, status: int, error_id: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert isinstance(error["id"], str) and isinstance(error["message"], str) and error["message"]
    if error_id is not None:
        assert error["id"] == error_id
    return dict(error)


async def create(client: httpx.AsyncClient, url: str, body: dict[str, Any]) -> dict[str, Any]:
    response = await client.post(url, json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def new_config(t: Tenant, **overrides: Any) -> dict[str, Any]:
    return await create(t.api, CONFIGS, config_body(**overrides))


async def new_workflow(t: Tenant, name: str = "Sales", greeting: str = "Hello") -> dict[str, Any]:
    return await create(t.api, WORKFLOWS, {"name": name, "greeting": greeting})


async def new_number(t: Tenant, config_id: int, address: str = "8000", workflow_id: int | None = None) -> dict[str, Any]:
    body = {"address": address, "label": "Reception", "inbound_workflow_id": workflow_id}
    return await create(t.api, f"{CONFIGS}/{config_id}/phone-numbers", body)


# Telephony configurations ----------------------------------------------------------------------

async def test_config_crud(tenant: Tenant) -> None:
    assert (await tenant.api.get(CONFIGS)).json() == {"items": []}
    created = await new_config(tenant, ari_endpoint_url="http://PBX.example.com:8088/ari/",
                               from_extensions=["PJSIP/6001", "6002"])
    assert created["ari_endpoint_url"] == "http://pbx.example.com:8088"  # normalised
    assert created["from_extensions"] == ["PJSIP/6001", "6002"]
    assert created["dial_template"] == "PJSIP/{number}" and created["enabled"] is True
    assert created["app_password_set"] is True and "app_password" not in created
    url = f"{CONFIGS}/{created['id']}"

    assert (await tenant.api.get(url)).json() == created
    assert [c["id"] for c in (await tenant.api.get(CONFIGS)).json()["items"]] == [created["id"]]

    patched = await tenant.api.patch(url, json={"name": "Renamed", "enabled": False})
    assert patched.status_code == 200, patched.text
    assert patched.json()["name"] == "Renamed" and patched.json()["enabled"] is False
    assert patched.json()["stasis_app_name"] == "dograh"  # untouched fields kept

    put = await tenant.api.put(url, json=config_body(name="Put", dial_template="PJSIP/{number}@trunk",
                                                     ari_username="ariuser", from_extensions="6001, 6003"))
    assert put.status_code == 200, put.text
    assert put.json() | {"updated_at": None} == created | {
        "name": "Put", "dial_template": "PJSIP/{number}@trunk", "ari_username": "ariuser",
        "from_extensions": ["6001", "6003"], "updated_at": None}
    assert (await tenant.api.get(url)).json() == put.json()

    assert (await tenant.api.delete(url)).status_code == 204
    assert_error(await tenant.api.get(url), 404, "not-found")
    assert_error(await tenant.api.delete(url), 404, "not-found")
    assert (await tenant.api.get(CONFIGS)).json() == {"items": []}


async def test_config_status(tenant: Tenant) -> None:
    config = await new_config(tenant)
    response = await tenant.api.get(f"{CONFIGS}/{config['id']}/status")
    assert response.status_code == 200
    assert response.json()["state"] in ("stopped", "disabled", "connecting")
    assert_error(await tenant.api.get(f"{CONFIGS}/{config['id'] + 1}/status"), 404)


@pytest.mark.parametrize("overrides, field", [
    ({"ari_endpoint_url": "ftp://pbx:8088"}, "ari_endpoint_url"),
    ({"ari_endpoint_url": "not a url"}, "ari_endpoint_url"),
    ({"ari_endpoint_url": "http://user:pw@pbx:8088"}, "ari_endpoint_url"),
    ({"ari_endpoint_url": "http://pbx:99999"}, "ari_endpoint_url"),
    ({"ari_endpoint_url": ""}, "ari_endpoint_url"),
    ({"stasis_app_name": ""}, "stasis_app_name"),
    ({"stasis_app_name": "has space"}, "stasis_app_name"),
    ({"app_password": ""}, "app_password"),
    ({"app_password": 1234}, "app_password"),
    ({"app_password": "line\nbreak"}, "app_password"),
    ({"websocket_client_name": "a/b"}, "websocket_client_name"),
    ({"from_extensions": ["PJSIP/6001", 6002]}, "from_extensions"),
    ({"from_extensions": "bad ext"}, "from_extensions"),
    ({"dial_template": "PJSIP/6001"}, "dial_template"),
    ({"dial_template": "{number}"}, "dial_template"),
    ({"enabled": "maybe"}, "enabled"),
    ({"name": ""}, "name"),
    ({"name": "x" * 101}, "name"),
    ({"name": ["list"]}, "name"),
])
async def test_config_validation(tenant: Tenant, overrides: dict[str, Any], field: str) -> None:
    error = assert_error(await tenant.api.post(CONFIGS, json=config_body(**overrides)), 422, "validation-failed")
    assert field in error["fields"] and error["fields"][field]
    assert (await tenant.api.get(CONFIGS)).json() == {"items": []}


@pytest.mark.parametrize("raw, clean", [
    ("http://PBX.example.com:8088/ari/", "http://pbx.example.com:8088"),
    ("http://pbx:80", "http://pbx"), ("https://pbx:443/", "https://pbx"), ("https://pbx:8089/ari", "https://pbx:8089"),
    ("http://[::1]:8088", "http://[::1]:8088"), ("http://10.0.0.5:8088/asterisk/ari", "http://10.0.0.5:8088/asterisk"),
])
async def test_endpoint_is_normalised(tenant: Tenant, raw: str, clean: str) -> None:
    created = await new_config(tenant, ari_endpoint_url=raw)
    assert created["ari_endpoint_url"] == clean
    assert_error(await tenant.api.post(CONFIGS, json=config_body(ari_endpoint_url=clean)), 409)


async def test_config_update_validation_keeps_object(tenant: Tenant) -> None:
    config = await new_config(tenant)
    url = f"{CONFIGS}/{config['id']}"
    error = assert_error(await tenant.api.patch(url, json={"ari_endpoint_url": "gopher://x"}), 422)
    assert set(error["fields"]) == {"ari_endpoint_url"}
    assert (await tenant.api.get(url)).json() == config


async def test_duplicate_endpoint_and_app_is_409(tenant: Tenant, other: Tenant) -> None:
    first = await new_config(tenant)
    # Same endpoint (written differently) and app: refused, also for another organisation.
    for client in (tenant.api, other.api):
        error = assert_error(await client.post(CONFIGS, json=config_body(
            name="Copy", ari_endpoint_url="HTTP://pbx.example.com:8088/ari")), 409, "conflict")
        assert "Stasis app" in error["message"] and "stasis_app_name" in error["fields"]
    second = await new_config(tenant, stasis_app_name="other-app")
    error = assert_error(await tenant.api.patch(f"{CONFIGS}/{second['id']}", json={"stasis_app_name": "dograh"}),
                         409, "conflict")
    assert "Stasis app" in error["message"]
    assert (await tenant.api.get(f"{CONFIGS}/{second['id']}")).json()["stasis_app_name"] == "other-app"
    assert len((await tenant.api.get(CONFIGS)).json()["items"]) == 2
    assert first["id"] != second["id"]


# Phone numbers ---------------------------------------------------------------------------------

async def test_number_crud(tenant: Tenant) -> None:
    config = await new_config(tenant)
    workflow = await new_workflow(tenant)
    numbers = f"{CONFIGS}/{config['id']}/phone-numbers"
    number = await new_number(tenant, config["id"], "8000", workflow["id"])
    assert number | {"id": 0} == {"id": 0, "telephony_configuration_id": config["id"], "address": "8000",
                                  "label": "Reception", "inbound_workflow_id": workflow["id"]}
    url = f"{numbers}/{number['id']}"
    assert (await tenant.api.get(url)).json() == number
    assert (await tenant.api.get(numbers)).json() == {"items": [number]}
    assert (await tenant.api.get(f"{CONFIGS}/{config['id']}")).json()["phone_number_count"] == 1

    patched = await tenant.api.patch(url, json={"label": "Front", "inbound_workflow_id": None})
    assert patched.status_code == 200, patched.text
    assert patched.json() == number | {"label": "Front", "inbound_workflow_id": None}
    put = await tenant.api.put(url, json={"address": "8001", "label": "", "inbound_workflow_id": workflow["id"]})
    assert put.json() == number | {"address": "8001", "label": ""}

    assert_error(await tenant.api.post(numbers, json={"address": "8001"}), 409, "conflict")
    other_number = await new_number(tenant, config["id"], "8002")
    assert_error(await tenant.api.patch(f"{numbers}/{other_number['id']}", json={"address": "8001"}), 409)

    assert (await tenant.api.delete(url)).status_code == 204
    assert_error(await tenant.api.get(url), 404)
    assert_error(await tenant.api.delete(url), 404)
    assert (await tenant.api.get(numbers)).json() == {"items": [other_number]}


@pytest.mark.parametrize("body, field", [
    ({"address": ""}, "address"),
    ({"address": "80 00"}, "address"),
    ({"address": "8" * 33}, "address"),
    ({"address": "8000", "label": "x" * 101}, "label"),
    ({"address": "8000", "inbound_workflow_id": "abc"}, "inbound_workflow_id"),
    ({"address": "8000", "inbound_workflow_id": 1.5}, "inbound_workflow_id"),
    ({"address": "8000", "inbound_workflow_id": -1}, "inbound_workflow_id"),
    ({"address": "8000", "inbound_workflow_id": 0}, "inbound_workflow_id"),
    ({"address": "8000", "inbound_workflow_id": "0"}, "inbound_workflow_id"),
    ({"address": "8000", "inbound_workflow_id": 2**70}, "inbound_workflow_id"),
    ({"address": "8000", "inbound_workflow_id": True}, "inbound_workflow_id"),
    ({"address": "8000", "inbound_workflow_id": 999999}, "inbound_workflow_id"),
])
async def test_number_validation(tenant: Tenant, body: dict[str, Any], field: str) -> None:
    config = await new_config(tenant)
    error = assert_error(await tenant.api.post(f"{CONFIGS}/{config['id']}/phone-numbers", json=body), 422)
    assert field in error["fields"]


async def test_number_cannot_use_another_organisations_workflow(tenant: Tenant, other: Tenant) -> None:
    config = await new_config(tenant)
    foreign = await new_workflow(other, "Theirs")
    numbers = f"{CONFIGS}/{config['id']}/phone-numbers"
    error = assert_error(await tenant.api.post(numbers, json={"address": "8000", "inbound_workflow_id": foreign["id"]}),
                         422, "validation-failed")
    assert "inbound_workflow_id" in error["fields"]
    number = await new_number(tenant, config["id"])
    assert_error(await tenant.api.patch(f"{numbers}/{number['id']}", json={"inbound_workflow_id": foreign["id"]}), 422)
    assert (await tenant.api.get(f"{numbers}/{number['id']}")).json() == number


async def test_deleting_a_configuration_removes_its_numbers(tenant: Tenant, store: Store) -> None:
    config = await new_config(tenant)
    await new_number(tenant, config["id"], "8000")
    assert (await tenant.api.delete(f"{CONFIGS}/{config['id']}")).status_code == 204
    assert await store.db.fetch_value("SELECT count(*) FROM phone_numbers") == 0


# Workflows -------------------------------------------------------------------------------------

async def test_workflow_crud(tenant: Tenant) -> None:
    samples = (await tenant.api.get(WORKFLOWS)).json()["items"]
    workflow = await create(tenant.api, WORKFLOWS, {
        "name": "Support", "definition": {"greeting": "Hi", "engine": "llm", "llm": {"model": "x"}}})
    assert workflow["greeting"] == "Hi" and workflow["definition"]["engine"] == "llm"
    assert workflow["definition"]["version"] == 1  # defaults filled in
    url = f"{WORKFLOWS}/{workflow['id']}"
    assert (await tenant.api.get(url)).json() == workflow
    assert len((await tenant.api.get(WORKFLOWS)).json()["items"]) == len(samples) + 1

    renamed = await tenant.api.patch(url, json={"name": "Help desk"})
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["definition"] == workflow["definition"]  # definition kept
    regreeted = await tenant.api.patch(url, json={"greeting": "Welcome"})
    assert regreeted.json()["name"] == "Help desk" and regreeted.json()["greeting"] == "Welcome"
    assert regreeted.json()["definition"]["engine"] == "llm"
    put = await tenant.api.put(url, json={"name": "Put", "definition": {"greeting": "Yo"}})
    assert put.json()["definition"]["engine"] == "script" and put.json()["greeting"] == "Yo"

    assert (await tenant.api.delete(url)).status_code == 204
    assert_error(await tenant.api.get(url), 404)
    assert_error(await tenant.api.delete(url), 404)


@pytest.mark.parametrize("body, field", [
    ({"name": ""}, "name"),
    ({"greeting": "hi"}, "name"),
    ({"name": 5}, "name"),
    ({"name": "x" * 101}, "name"),
    ({"name": "W", "definition": []}, "definition"),
    ({"name": "W", "definition": "{}"}, "definition"),
    ({"name": "W", "definition": {"typo": 1}}, "definition.typo"),
    ({"name": "W", "definition": {"engine": "magic"}}, "definition.engine"),
    ({"name": "W", "definition": {"version": 2}}, "definition.version"),
    ({"name": "W", "definition": {"barge_in": "yes"}}, "definition.barge_in"),
    ({"name": "W", "definition": {"end_of_speech_ms": True}}, "definition.end_of_speech_ms"),
    ({"name": "W", "definition": {"end_of_speech_ms": 1.5}}, "definition.end_of_speech_ms"),
    ({"name": "W", "definition": {"max_duration_s": 1}}, "definition.max_duration_s"),
    ({"name": "W", "greeting": "x" * 2001}, "definition.greeting"),
    ({"name": "W", "greeting": 7}, "definition.greeting"),
])
async def test_workflow_validation(tenant: Tenant, body: dict[str, Any], field: str) -> None:
    error = assert_error(await tenant.api.post(WORKFLOWS, json=body), 422, "validation-failed")
    assert field in error["fields"], error


async def test_workflow_in_use_cannot_be_deleted(tenant: Tenant) -> None:
    workflow = await new_workflow(tenant)
    spare = await new_workflow(tenant, "Spare")
    config = await new_config(tenant)
    first = await new_number(tenant, config["id"], "8000", workflow["id"])
    await new_number(tenant, config["id"], "8123", workflow["id"])
    url = f"{WORKFLOWS}/{workflow['id']}"
    error = assert_error(await tenant.api.delete(url), 409, "workflow-in-use")
    assert "8000" in error["message"] and "8123" in error["message"]
    assert (await tenant.api.get(url)).status_code == 200

    await tenant.api.delete(f"{CONFIGS}/{config['id']}/phone-numbers/{first['id']}")
    error = assert_error(await tenant.api.delete(url), 409)
    assert "8123" in error["message"] and "8000" not in error["message"]
    await tenant.api.delete(f"{CONFIGS}/{config['id']}")
    assert (await tenant.api.delete(url)).status_code == 204
    assert (await tenant.api.get(f"{WORKFLOWS}/{spare['id']}")).status_code == 200


# Workflow runs ---------------------------------------------------------------------------------

async def test_runs_list_filters_and_pagination(tenant: Tenant, other: Tenant, store: Store) -> None:
    config = await new_config(tenant)
    workflow = await new_workflow(tenant)
    made = []
    for i in range(7):
        run = await store.runs.create(
            org_id=tenant.org_id, workflow_id=workflow["id"] if i % 2 else None,
            direction="inbound" if i < 5 else "outbound", status="completed" if i % 3 else "in_progress",
            telephony_configuration_id=config["id"] if i < 3 else None,
            caller_number=f"+1555{i}", called_number="8000", context={"i": i})
        made.append(run.id)
    foreign = await store.runs.create(org_id=other.org_id, workflow_id=None, direction="inbound", status="failed")

    listed = (await tenant.api.get(RUNS)).json()
    assert [r["id"] for r in listed["items"]] == made[::-1]
    assert listed["next_before_id"] is None
    assert foreign.id not in [r["id"] for r in listed["items"]]

    pages, cursor = [], None
    while True:
        params = {"limit": 3} | ({"before_id": cursor} if cursor else {})
        page = (await tenant.api.get(RUNS, params=params)).json()
        pages.append([r["id"] for r in page["items"]])
        cursor = page["next_before_id"]
        if cursor is None:
            break
    assert pages == [made[6:3:-1], made[3:0:-1], made[0:1]]

    async def ids(**params: Any) -> list[int]:
        response = await tenant.api.get(RUNS, params=params)
        assert response.status_code == 200, response.text
        return sorted(r["id"] for r in response.json()["items"])

    assert await ids(direction="outbound") == made[5:]
    assert await ids(status="in_progress") == [made[0], made[3], made[6]]
    assert await ids(workflow_id=workflow["id"]) == made[1::2]
    assert await ids(telephony_configuration_id=config["id"]) == made[:3]
    assert await ids(direction="inbound", status="completed") == [made[1], made[2], made[4]]
    assert await ids(since="2000-01-01", until="2999-01-01") == made
    assert await ids(since="2999-01-01") == []


@pytest.mark.parametrize("params, field", [
    ({"limit": "0"}, "limit"), ({"limit": "501"}, "limit"), ({"limit": "ten"}, "limit"),
    ({"limit": "-1"}, "limit"), ({"limit": "²"}, "limit"), ({"before_id": "x"}, "before_id"),
    ({"before_id": "-4"}, "before_id"), ({"before_id": "²"}, "before_id"), ({"before_id": "0"}, "before_id"),
    ({"workflow_id": "1.0"}, "workflow_id"), ({"telephony_configuration_id": str(2**64)}, "telephony_configuration_id"),
    ({"direction": "sideways"}, "direction"), ({"status": "happy"}, "status"),
])
async def test_runs_bad_filters_are_422(tenant: Tenant, params: dict[str, str], field: str) -> None:
    error = assert_error(await tenant.api.get(RUNS, params=params), 422, "validation-failed")
    assert field in error["fields"]


async def test_run_detail_with_events(tenant: Tenant, other: Tenant, store: Store) -> None:
    workflow = await new_workflow(tenant)
    run = await store.runs.create(org_id=tenant.org_id, workflow_id=workflow["id"], direction="inbound",
                                  status="in_progress", call_id="chan-1", context={"caller_number": "+1555"})
    await store.runs.add_event(run.id, "transcript", role="user", text="hello", data={"confidence": 0.9})
    await store.runs.add_event(run.id, "dtmf", data={"digit": "1"})
    body = (await tenant.api.get(f"{RUNS}/{run.id}")).json()
    assert body["id"] == run.id and body["workflow_name"] == "Sales" and body["status"] == "in_progress"
    assert body["context"] == {"caller_number": "+1555"} and body["call_id"] == "chan-1"
    assert [(e["kind"], e["role"], e["text"], e["data"]) for e in body["events"]] == [
        ("transcript", "user", "hello", {"confidence": 0.9}), ("dtmf", None, None, {"digit": "1"})]
    assert_error(await other.api.get(f"{RUNS}/{run.id}"), 404, "not-found")
    assert_error(await tenant.api.get(f"{RUNS}/{run.id + 1}"), 404, "not-found")
    assert_error(await tenant.api.get(f"{RUNS}/{2**64}"), 404, "not-found")


# Authentication --------------------------------------------------------------------------------

@pytest.mark.parametrize("authorization", [
    None, "", "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Bearer not-a-key", "Bearer sb_1234567_x",
    "Bearer sb_12345678_unknownsecretunknownsecret", "Token sb_12345678_x",
])
async def test_api_needs_a_valid_key(tenant: Tenant, client: httpx.AsyncClient, authorization: str | None) -> None:
    config = await new_config(tenant)
    headers = {} if authorization is None else {"Authorization": authorization}
    for method, url in [("GET", CONFIGS), ("POST", CONFIGS), ("GET", f"{CONFIGS}/{config['id']}"),
                        ("DELETE", f"{CONFIGS}/{config['id']}"), ("GET", WORKFLOWS), ("GET", RUNS),
                        ("PATCH", f"{WORKFLOWS}/1"), ("GET", f"{CONFIGS}/{config['id']}/phone-numbers")]:
        response = await client.request(method, url, headers=headers, json=config_body())
        assert_error(response, 401, "auth-required")
    assert (await tenant.api.get(f"{CONFIGS}/{config['id']}")).status_code == 200


async def test_key_with_right_prefix_but_wrong_secret_is_refused(tenant: Tenant, client: httpx.AsyncClient) -> None:
    forged = tenant.key[:-4] + ("AAAA" if not tenant.key.endswith("AAAA") else "BBBB")
    assert_error(await client.get(CONFIGS, headers={"Authorization": f"Bearer {forged}"}), 401)
    ok = await client.get(CONFIGS, headers={"Authorization": f"bearer {tenant.key}"})
    assert ok.status_code == 200


async def test_invalid_key_does_not_fall_back_to_the_session(browser: httpx.AsyncClient) -> None:
    assert (await browser.get(CONFIGS)).status_code == 200  # a logged-in browser may read the API
    assert_error(await browser.get(CONFIGS, headers={"Authorization": "Bearer sb_12345678_nope"}), 401)


# Organisation scoping --------------------------------------------------------------------------

async def test_other_organisations_objects_are_404_and_unchanged(tenant: Tenant, other: Tenant, store: Store) -> None:
    workflow = await new_workflow(other, "Theirs")
    config = await new_config(other)
    number = await new_number(other, config["id"], "8000", workflow["id"])
    run = await store.runs.create(org_id=other.org_id, workflow_id=workflow["id"], direction="inbound",
                                  status="completed")
    mine = await new_config(tenant, stasis_app_name="mine")
    c, n, w = f"{CONFIGS}/{config['id']}", f"{CONFIGS}/{config['id']}/phone-numbers/{number['id']}", \
        f"{WORKFLOWS}/{workflow['id']}"
    before = {url: (await other.api.get(url)).json() for url in (c, n, w, f"{c}/phone-numbers")}

    attempts = [
        ("GET", c), ("PUT", c), ("PATCH", c), ("DELETE", c), ("GET", f"{c}/status"),
        ("GET", f"{c}/phone-numbers"), ("POST", f"{c}/phone-numbers"),
        ("GET", n), ("PUT", n), ("PATCH", n), ("DELETE", n),
        # their number id under my own configuration
        ("GET", f"{CONFIGS}/{mine['id']}/phone-numbers/{number['id']}"),
        ("PATCH", f"{CONFIGS}/{mine['id']}/phone-numbers/{number['id']}"),
        ("DELETE", f"{CONFIGS}/{mine['id']}/phone-numbers/{number['id']}"),
        ("GET", w), ("PUT", w), ("PATCH", w), ("DELETE", w), ("GET", f"{RUNS}/{run.id}"),
    ]
    body = config_body(name="Hijacked", address="9999", label="Hijacked", inbound_workflow_id=None)
    for method, url in attempts:
        assert_error(await tenant.api.request(method, url, json=body), 404, "not-found")

    assert {url: (await other.api.get(url)).json() for url in before} == before
    assert workflow["id"] not in [x["id"] for x in (await tenant.api.get(WORKFLOWS)).json()["items"]]
    assert config["id"] not in [x["id"] for x in (await tenant.api.get(CONFIGS)).json()["items"]]
    assert (await tenant.api.get(RUNS)).json()["items"] == []
    assert (await tenant.api.get(RUNS, params={"workflow_id": workflow["id"]})).json()["items"] == []


def route_urls(app: Starlette, ids: dict[str, int]) -> list[tuple[str, str]]:
    """(method, url) of every HTTP route in the routing table, path ids filled from `ids`."""
    found = []
    for route in app.routes:
        if isinstance(route, Route):
            url = re.sub(r"\{(\w+)(?::\w+)?\}", lambda m: str(ids[m.group(1)]), route.path)
            found += [(method, url) for method in sorted(route.methods or ()) if method != "HEAD"]
    return found


async def test_every_route_guards_its_objects(tenant: Tenant, other: Tenant, app: Starlette, store: Store,
                                              client: httpx.AsyncClient, browser: httpx.AsyncClient) -> None:
    """Walks the routing table, so routes added later are held to the same rules: every API route
    wants a key, another organisation's ids are 404 everywhere, and nothing answers 500."""
    config = await new_config(other)
    workflow = await new_workflow(other, "Theirs")
    number = await new_number(other, config["id"], "8000", workflow["id"])
    run = await store.runs.create(org_id=other.org_id, workflow_id=workflow["id"], direction="inbound",
                                  status="in_progress")
    theirs = {"config_id": config["id"], "number_id": number["id"], "workflow_id": workflow["id"], "run_id": run.id}
    snapshot = (await other.api.get(f"{CONFIGS}/{config['id']}/phone-numbers")).json()
    routes = route_urls(app, theirs)
    assert len(routes) > 40
    for method, url in routes:
        api = url.startswith("/api/")
        if api:
            assert_error(await client.request(method, url, json={}), 401, "auth-required")
        if any(str(v) in url.split("/") for v in theirs.values()) and "{" not in url:
            me = tenant.api if api else browser
            response = await me.request(method, url, json={} if api else None)
            assert response.status_code == 404, (method, url, response.status_code)
    for method, url in route_urls(app, dict.fromkeys(theirs, 2**64)) + routes:
        for body in ({}, {"name": ["x"], "id": 2**70}):
            response = await tenant.api.request(method, url, json=body)
            assert response.status_code < 500 or (url == "/readyz" and response.status_code == 503), (method, url)
    assert (await other.api.get(f"{CONFIGS}/{config['id']}/phone-numbers")).json() == snapshot
    assert (await store.runs.get(other.org_id, run.id)) is not None


# Secrets -------------------------------------------------------------------------------------

def raw_database_bytes(store: Store) -> bytes:
    path = store.db.path
    wal = path.with_name(path.name + "-wal")
    return path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")


async def test_password_round_trips_and_is_encrypted_at_rest(tenant: Tenant, store: Store) -> None:
    config = await new_config(tenant, app_password=NASTY_PASSWORD)
    assert await store.configs.ari_password(config["id"]) == NASTY_PASSWORD
    raw = raw_database_bytes(store)
    assert store.db.path.with_name(store.db.path.name + "-wal").exists()
    for form in (NASTY_PASSWORD, "p&#:%ü"):
        assert form.encode() not in raw
    assert NASTY_PASSWORD.encode("utf-16-le") not in raw

    url = f"{CONFIGS}/{config['id']}"
    for blank in ({"app_password": ""}, {"app_password": None}, {}):
        assert (await tenant.api.patch(url, json={"name": "Kept"} | blank)).status_code == 200
        assert await store.configs.ari_password(config["id"]) == NASTY_PASSWORD
    changed = "n€w pa$$ & : # %"
    assert (await tenant.api.put(url, json=config_body(app_password=changed))).status_code == 200
    assert await store.configs.ari_password(config["id"]) == changed
    assert changed.encode() not in raw_database_bytes(store)


async def test_password_never_appears_in_responses(tenant: Tenant, browser: httpx.AsyncClient, app: Starlette,
                                                   store: Store) -> None:
    config = await new_config(tenant, app_password=NASTY_PASSWORD)
    workflow = await new_workflow(tenant)
    number = await new_number(tenant, config["id"], "8000", workflow["id"])
    run = await store.runs.create(org_id=tenant.org_id, workflow_id=workflow["id"], direction="inbound",
                                  status="completed", telephony_configuration_id=config["id"])
    c = f"/telephony-configurations/{config['id']}"
    mine = {"config_id": config["id"], "number_id": number["id"], "workflow_id": workflow["id"], "run_id": run.id}
    every_get = [url for method, url in route_urls(app, mine) if method == "GET"]
    seen: list[httpx.Response] = [
        await tenant.api.get(CONFIGS), await tenant.api.get(f"{CONFIGS}/{config['id']}"),
        await tenant.api.patch(f"{CONFIGS}/{config['id']}", json={"name": "x"}),
        await tenant.api.get(f"{CONFIGS}/{config['id']}/status"),
        await tenant.api.get(f"{CONFIGS}/{config['id']}/phone-numbers"),
        await tenant.api.post(CONFIGS, json=config_body(app_password=NASTY_PASSWORD)),  # 409
        await tenant.api.post(CONFIGS, json=config_body(app_password=NASTY_PASSWORD, ari_endpoint_url="x")),  # 422
    ]
    for url in ("/telephony-configurations", c, f"{c}/edit", f"{c}/status", "/workflows",
                f"{c}/phone-numbers/{number['id']}", f"{c}/phone-numbers/{number['id']}/edit"):
        for headers in ({}, {"HX-Request": "true"}):
            response = await browser.get(url, headers=headers)
            assert response.status_code in (200, 303), (url, response.status_code)
            seen.append(response)
    for url in every_get:  # and every other page or resource there is
        seen += [await browser.get(url), await browser.get(url, headers={"HX-Request": "true"}),
                 await tenant.api.get(url)]
    # A refused edit re-renders the form: the password typed in must not come back either.
    seen.append(await browser.post(c, data=config_body(app_password=NASTY_PASSWORD, ari_endpoint_url="bad"),
                                   headers={"HX-Request": "true"}))
    seen.append(await browser.post(c, data=config_body(app_password=NASTY_PASSWORD, ari_endpoint_url="bad")))
    assert [r.status_code for r in seen[-2:]] == [422, 422]
    for response in seen:
        text = response.text
        for form in (NASTY_PASSWORD, "p&amp;#:%", "p&#:%", "p&#x26;", "p%26%23"):
            assert form not in text, response.request.url
    detail = next(r for r in seen if r.request.url.path == c and "hx-request" not in r.request.headers)
    assert "Stasis(dograh)" in detail.text and "password = " in detail.text  # the Asterisk snippets


# Error shapes ----------------------------------------------------------------------------------

async def test_unknown_api_routes_and_methods_are_json(tenant: Tenant) -> None:
    assert_error(await tenant.api.get(f"{API}/nope"), 404, "not-found")
    not_allowed = await tenant.api.post(RUNS, json={})
    assert_error(not_allowed, 405, "method-not-allowed")
    assert "GET" in not_allowed.headers["allow"]
    assert_error(await tenant.api.get(f"{CONFIGS}/{2**63}"), 404, "not-found")
    assert_error(await tenant.api.get(f"{CONFIGS}/{10**30}/phone-numbers/1"), 404)
    assert_error(await tenant.api.get(f"{CONFIGS}/0"), 404)
    assert_error(await tenant.api.get(f"{CONFIGS}/-1"), 404)
    assert_error(await tenant.api.get(f"{CONFIGS}/1.5"), 404)


@pytest.mark.parametrize("content, status", [
    (b"{not json", 400), (b"[1, 2]", 400), (b'"text"', 400), (b"null", 400), (b"\xff\xfe", 400),
    (b'{"name": NaN}', 400), (b'{"name": "\\ud800"}', 400), (b"[" * 100_000, 400),
    (b"{}" + b" " * 1_000_001, 413),
])
async def test_bad_bodies(tenant: Tenant, content: bytes, status: int) -> None:
    response = await tenant.api.post(CONFIGS, content=content, headers={"Content-Type": "application/json"})
    assert_error(response, status)


async def test_body_limit_also_without_content_length(tenant: Tenant) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"name": "'
        for _ in range(20):
            yield b"x" * 100_000
        yield b'"}'

    response = await tenant.api.post(CONFIGS, content=chunks(), headers={"Content-Type": "application/json"})
    assert "content-length" not in response.request.headers
    assert_error(response, 413, "body-too-large")


async def test_browser_session_with_proxy_basic_auth_may_use_the_api(browser: httpx.AsyncClient) -> None:
    # Only a Bearer key replaces the session; a reverse proxy's Basic credentials do not.
    response = await browser.get(CONFIGS, headers={"Authorization": "Basic dXNlcjpwYXNz"})
    assert response.status_code == 200
