"""Fuzzing the forms, the JSON bodies, query strings and path ids: never a 500.

Every response must be 2xx/3xx/4xx; under /api/ every error carries the error shape. The
clients do not raise app exceptions, so a crash shows up here as a 500 response.
`SWITCHBOARD_FUZZ_EXAMPLES` raises the number of examples for a longer local run.
"""
from __future__ import annotations

import json
import os
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.definition import validate_definition
from data.store import Store
from tests.conftest import Tenant
from tests.test_api import CONFIGS, RUNS, WORKFLOWS, config_body, new_config, new_number, new_workflow

EXAMPLES = int(os.environ.get("SWITCHBOARD_FUZZ_EXAMPLES", "40"))
fuzz = settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=EXAMPLES <= 40,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

CONFIG_KEYS = ["name", "ari_endpoint_url", "stasis_app_name", "ari_username", "app_password",
               "websocket_client_name", "from_extensions", "dial_template", "transfer_context", "enabled"]
NUMBER_KEYS = ["address", "label", "inbound_workflow_id"]
WORKFLOW_KEYS = ["name", "greeting", "definition"]
DEFINITION_KEYS = ["version", "engine", "greeting", "language", "voice", "barge_in", "end_of_speech_ms",
                   "no_input_reprompt_s", "no_input_hangup_s", "max_duration_s", "recording", "farewell",
                   "script", "llm", "stt", "tts"]

NASTY_TEXT = ["", " ", "\x00", "a\x00b", "\r\n", "\t", "\x7f", "\u2028", "\ufeff", "ü☎😀", "\U0010ffff",
              "x" * 100_000, "<script>alert(1)</script>", "' OR 1=1 --", "{number}", "%s%n", "../../etc",
              "http://", "http://[::1", "http://h:99999", "https://h:0", "\\", "null", "NaN", "-1", "0",
              "1e309", "9" * 30, "PJSIP/", "/", "@", "#", "%", "&", "=", "+", "; DROP TABLE x", "²", "١٢"]
nasty_text = st.one_of(st.sampled_from(NASTY_TEXT), st.text(max_size=300))
scalars = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(2**80), max_value=2**80),
                    st.floats(allow_nan=True, allow_infinity=True), nasty_text,
                    st.sampled_from([2**63, 2**63 - 1, -(2**63), 1.0, 1.5, -0.0, 10**300]))
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=10), inner, max_size=4), max_leaves=12)


finite = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
              st.floats(allow_nan=False, allow_infinity=False), nasty_text),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6)


