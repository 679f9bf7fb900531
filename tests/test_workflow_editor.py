"""The workflow editor (common fields + raw JSON), secrets at rest, export/import and the test chat,
through the HTML forms and the JSON API of a real app (in process, on a temporary SQLite file)."""
from __future__ import annotations

import json
import re
import socket
from html.parser import HTMLParser
from typing import Any

import httpx
import pytest

from agent.definition import DEFAULT_APOLOGY, SECRET_MASK, map_secrets, validate_definition
from agent.samples import FRONT_DESK_GREETING
from data.store import Store
from tests.conftest import Tenant
from tests.test_api import WORKFLOWS, assert_error, create
from tests.test_fuzz_forms import NASTY_FORMS

HX = {"HX-Request": "true"}
KEY = "sk-test-Zq8v3Lr5mWx1"
STT_KEY = "stt-key-Pp4t9Ya2"


class _Form(HTMLParser):
    """The fields one form would submit, in document order (like a browser, minus the buttons)."""

    def __init__(self, form_id: str) -> None:
        super().__init__()
        self.form_id, self.inside, self.fields = form_id, False, []  # type: ignore[var-annotated]
        self._textarea: str | None = None
        self._select: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.inside = a.get("id") == self.form_id
        if not self.inside or "name" not in a:
            if tag == "option" and self._select is not None and "selected" in a:
                self.fields.append((self._select, a.get("value", "")))
            return
        if tag == "input" and a.get("type") not in ("submit", "file"):
            if a.get("type") != "checkbox" or "checked" in a:
                self.fields.append((a["name"], a.get("value", "")))
        elif tag == "textarea":
            self._textarea = a["name"]
            self.fields.append((a["name"], ""))
        elif tag == "select":
            self._select = a["name"]

    def handle_data(self, data: str) -> None:
        if self._textarea is not None:
            name, text = self.fields[-1]
            self.fields[-1] = (name, text + data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "textarea":
            self._textarea = None
        elif tag == "select":
            self._select = None
        elif tag == "form":
            self.inside = False


def form_of(html: str, form_id: str = "workflow-form") -> dict[str, list[str]]:
    parser = _Form(form_id)
    parser.feed(html)
    fields: dict[str, list[str]] = {}
    for name, value in parser.fields:
        fields.setdefault(name, []).append(value.removeprefix("\n"))  # a textarea drops its first newline
    return fields


def with_values(form: dict[str, list[str]], **values: str) -> dict[str, list[str]]:
    """The form with some fields changed (a checkbox: "on"/"off" after its hidden "off")."""
    return form | {k: (["off", v] if form.get(k, [""])[0] == "off" else [v]) for k, v in values.items()}


async def front_desk(t: Tenant) -> dict[str, Any]:
    items = (await t.api.get(WORKFLOWS)).json()["items"]
    return next(w for w in items if w["name"] == "Front desk")


def workflow_id_of(response: httpx.Response) -> int:
    assert response.status_code == 303, response.text
    match = re.search(r"/workflows/(\d+)", response.headers["location"])
    assert match
    return int(match.group(1))


async def raw_db(store: Store) -> bytes:
    """Every byte SQLite holds: the main file and its write-ahead log."""
    path = store.db.path
    data = path.read_bytes()
    wal = path.with_name(path.name + "-wal")
    return data + (wal.read_bytes() if wal.exists() else b"")


# --- the form ------------------------------------------------------------------------------------

async def test_the_front_desk_round_trips_through_its_own_form(tenant: Tenant, browser: httpx.AsyncClient,
                                                               store: Store) -> None:
    desk = await front_desk(tenant)
    page = await browser.get(f"/workflows/{desk['id']}")
    form = form_of(page.text)
    assert form["greeting"] == [FRONT_DESK_GREETING] and form["engine"] == ["script"]
    assert form["barge_in"] == ["off", "on"] and form["recording"] == ["off"]
    assert json.loads(form["definition"][0])["script"]["states"]["menu"]["intents"][0]["extension"] == "7000"
    assert "greeting" not in json.loads(form["definition"][0])  # each key is edited in one place
    saved = await browser.post(f"/workflows/{desk['id']}", data=form)
    assert workflow_id_of(saved) == desk["id"]
    stored = await store.workflows.get(tenant.org_id, desk["id"])
    assert stored is not None and stored.definition == validate_definition(desk["definition"])[0]  # the same, filled in
    chat = await tenant.api.post(f"{WORKFLOWS}/{desk['id']}/chat", json={"digits": "1"})
    assert chat.json()["replies"][1]["actions"] == [{"action": "transfer", "extension": "7000"}]


async def test_common_fields_are_edited_one_by_one(tenant: Tenant, browser: httpx.AsyncClient, store: Store) -> None:
    blank = form_of((await browser.get("/workflows/new")).text)
    values = with_values(blank, name="Night line", greeting="We are closed.", farewell="Bye now.", language="en-GB",
                         end_of_speech_ms="750", no_input_reprompt_s="5", no_input_hangup_s="12",
                         max_duration_s="120", barge_in="off", recording="on")
    workflow_id = workflow_id_of(await browser.post("/workflows", data=values))
    stored = await store.workflows.get(tenant.org_id, workflow_id)
    assert stored is not None
    assert {k: stored.definition[k] for k in ("greeting", "farewell", "language", "end_of_speech_ms",
            "no_input_reprompt_s", "no_input_hangup_s", "max_duration_s", "barge_in", "recording")} == {
        "greeting": "We are closed.", "farewell": "Bye now.", "language": "en-GB", "end_of_speech_ms": 750,
        "no_input_reprompt_s": 5, "no_input_hangup_s": 12, "max_duration_s": 120, "barge_in": False,
        "recording": True}

    # Edited in place with htmx: the form comes back with the saved values.
    form = form_of((await browser.get(f"/workflows/{workflow_id}")).text)
    script = {"states": {"menu": {"intents": [{"name": "out", "dtmf": ["9"], "action": "hang_up"}]}}}
    edited = await browser.post(f"/workflows/{workflow_id}", headers=HX, data=with_values(
        form, barge_in="on", definition=json.dumps({"script": script})))
    assert edited.status_code == 200 and "<html" not in edited.text and "Saved." in edited.text
    assert form_of(edited.text)["barge_in"] == ["off", "on"]
    stored = await store.workflows.get(tenant.org_id, workflow_id)
    assert stored is not None and stored.definition["barge_in"] is True and stored.definition["language"] == "en-GB"
    assert stored.definition["script"]["states"]["menu"]["intents"][0]["dtmf"] == ["9"]


@pytest.mark.parametrize("change, field, message", [
    ({"end_of_speech_ms": "abc"}, "end_of_speech_ms", "whole number"),
    ({"end_of_speech_ms": "50"}, "end_of_speech_ms", "between 100 and 5000"),
    ({"max_duration_s": "1"}, "max_duration_s", "between 10 and 86400"),
    ({"voice": "alloy"}, "voice", "embedded voice"),
    ({"language": "fr"}, "language", "understands English only"),
    ({"greeting": "x" * 2001}, "greeting", "at most 2000"),
    ({"barge_in": "maybe"}, "barge_in", "true or false"),
    ({"engine": "magic"}, "engine", "engine must be"),
    ({"engine": "llm"}, "llm_model", "required"),
    ({"engine": "llm", "llm_model": "m", "llm_base_url": "ftp://x"}, "llm_base_url", "http://"),
    ({"definition": '{"language": "de"}'}, "definition", "language: set this with the fields above"),
    ({"definition": '{"script": {"states": {}}}'}, "definition", "script.states: needs at least one state"),
    ({"definition": '{"oops"'}, "definition", "not valid JSON"),
])
async def test_errors_show_beside_their_field(tenant: Tenant, browser: httpx.AsyncClient, store: Store,
                                             change: dict[str, str], field: str, message: str) -> None:
    desk = await front_desk(tenant)
    url = f"/workflows/{desk['id']}"
    form = with_values(form_of((await browser.get(url)).text), **change)
    for headers in ({}, HX):
        refused = await browser.post(url, data=form, headers=headers)
        assert refused.status_code == 422
        assert ("<html" in refused.text) == (not headers)
        assert re.search(rf'id="f-{field}"[^>]*aria-invalid="true"', refused.text, re.S), refused.text[-3000:]
        error = re.search(rf'id="e-{field}">(.*?)</(?:p|div)>', refused.text, re.S)
        assert error and message in error.group(1), (error and error.group(1), message)
    stored = await store.workflows.get(tenant.org_id, desk["id"])
    assert stored is not None and stored.definition == desk["definition"]  # nothing saved


async def test_the_api_reports_the_same_errors_by_path(tenant: Tenant) -> None:
    for definition, path in (({"end_of_speech_ms": 50}, "definition.end_of_speech_ms"),
                             ({"engine": "llm", "llm": {"base_url": "http://h/v1"}}, "definition.llm.model"),
                             ({"script": {"states": {"menu": {"intents": [{"name": "x", "dtmf": ["12"],
                                                                           "action": "hang_up"}]}}}},
                              "definition.script.states.menu.intents.0.dtmf.0")):
        error = assert_error(await tenant.api.post(WORKFLOWS, json={"name": "W", "definition": definition}), 422,
                             "validation-failed")
        assert path in error["fields"], error


# --- secrets -------------------------------------------------------------------------------------

def llm_definition(key: str = KEY, **extra: Any) -> dict[str, Any]:
    return {"engine": "llm", "greeting": "Hi", "llm": {"model": "m", "base_url": "http://127.0.0.1:9/v1",
                                                        "api_key": key}, **extra}


async def assert_sealed(store: Store, org_id: int, workflow_id: int, secrets: dict[str, str]) -> None:
    """Stored encrypted (nowhere in the database file), and the call path's decryption gives it back."""
    stored = await store.workflows.get(org_id, workflow_id)
    assert stored is not None
    plain = map_secrets(stored.definition, store.box.decrypt)
    for path, secret in secrets.items():
        section, key = path.split(".")
        assert stored.definition[section][key] not in ("", secret, SECRET_MASK)
        assert plain[section][key] == secret
        assert secret.encode() not in await raw_db(store)


async def test_an_api_key_saved_through_the_form_is_encrypted_and_write_only(
        tenant: Tenant, browser: httpx.AsyncClient, store: Store) -> None:
    blank = form_of((await browser.get("/workflows/new")).text)
    workflow_id = workflow_id_of(await browser.post("/workflows", data=with_values(
        blank, name="Assistant", engine="llm", llm_model="llama3.2", llm_api_key=KEY,
        definition=json.dumps({"stt": {"provider": "openai", "base_url": "http://127.0.0.1:9/v1",
                                       "api_key": STT_KEY}}))))
    await assert_sealed(store, tenant.org_id, workflow_id, {"llm.api_key": KEY, "stt.api_key": STT_KEY})
    stored = await store.workflows.get(tenant.org_id, workflow_id)
    assert stored is not None
    url = f"/workflows/{workflow_id}"
    page = (await browser.get(url)).text
    assert KEY not in page and STT_KEY not in page and stored.definition["llm"]["api_key"] not in page
    assert "leave blank to keep it" in page
    form = form_of(page)
    assert form["llm_api_key"] == [""] and json.loads(form["definition"][0])["stt"]["api_key"] == SECRET_MASK

    # Saving again with the key left blank (and the stt mask as shown) keeps both, not re-encrypted.
    assert workflow_id_of(await browser.post(url, data=with_values(form, llm_model="qwen"))) == workflow_id
    again = await store.workflows.get(tenant.org_id, workflow_id)
    assert again is not None and again.definition["llm"]["model"] == "qwen"
    assert again.definition["llm"]["api_key"] == stored.definition["llm"]["api_key"]
    assert again.definition["stt"]["api_key"] == stored.definition["stt"]["api_key"]

    # A refused save never echoes a key just typed.
    refused = await browser.post(url, data=with_values(form, llm_api_key="sk-typed-9", end_of_speech_ms="x"))
    assert refused.status_code == 422 and "sk-typed-9" not in refused.text

    # A new key replaces it; "Remove the saved API key" empties it.
    await browser.post(url, data=with_values(form, llm_api_key="sk-new-Key-77"))
    await assert_sealed(store, tenant.org_id, workflow_id, {"llm.api_key": "sk-new-Key-77"})
    await browser.post(url, data=with_values(form_of((await browser.get(url)).text), llm_api_key_clear="on"))
    cleared = await store.workflows.get(tenant.org_id, workflow_id)
    assert cleared is not None and cleared.definition["llm"]["api_key"] == ""
    assert "Remove the saved API key" not in (await browser.get(url)).text


async def test_an_api_key_saved_through_the_api_is_encrypted_and_never_returned(tenant: Tenant, store: Store) -> None:
    created = await create(tenant.api, WORKFLOWS, {"name": "Bot", "definition": llm_definition()})
    assert created["definition"]["llm"]["api_key"] == SECRET_MASK
    await assert_sealed(store, tenant.org_id, created["id"], {"llm.api_key": KEY})
    stored = await store.workflows.get(tenant.org_id, created["id"])
    assert stored is not None
    cipher = stored.definition["llm"]["api_key"]
    url = f"{WORKFLOWS}/{created['id']}"
    for response in (await tenant.api.get(url), await tenant.api.get(WORKFLOWS), await tenant.api.get(url + "/export")):
        assert KEY not in response.text and cipher not in response.text

    # PATCH without a definition, PUT of what GET returned: the stored key stays (never encrypted twice).
    assert (await tenant.api.patch(url, json={"name": "Bot 2"})).status_code == 200
    shown = (await tenant.api.get(url)).json()
    assert (await tenant.api.put(url, json={"name": "Bot 3", "definition": shown["definition"]})).status_code == 200
    kept = await store.workflows.get(tenant.org_id, created["id"])
    assert kept is not None and kept.definition["llm"]["api_key"] == cipher
    await assert_sealed(store, tenant.org_id, created["id"], {"llm.api_key": KEY})

    # A new plain key replaces it; an empty one removes it.
    await tenant.api.patch(url, json={"definition": llm_definition("sk-other-3")})
    await assert_sealed(store, tenant.org_id, created["id"], {"llm.api_key": "sk-other-3"})
    await tenant.api.patch(url, json={"definition": llm_definition("")})
    removed = await store.workflows.get(tenant.org_id, created["id"])
    assert removed is not None and removed.definition["llm"]["api_key"] == ""


# --- export / import -----------------------------------------------------------------------------

async def test_export_and_import_through_the_api(tenant: Tenant, other: Tenant, store: Store) -> None:
    created = await create(tenant.api, WORKFLOWS, {"name": "Bot", "definition": llm_definition()})
    exported = await tenant.api.get(f"{WORKFLOWS}/{created['id']}/export")
    assert exported.status_code == 200
    assert exported.headers["content-disposition"] == 'attachment; filename="bot.workflow.json"'
    document = exported.json()
    assert document["switchboard"] == "workflow" and document["name"] == "Bot"
    assert document["definition"]["llm"]["api_key"] == SECRET_MASK and KEY not in exported.text

    imported = await other.api.post(f"{WORKFLOWS}/import", json=document)  # another organisation
    assert imported.status_code == 201, imported.text
    body = imported.json()
    assert body["name"] == "Bot" and body["secrets_missing"] is True
    copy = await store.workflows.get(other.org_id, body["id"])
    assert copy is not None and copy.definition["llm"]["api_key"] == ""  # left empty, not the mask
    assert {k: v for k, v in copy.definition.items() if k != "llm"} == \
        {k: v for k, v in created["definition"].items() if k != "llm"}

    renamed = await tenant.api.post(f"{WORKFLOWS}/import", params={"name": "Copy"}, json=document)
    assert renamed.json()["name"] == "Copy"
    for bad, field in (({"name": "X"}, "definition"),
                       ({"name": "X", "definition": {"engine": "x"}}, "definition.engine"),
                       ({"definition": {}}, "name")):
        error = assert_error(await tenant.api.post(f"{WORKFLOWS}/import", json=bad), 422, "validation-failed")
        assert field in error["fields"], error
    assert_error(await other.api.get(f"{WORKFLOWS}/{created['id']}/export"), 404)


async def test_export_and_import_through_the_pages(tenant: Tenant, browser: httpx.AsyncClient, store: Store) -> None:
    desk = await front_desk(tenant)
    exported = await browser.get(f"/workflows/{desk['id']}/export")
    assert exported.status_code == 200 and "attachment" in exported.headers["content-disposition"]
    page = (await browser.get(f"/workflows/{desk['id']}")).text
    assert f'href="/workflows/{desk["id"]}/export"' in page

    files = {"file": ("front-desk.workflow.json", exported.content, "application/json")}
    imported = await browser.post("/workflows/import", files=files, data={"name": "Desk copy"})
    workflow_id = workflow_id_of(imported)
    assert imported.headers["location"].endswith("?saved=imported")
    copy = await store.workflows.get(tenant.org_id, workflow_id)
    assert copy is not None and copy.name == "Desk copy"
    assert copy.definition == validate_definition(desk["definition"])[0]
    assert "Imported." in (await browser.get(imported.headers["location"])).text

    htmx = await browser.post("/workflows/import", files=files, headers=HX)
    assert htmx.status_code == 200 and htmx.headers["hx-redirect"].startswith("/workflows/")

    for content, message in ((b"{not json", "not a JSON file"), (b"[1]", "JSON object with a name"),
                             (b'{"name": "X", "definition": {"voice": "alloy"}}', "voice: the embedded voice")):
        bad = {"file": ("w.json", content, "application/json")}
        refused = await browser.post("/workflows/import", files=bad)
        assert refused.status_code == 422 and "<html" in refused.text
        assert re.search(r'id="f-file"[^>]*aria-invalid="true"', refused.text) and message in refused.text
        inline = await browser.post("/workflows/import", files=bad, headers=HX)
        assert inline.status_code == 422 and 'id="import-form"' in inline.text and "<html" not in inline.text
    missing = await browser.post("/workflows/import", data={"name": "x"}, files={"other": ("a", b"", "text/plain")})
    assert missing.status_code == 422 and "choose a workflow file" in missing.text


# --- test chat -----------------------------------------------------------------------------------

async def chat(t: Tenant, workflow_id: int, **body: Any) -> dict[str, Any]:
    response = await t.api.post(f"{WORKFLOWS}/{workflow_id}/chat", json=body)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def test_chat_api_on_the_front_desk(tenant: Tenant) -> None:
    desk = (await front_desk(tenant))["id"]
    sales = await chat(tenant, desk, text="I'd like to talk to sales")
    greeting, reply = sales["replies"]
    assert greeting["text"] == FRONT_DESK_GREETING and greeting["actions"] == []
    assert reply["actions"] == [{"action": "transfer", "extension": "7000"}] and sales["ended"] is True

    started = await chat(tenant, desk)
    assert [r["text"] for r in started["replies"]] == [FRONT_DESK_GREETING] and started["ended"] is False
    support = await chat(tenant, desk, snapshot=started["snapshot"], digits="2")
    assert support["replies"][0]["actions"] == [{"action": "transfer", "extension": "7001"}]

    first = await chat(tenant, desk, snapshot=started["snapshot"], silence=True)
    assert first["replies"][0]["text"].startswith("Are you still there?") and first["ended"] is False
    second = await chat(tenant, desk, snapshot=first["snapshot"], silence=True)
    assert second["replies"][0]["text"] == "Thanks for calling. Goodbye."
    assert second["replies"][0]["actions"][0]["action"] == "hang_up" and second["ended"] is True
    assert_error(await tenant.api.post(f"{WORKFLOWS}/{desk}/chat", json={"snapshot": second["snapshot"], "text": "hi"}),
                 409, "chat-ended")

    # The same snapshot can be replayed (the state is in it, nowhere else).
    again = await chat(tenant, desk, snapshot=started["snapshot"], text="I have a problem")
    assert again["replies"][0]["actions"] == [{"action": "transfer", "extension": "7001"}]


async def test_chat_on_a_stored_definition_that_no_longer_parses_is_a_409(tenant: Tenant, store: Store) -> None:
    """A row written before a stricter check (or by hand): the chat says so, never a 500."""
    stale = await store.workflows.create(tenant.org_id, "Stale", {"engine": "llm", "greeting": "Hi"})
    error = assert_error(await tenant.api.post(f"{WORKFLOWS}/{stale.id}/chat", json={}), 409, "definition-invalid")
    assert "definition.llm" in error["message"]


@pytest.mark.parametrize("body, field", [
    ({"text": ""}, "text"), ({"text": 5}, "text"), ({"text": "x" * 2001}, "text"), ({"digits": "12a"}, "digits"),
    ({"digits": ""}, "digits"), ({"silence": "yes"}, "silence"), ({"text": "hi", "digits": "1"}, "digits"),
    ({"snapshot": 7, "text": "hi"}, "snapshot"), ({"snapshot": "forged", "text": "hi"}, "snapshot"),
    ({"snapshot": "", "text": "hi"}, "snapshot"), ({"what": 1}, "what"),
])
async def test_chat_api_refuses_bad_turns(tenant: Tenant, body: dict[str, Any], field: str) -> None:
    desk = (await front_desk(tenant))["id"]
    error = assert_error(await tenant.api.post(f"{WORKFLOWS}/{desk}/chat", json=body), 422)
    assert field in error["fields"], error


async def test_chat_snapshot_is_sealed_and_bound_to_its_workflow(tenant: Tenant, other: Tenant) -> None:
    desk = (await front_desk(tenant))["id"]
    created = await create(tenant.api, WORKFLOWS, {"name": "Bot", "definition": llm_definition()})
    state = (await chat(tenant, created["id"]))["snapshot"]
    assert KEY not in state and "assistant" not in state and "messages" not in state  # opaque
    error = assert_error(await tenant.api.post(f"{WORKFLOWS}/{desk}/chat", json={"snapshot": state, "text": "hi"}), 422)
    assert "another workflow" in error["fields"]["snapshot"]
    theirs = (await front_desk(other))["id"]
    assert_error(await tenant.api.post(f"{WORKFLOWS}/{theirs}/chat", json={"text": "hi"}), 404)
    tampered = state[:-6] + ("A" if state[-6] != "A" else "B") + state[-5:]
    assert_error(await tenant.api.post(f"{WORKFLOWS}/{desk}/chat", json={"snapshot": tampered, "text": "hi"}), 422)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_chat_with_an_unreachable_llm_apologises(tenant: Tenant) -> None:
    definition = llm_definition()
    definition["llm"]["base_url"] = f"http://127.0.0.1:{closed_port()}/v1"
    created = await create(tenant.api, WORKFLOWS, {"name": "Offline bot", "definition": definition})
    result = await chat(tenant, created["id"], text="Hello?")
    greeting, reply = result["replies"]
    assert greeting["text"] == "Hi" and reply["text"] == DEFAULT_APOLOGY and result["ended"] is True
    assert [a["action"] for a in reply["actions"]] == ["error", "hang_up"]
    assert reply["actions"][0]["error_id"] == "llm-unreachable"


async def test_chat_on_the_page_with_and_without_htmx(tenant: Tenant, browser: httpx.AsyncClient) -> None:
    desk = (await front_desk(tenant))["id"]
    url = f"/workflows/{desk}/chat"
    page = (await browser.get(f"/workflows/{desk}")).text
    assert 'id="workflow-chat"' in page and form_of(page, "chat-form")["state"] == [""]

    started = await browser.post(url, data={"state": "", "action": "restart"}, headers=HX)
    assert started.status_code == 200 and "<html" not in started.text and FRONT_DESK_GREETING in started.text
    state = form_of(started.text, "chat-form")["state"][0]
    assert state and "menu" not in state
    pressed = await browser.post(url, data={"state": state, "text": "", "press": "1"}, headers=HX)
    assert "pressed <kbd>1</kbd>" in pressed.text and "Transfer to extension <strong>7000</strong>" in pressed.text
    assert "The call has ended." in pressed.text

    # Without JavaScript: the whole page, with the conversation so far.
    said = await browser.post(url, data={"state": state, "text": "support please", "action": "send"})
    assert said.status_code == 200 and "<html" in said.text and 'id="workflow-form"' in said.text
    assert FRONT_DESK_GREETING in said.text and "support please" in said.text and "7001" in said.text

    empty = await browser.post(url, data={"state": state, "text": " ", "action": "send"}, headers=HX)
    assert empty.status_code == 422 and "type what the caller says" in empty.text and FRONT_DESK_GREETING in empty.text
    silent = await browser.post(url, data={"state": state, "action": "silence"}, headers=HX)
    assert "stays silent" in silent.text and "Are you still there?" in silent.text
    forged = await browser.post(url, data={"state": "forged", "text": "hi"}, headers=HX)
    assert forged.status_code == 409 and "start a new chat" in forged.text and 'id="chat-form"' in forged.text


@pytest.mark.parametrize("content_type, content", NASTY_FORMS, ids=range(len(NASTY_FORMS)))
async def test_new_forms_survive_malformed_bodies(tenant: Tenant, browser: httpx.AsyncClient, content_type: str,
                                                  content: bytes) -> None:
    desk = (await front_desk(tenant))["id"]
    for url in ("/workflows/import", f"/workflows/{desk}/chat", f"{WORKFLOWS}/import", f"{WORKFLOWS}/{desk}/chat"):
        client = tenant.api if url.startswith("/api/") else browser
        for headers in ({}, HX):
            response = await client.post(url, content=content, headers={"Content-Type": content_type, **headers})
            assert response.status_code < 500, (url, response.text[:300])
            assert response.status_code >= 400 or url.endswith("/chat"), (url, response.status_code)
