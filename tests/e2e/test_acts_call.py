"""An agent that acts, end to end: fake Asterisk ⇄ Switchboard (uvicorn, the embedded runtime run as
in production by `web.call_agent`) ⇄ the user's systems on a real loopback HTTP server, and the
stub OpenAI-compatible LLM. Speech is the embedded Whisper/hibari; the caller's spoken date is a
committed espeak clip (`tests/fixtures/dates`), so nothing here needs ../shared."""
from __future__ import annotations

import datetime
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from agent.capture_dates import parse_date
from agent.definition import parse_definition
from agent.runtime import AgentRuntime
from agent.webhooks import SIGNATURE_HEADER, verify_signature
from tests.e2e.harness import Stack, stack
from tests.e2e.test_llm_call import loud
from tests.e2e.test_voice_agent import runtime  # noqa: F401  (module-scoped fixture)
from tests.test_agent_llm import StubLlm, stub, text, tool  # noqa: F401  (the stub server fixture)
from tests.user_system import UserSystem, json_reply, sequence
from web.accounts import create_api_key
from web.workflow_input import seal_secrets

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "dates"
TOKEN = "Bearer crm-token-5Kq2"


@pytest.fixture
async def system() -> AsyncIterator[UserSystem]:
    server = await UserSystem.start()
    yield server
    await server.close()


async def use(s: Stack, raw: dict[str, Any]) -> dict[str, str]:
    """Store `raw` as the line's workflow, sealed as the editor saves it (secrets encrypted); allow
    the loopback systems. The webhook secrets generated, by URL."""
    sealed, generated = seal_secrets(parse_definition(raw), None, s.store.box.encrypt)
    await s.store.workflows.update(s.org_id, s.workflow.id, "Acts", sealed)
    await s.store.outbound.set(s.org_id, ["127.0.0.1"], False)
    return generated


async def said(s: Stack, run_id: int, role: str = "agent") -> list[str]:
    return [e.text or "" for e in await s.store.runs.events(run_id) if e.kind == "transcript" and e.role == role]


def booking_line(system: UserSystem, llm_url: str) -> dict[str, Any]:
    return {
        "engine": "llm", "greeting": "Hello {{first_name}}, this is the booking line.", "farewell": "Goodbye.",
        "no_input_reprompt_s": 30, "no_input_hangup_s": 60,
        "llm": {"model": "stub", "base_url": llm_url, "instructions": "You book tables for {{first_name}}."},
        "tools": [{"name": "book_table", "description": "Book a table", "method": "POST",
                   "url": system.url("/book") + "?caller={{caller_number}}",
                   "parameters": {"type": "object", "properties": {"date": {"type": "string", "format": "date"},
                                                                   "party": {"type": "integer"}},
                                  "required": ["date", "party"]},
                   "headers": [{"name": "Authorization", "value": TOKEN, "secret": True}], "timeout_s": 3}],
        "pre_call": {"url": system.url("/lookup"), "timeout_s": 2},
        "webhooks": [{"url": system.url("/hook")}]}


async def test_an_llm_call_greets_by_name_books_through_a_tool_says_the_result_and_reports_it(
        tmp_path: Path, runtime: AgentRuntime, stub: StubLlm, system: UserSystem) -> None:  # noqa: F811
    system.route("/lookup", json_reply({"first_name": "Ada"}))
    system.route("/book", json_reply({"booked": True, "reference": "AB12"}))
    system.route("/hook", sequence(json_reply({"error": "busy"}, 500), json_reply({"ok": True})))
    stub.replies = [[text("Let me book that. "), tool("book_table", {"date": "2030-03-05", "party": 2})],
                    [text("You are booked, your reference is A B 1 2."), tool("end_call", {"reason": "booked"}, 0.1)]]
    async with stack(tmp_path, runtime=runtime) as s:
        secrets = await use(s, booking_line(system, stub.base_url))
        channel = await s.fake.place_inbound_call("+15550100", "8000")
        far_end = s.fake.caller(channel)
        run = await s.wait_run(lambda r: r.status == "in_progress", timeout=10)
        greeting = "Hello Ada, this is the booking line."
        await s.wait_for_value(lambda: _has(s, run.id, greeting), timeout=20)
        await s.fake.caller_say(channel, (FIXTURES / "next_friday.ul").read_bytes())
        ended = await s.wait_run(lambda r: r.id == run.id and r.ended_at is not None, timeout=40)
        assert (ended.status, ended.reason) == ("completed", "agent hung up: booked")

        [booking] = [r for r in system.received if r.path == "/book"]
        assert booking.json() == {"date": "2030-03-05", "party": 2} and booking.query == "caller=%2B15550100"
        assert booking.headers["authorization"] == TOKEN  # decrypted only for the request
        assert "You book tables for Ada." in stub.requests[0]["messages"][0]["content"]
        assert '"reference":"AB12"' in stub.requests[1]["messages"][-1]["content"]
        events = await s.store.runs.events(run.id)
        [tool_call] = [e for e in events if e.kind == "tool"]
        assert (tool_call.data["name"], tool_call.data["status"]) == ("book_table", 200)
        agent_said = " ".join(await said(s, run.id))
        assert "You are booked, your reference is A B 1 2." in agent_said
        result_audio = [h.t for h in far_end.heard if h.t > booking.at and loud(h.data)]
        assert result_audio, "the caller heard nothing after the booking"

        delivery = await s.wait_for_value(lambda: _delivered(s, run.id), timeout=15)
        hooks = [r for r in system.received if r.path == "/hook"]
        assert len(hooks) == 2 and delivery.attempts == 2  # retried after the 500, delivered once
        assert verify_signature(secrets[system.url("/hook")], hooks[1].headers[SIGNATURE_HEADER.lower()],
                                hooks[1].body)
        payload = json.loads(hooks[1].body)
        assert payload["variables"] == {"first_name": "Ada"} and payload["tool_calls"][0]["status"] == 200
        assert payload["run_id"] == run.id and payload["status"] == "completed"
        await _shown_in_the_log(s, run.id)
        await s.wait(lambda: not s.leftovers(), timeout=5)