def maybe(good: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly plausible values (to reach the deeper checks), sometimes anything."""
    return st.one_of(good, good, finite)


def section(fields: dict[str, st.SearchStrategy[Any]]) -> st.SearchStrategy[dict[str, Any]]:
    extra = st.dictionaries(st.text(max_size=6), finite, max_size=1)
    return st.builds(lambda a, b: b | a, st.fixed_dictionaries({}, optional={k: maybe(v) for k, v in fields.items()}),
                     extra)


short = st.text(max_size=12)
state_names = st.sampled_from(["menu", "sales", "bad name", "", "x" * 41])
regexes = st.one_of(st.sampled_from(["a{4294967296}", "(", "[z-a]", "\\d+", "(?i)yes|yeah", "(a+)+$", "\\N{x}",
                                     "(?<=a+)b", "a(?i)b", "(" * 200 + ")" * 200]), short)
intent = section({"name": short, "keywords": st.lists(short, max_size=3), "regex": regexes,
                  "dtmf": st.lists(st.sampled_from(["1", "#", "*", "12", "a"]), max_size=3),
                  "say": short, "action": st.sampled_from(["goto", "transfer", "hang_up", "say", "dance"]),
                  "goto": state_names, "extension": st.sampled_from(["6001", "PJSIP/6001", "", "*9"])})
state = section({"say": short, "reprompt": short, "fallback": short, "intents": st.lists(intent, max_size=3)})
script = section({"start": state_names, "states": st.dictionaries(state_names, state, max_size=3),
                  "fallback": short, "repeat_phrases": st.lists(short, max_size=3)})
url = st.sampled_from(["http://llm:8080/v1", "https://api.example.com/v1/", "ftp://x", "http://", ""])
number = st.one_of(st.integers(-5, 10_000), st.floats(-1, 300, allow_nan=False))
llm = section({"instructions": short, "base_url": url, "model": short, "api_key": short, "temperature": number,
               "max_tokens": number, "timeout_s": number, "allowed_extensions": st.lists(short, max_size=3),
               "reprompt": short, "apology": short})
providers = st.sampled_from(["embedded", "openai", "piper", "other"])
stt = section({"provider": providers, "base_url": url, "model": short, "api_key": short})
tts = section({"provider": providers, "base_url": url, "model": short, "voice": short, "api_key": short})
definition_docs = section({
    "version": st.sampled_from([1, 2]), "engine": st.sampled_from(["script", "llm", "x"]), "greeting": short,
    "language": short, "voice": st.sampled_from(["default", "heart", "alloy"]), "barge_in": st.booleans(),
    "end_of_speech_ms": number, "no_input_reprompt_s": number, "no_input_hangup_s": number,
    "max_duration_s": number, "recording": st.booleans(), "farewell": short,
    "script": script, "llm": llm, "stt": stt, "tts": tts})


@settings(fuzz, max_examples=EXAMPLES * 10)
@given(raw=definition_docs)
def test_definition_validation_is_total_and_idempotent(raw: dict[str, Any]) -> None:
    """Never raises; a definition it accepts is plain JSON and is accepted again unchanged (a stored
    definition is re-validated when a workflow is patched)."""
    clean, errors = validate_definition(raw)
    if clean is None:
        assert errors and all(k == "definition" or k.startswith("definition.") for k in errors)
        return
    json.dumps(clean, allow_nan=False)
    assert validate_definition(clean) == (clean, {})


def body_of(keys: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    known = st.dictionaries(st.sampled_from(keys), json_values, max_size=len(keys))
    extra = st.dictionaries(st.text(max_size=8), json_values, max_size=2)
    return st.builds(lambda a, b: b | a, known, extra)


def definitions() -> st.SearchStrategy[Any]:
    return st.one_of(json_values, st.dictionaries(st.sampled_from(DEFINITION_KEYS), json_values, max_size=6))


def form_of(keys: list[str]) -> st.SearchStrategy[dict[str, str]]:
    return st.dictionaries(st.sampled_from(keys + ["x", ""]), nasty_text, max_size=len(keys) + 1)


def check(response: httpx.Response) -> None:
    request = response.request
    assert response.status_code < 500, (request.method, request.url, response.text[:500])
    if request.url.path.startswith("/api/") and response.status_code >= 400:
        error = response.json()["error"]
        assert isinstance(error["id"], str) and isinstance(error["message"], str)
        assert isinstance(error.get("fields", {}), dict)


def encode(body: Any) -> bytes:
    """JSON as any client might send it: NaN/Infinity allowed, lone surrogates escaped."""
    return json.dumps(body, allow_nan=True).encode()


@pytest.fixture
async def objects(tenant: Tenant) -> dict[str, int]:
    config = await new_config(tenant)
    workflow = await new_workflow(tenant)
    number = await new_number(tenant, config["id"], "8000", workflow["id"])
    return {"config": config["id"], "workflow": workflow["id"], "number": number["id"]}


async def send_json(t: Tenant, method: str, url: str, body: Any) -> None:
    check(await t.api.request(method, url, content=encode(body), headers={"Content-Type": "application/json"}))


# JSON API bodies -------------------------------------------------------------------------------

@fuzz
@given(body=body_of(CONFIG_KEYS))
async def test_config_bodies(tenant: Tenant, objects: dict[str, int], body: dict[str, Any]) -> None:
    url = f"{CONFIGS}/{objects['config']}"
    await send_json(tenant, "POST", CONFIGS, body)
    await send_json(tenant, "POST", CONFIGS, config_body() | body)
    await send_json(tenant, "PATCH", url, body)
    await send_json(tenant, "PUT", url, config_body() | body)
    check(await tenant.api.get(CONFIGS))
    check(await tenant.api.get(url))


@fuzz
@given(body=body_of(NUMBER_KEYS))
async def test_number_bodies(tenant: Tenant, objects: dict[str, int], body: dict[str, Any]) -> None:
    numbers = f"{CONFIGS}/{objects['config']}/phone-numbers"
    await send_json(tenant, "POST", numbers, body)
    await send_json(tenant, "PATCH", f"{numbers}/{objects['number']}", body)
    await send_json(tenant, "PUT", f"{numbers}/{objects['number']}", body)
    check(await tenant.api.get(numbers))


@fuzz
@given(body=body_of(WORKFLOW_KEYS), definition=definitions())
async def test_workflow_bodies(tenant: Tenant, objects: dict[str, int], body: dict[str, Any],
                               definition: Any) -> None:
    url = f"{WORKFLOWS}/{objects['workflow']}"
    await send_json(tenant, "POST", WORKFLOWS, body)
    await send_json(tenant, "POST", WORKFLOWS, {"name": "W", "definition": definition})
    await send_json(tenant, "PATCH", url, body)
    await send_json(tenant, "PATCH", url, {"definition": definition})
    await send_json(tenant, "PUT", url, body | {"definition": definition})
    check(await tenant.api.get(WORKFLOWS))
    check(await tenant.api.get(url))


@fuzz
@given(params=st.dictionaries(st.sampled_from(["limit", "before_id", "workflow_id", "telephony_configuration_id",
                                               "direction", "status", "since", "until", "x"]),
                              nasty_text.filter(lambda v: len(v) < 10_000), max_size=5))
async def test_run_filters(tenant: Tenant, store: Store, params: dict[str, str]) -> None:
    if not await store.runs.list(tenant.org_id, limit=1):
        await store.runs.create(org_id=tenant.org_id, workflow_id=None, direction="inbound", status="completed")
    check(await tenant.api.get(RUNS, params=params))


@fuzz
@given(ident=st.one_of(st.integers(min_value=-(2**70), max_value=2**70), st.sampled_from([2**63, 2**64, 10**40])),
       method=st.sampled_from(["GET", "PUT", "PATCH", "DELETE", "POST"]))
async def test_path_ids(tenant: Tenant, browser: httpx.AsyncClient, ident: int, method: str) -> None:
    for url in (f"{CONFIGS}/{ident}", f"{CONFIGS}/{ident}/status", f"{CONFIGS}/{ident}/phone-numbers",
                f"{CONFIGS}/{ident}/phone-numbers/{ident}", f"{WORKFLOWS}/{ident}", f"{RUNS}/{ident}"):
        response = await tenant.api.request(method, url, json={})
        check(response)
        assert response.status_code in (404, 405), (method, url, response.status_code)
    for url in (f"/telephony-configurations/{ident}", f"/telephony-configurations/{ident}/edit",
                f"/telephony-configurations/1/phone-numbers/{ident}", f"/workflows/{ident}", f"/calls/{ident}"):
        response = await browser.request(method, url, data={"name": "x"} if method in ("POST", "PUT") else None)
        check(response)
        assert response.status_code in (404, 405), (method, url, response.status_code)


# A table of values no generator is likely to hit ----------------------------------------------

NASTY_BODIES: list[bytes] = [
    b"", b" ", b"{", b"}", b"[", b"null", b"true", b"0", b"-1", b'"x"', b"[]", b"[{}]", b"{}}", b"{'a': 1}",
    b'{"name": NaN}', b'{"name": Infinity}', b'{"name": -Infinity}', b'{"name": 1e400}',
    b'{"name": "\\ud800"}', b'{"name": "\\udfff\\ud800"}', b'{"definition": {"greeting": "\\ud83d"}}',
    b'{"a": ' + b"1" * 5000 + b"}", b"[" * 50_000 + b"]" * 50_000, b'{"a":' * 10_000 + b"1" + b"}" * 10_000,
    b"\xff\xfe\x00\x00", b"\xef\xbb\xbf{}", b"\x00" * 64, b'{"name": "a"}\x00', b'{"name": "\xc3\x28"}',
    b'{"enabled": "maybe"}', b'{"inbound_workflow_id": 1.0}', b'{"inbound_workflow_id": -5}',
    b'{"inbound_workflow_id": 99999999999999999999999}', b'{"from_extensions": {"a": 1}}',
    b'{"definition": [' + b'{"a":' * 400 + b"1" + b"}" * 400 + b"]}", b'{"name": "x", "name": "y"}',
]


@pytest.mark.parametrize("content", NASTY_BODIES, ids=range(len(NASTY_BODIES)))
async def test_nasty_json_bodies(tenant: Tenant, objects: dict[str, int], content: bytes) -> None:
    targets = [("POST", CONFIGS), ("PATCH", f"{CONFIGS}/{objects['config']}"),
               ("POST", f"{CONFIGS}/{objects['config']}/phone-numbers"),
               ("PUT", f"{CONFIGS}/{objects['config']}/phone-numbers/{objects['number']}"),
               ("POST", WORKFLOWS), ("PATCH", f"{WORKFLOWS}/{objects['workflow']}")]
    for method, url in targets:
        for content_type in ("application/json", "text/plain", "application/x-www-form-urlencoded"):
            response = await tenant.api.request(method, url, content=content, headers={"Content-Type": content_type})
            check(response)
            assert response.status_code < 500
    # Whatever was accepted must still read back as valid JSON.
    for url in (CONFIGS, WORKFLOWS, f"{CONFIGS}/{objects['config']}/phone-numbers"):
        response = await tenant.api.get(url)
        assert response.status_code == 200 and isinstance(response.json()["items"], list)


# HTML forms ------------------------------------------------------------------------------------

def form_targets(objects: dict[str, int]) -> list[str]:
    c = f"/telephony-configurations/{objects['config']}"
    return ["/telephony-configurations", c, f"{c}/phone-numbers", f"{c}/phone-numbers/{objects['number']}",
            "/workflows", f"/workflows/{objects['workflow']}"]


@fuzz
@given(form=form_of(CONFIG_KEYS + NUMBER_KEYS + WORKFLOW_KEYS), htmx=st.booleans(), multipart=st.booleans())
async def test_forms(browser: httpx.AsyncClient, objects: dict[str, int], form: dict[str, str], htmx: bool,
                     multipart: bool) -> None:
    headers = {"HX-Request": "true"} if htmx else {}
    for url in form_targets(objects):
        if multipart:
            response = await browser.post(url, files={k: (None, v.encode("utf-8", "surrogatepass"))
                                                      for k, v in form.items()} or {"x": (None, b"")},
                                          headers=headers)
        else:
            response = await browser.post(url, data=form, headers=headers)
        check(response)
    for url in form_targets(objects):
        check(await browser.get(url))  # whatever was saved still renders


@fuzz
@given(form=form_of(["email", "password", "next", "org"]))
async def test_login_and_setup_forms(clients: Any, tenant: Tenant, form: dict[str, str]) -> None:
    c = clients(headers={"Origin": "http://testserver"})
    for url in ("/login", "/setup"):
        response = await c.post(url, data=form)
        check(response)
        assert response.status_code in (303, 401, 422, 429), (url, response.status_code)  # 429: login throttle


NASTY_FORMS: list[tuple[str, bytes]] = [
    ("application/x-www-form-urlencoded", b"%"),
    ("application/x-www-form-urlencoded", b"name=%ZZ&address=%"),
    ("application/x-www-form-urlencoded", b"name=%ff%fe&address=%c3%28"),
    ("application/x-www-form-urlencoded", b"name=%00&label=%ed%a0%80"),
    ("application/x-www-form-urlencoded", b"=&&&==&name"),
    ("application/x-www-form-urlencoded", b"name=" + b"x" * 2_000_000),
    ("application/x-www-form-urlencoded", b"&".join(b"f%d=1" % i for i in range(5000))),
    ("application/x-www-form-urlencoded", b"\xff\xfe\x00garbage"),
    ("application/x-www-form-urlencoded; charset=utf-16", b"name=x"),
    ("application/json", b'{"name": "x"}'),
    ("text/plain", b"name=x"),
    ("multipart/form-data", b"--x\r\n"),
    ("multipart/form-data; boundary=", b"--\r\n"),
    ("multipart/form-data; boundary=x", b""),
    ("multipart/form-data; boundary=x", b"--x\r\nContent-Disposition: form-data\r\n\r\nv\r\n--x--\r\n"),
    ("multipart/form-data; boundary=x", b"--x\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\nunterminated"),
    ("multipart/form-data; boundary=x",
     b"--x\r\nContent-Disposition: form-data; name=\"name\"; filename=\"a.txt\"\r\n\r\nfile\r\n--x--\r\n"),
    ("multipart/form-data; boundary=x", b"--x\r\nContent-Disposition: form-data; name=\"\xff\"\r\n\r\nv\r\n--x--\r\n"),
    ("multipart/form-data; boundary=x", b"--x\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\n\xff\xfe\r\n--x--\r\n"),
    ("multipart/form-data; boundary=x; charset=nonsense",
     b"--x\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\nv\r\n--x--\r\n"),
    ("multipart/form-data; boundary=x", b"--x\r\n" + b"X-Header: y\r\n" * 2000 + b"\r\nv\r\n--x--\r\n"),
    ("multipart/form-data; boundary=x",
     b"".join(b"--x\r\nContent-Disposition: form-data; name=\"f%d\"\r\n\r\nv\r\n" % i for i in range(500)) + b"--x--\r\n"),
    ("multipart/form-data; boundary=x", b"garbage before\r\n--x\r\n\r\n--x--"),
]


@pytest.mark.parametrize("content_type, content", NASTY_FORMS, ids=range(len(NASTY_FORMS)))
async def test_malformed_form_bodies(browser: httpx.AsyncClient, objects: dict[str, int], content_type: str,
                                     content: bytes) -> None:
    for url in [*form_targets(objects), "/login", "/logout"]:
        for headers in ({}, {"HX-Request": "true"}):
            response = await browser.post(url, content=content, headers={"Content-Type": content_type, **headers})
            check(response)


NASTY_DEFINITIONS = ['{"greeting": 5}', '{"greeting": null}', '{"greeting": ["a"]}', '{"script": {"x": NaN}}',
                     '{"llm": {"x": Infinity}}', '{"farewell": 1e400}', '{"voice": "\\ud800"}', "[" * 50_000,
                     '{"a":' * 5_000, '"text"', "null", "1", '{"greeting": "\\u0000\\u001f"}', "{} {}", "\ufeff{}"]


@pytest.mark.parametrize("definition", NASTY_DEFINITIONS, ids=range(len(NASTY_DEFINITIONS)))
async def test_nasty_workflow_definitions_in_forms(tenant: Tenant, browser: httpx.AsyncClient,
                                                   objects: dict[str, int], definition: str) -> None:
    for url in ("/workflows", f"/workflows/{objects['workflow']}"):
        for data in ({"name": "W", "definition": definition}, {"name": "W", "greeting": "Hi", "definition": definition}):
            for headers in ({}, {"HX-Request": "true"}):
                check(await browser.post(url, data=data, headers=headers))
    assert (await browser.get("/workflows")).status_code == 200
    assert (await browser.get(f"/workflows/{objects['workflow']}")).status_code == 200
    assert (await tenant.api.get(WORKFLOWS)).status_code == 200