async def _has(s: Stack, run_id: int, line: str) -> bool:
    return line in await said(s, run_id)


async def _delivered(s: Stack, run_id: int) -> Any:
    found = await s.store.webhooks.list_for_run(s.org_id, run_id)
    return found[0] if found and found[0].status == "delivered" else None


async def _shown_in_the_log(s: Stack, run_id: int) -> None:
    """The delivery log in the API and on the call's page of the running server."""
    key = await create_api_key(s.store, "admin@example.com")
    async with httpx.AsyncClient(base_url=s.url, headers={"Authorization": f"Bearer {key}"}) as api:
        items = (await api.get(f"/api/v1/workflow-runs/{run_id}/webhook-deliveries")).json()["items"]
        assert [(i["status"], [a["status_code"] for a in i["log"]]) for i in items] == [("delivered", [500, 200])]
    async with httpx.AsyncClient(base_url=s.url, headers={"Origin": s.url}) as browser:
        login = await browser.post("/login", data={"email": "admin@example.com", "password": "password123",
                                                   "next": "/"})
        assert login.status_code == 303
        page = (await browser.get(f"/calls/{run_id}")).text
        assert 'id="deliveries"' in page and 'data-status="delivered"' in page and "HTTP 500" in page


def date_line() -> dict[str, Any]:
    return {"greeting": "Hello.", "farewell": "Goodbye.", "no_input_reprompt_s": 30, "no_input_hangup_s": 60,
            "script": {"start": "first", "states": {
                "first": {"say": "Which day?", "capture": {"name": "day", "kind": "date"}, "next": "second"},
                "second": {"say": "And the second day? Key it in, then hash.",
                           "capture": {"name": "other_day", "kind": "date"}, "next": "done"},
                "done": {"say": "Thanks.", "intents": [{"name": "bye", "dtmf": ["9"], "action": "hang_up"}]}}}}


async def test_a_script_captures_a_date_by_voice_and_one_by_keys(tmp_path: Path,
                                                                 runtime: AgentRuntime) -> None:  # noqa: F811
    async with stack(tmp_path, runtime=runtime) as s:
        await use(s, date_line())
        channel = await s.fake.place_inbound_call("+15550100", "8000")
        run = await s.wait_run(lambda r: r.status == "in_progress", timeout=10)
        await s.wait_for_value(lambda: _has(s, run.id, "Hello. Which day?"), timeout=20)
        today = datetime.date.today()
        await s.fake.caller_say(channel, (FIXTURES / "next_friday.ul").read_bytes())
        await s.wait_for_value(lambda: _has(s, run.id, "And the second day? Key it in, then hash."), timeout=30)
        await s.fake.press_dtmf(channel, "05032030#")
        await s.wait_for_value(lambda: _has(s, run.id, "Thanks."), timeout=20)
        await s.fake.press_dtmf(channel, "9")
        ended = await s.wait_run(lambda r: r.id == run.id and r.ended_at is not None, timeout=20)
        assert ended.status == "completed"
        events = await s.store.runs.events(run.id)
        values = [e.data["values"] for e in events if e.kind == "variables"]
        friday = parse_date("next Friday", today)
        assert friday is not None and values == [{"day": friday.isoformat()}, {"other_day": "2030-03-05"}]
        assert [e.text for e in events if e.kind == "dtmf"] == list("05032030#9")
