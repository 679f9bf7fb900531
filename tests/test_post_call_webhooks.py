"""Post-call webhooks through the running app: a run's end queues them, the worker of the lifespan
sends them signed to a real receiver on loopback, retries after a 500, resumes after a restart,
and the delivery log shows on the call's page and in the API (real SQLite file)."""
from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from agent.tools import ToolResult, tool_event
from agent.webhooks import SIGNATURE_HEADER, signature_header, verify_signature
from app import create_app
from data.store import Store
from tests.conftest import Tenant, asgi_client
from tests.test_api import WORKFLOWS
from tests.user_system import UserSystem, json_reply, sequence
from web.accounts import create_api_key, create_organization
from web.settings import Settings
from web.state import app_state

T = TypeVar("T")
OUTBOUND = "/api/v1/organization/outbound"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(db_path=tmp_path / "data" / "switchboard.db", secret_key="test-secret-key",
                    webhook_retry_base_s=0.2)


@pytest.fixture
async def system() -> AsyncIterator[UserSystem]:
    server = await UserSystem.start()
    yield server
    await server.close()


async def until(fetch: Callable[[], Awaitable[T]], timeout: float = 10.0) -> T:
    """Await `fetch()` until it returns something truthy."""
    async with asyncio.timeout(timeout):
        while not (value := await fetch()):
            await asyncio.sleep(0.02)
    return value


async def hooked_workflow(api: httpx.AsyncClient, url: str) -> tuple[int, str]:
    """A workflow with one webhook to `url`: (its id, the generated signing secret)."""
    assert (await api.patch(OUTBOUND, json={"allowed_hosts": ["127.0.0.1"]})).status_code == 200
    created = await api.post(WORKFLOWS, json={"name": "Hooked", "definition": {"webhooks": [{"url": url}]}})
    assert created.status_code == 201, created.text
    return created.json()["id"], created.json()["webhook_secrets"][url]


async def finished_call(store: Store, org_id: int, workflow_id: int) -> int:
    """A call that answered, talked, used a tool, set variables and ended."""
    run = await store.runs.create(org_id=org_id, workflow_id=workflow_id, direction="inbound", status="in_progress",
                                  caller_number="+15550100", called_number="8000")
    await store.runs.set_status(run.id, "in_progress", answered=True)
    lookup = {"variables": {"first_name": "Ada"}, "error_id": None, "message": "", "dropped": [], "elapsed_ms": 12}
    await store.runs.add_event(run.id, "lookup", text="pre-call lookup: 1 variable", data=lookup)
    await store.runs.add_event(run.id, "transcript", role="agent", text="Hello Ada.", data={"interrupted": False})
    await store.runs.add_event(run.id, "transcript", role="caller", text="The fifth of March.", data={})
    await store.runs.add_event(run.id, "variables", text="day = 2030-03-05",
                               data={"source": "capture", "values": {"day": "2030-03-05"}})
    booked = ToolResult("book_table", 200, {"reference": "AB12"}, '{"reference":"AB12"}', 35)
    await store.runs.add_event(run.id, "tool", text="book_table", data=tool_event(booked, {"date": "2030-03-05"}))
    assert await store.runs.finish(run.id, "completed", "caller hung up")
    return run.id


async def test_delivered_once_signed_after_a_500_and_shown_in_the_log(
        tenant: Tenant, browser: httpx.AsyncClient, store: Store, system: UserSystem) -> None:
    system.route("/hook", sequence(json_reply({"error": "busy"}, 500), json_reply({"ok": True})))
    workflow_id, secret = await hooked_workflow(tenant.api, system.url("/hook"))
    run_id = await finished_call(store, tenant.org_id, workflow_id)
    log_url = f"/api/v1/workflow-runs/{run_id}/webhook-deliveries"

    async def delivered() -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = (await tenant.api.get(log_url)).json()["items"]
        return items if items and items[0]["status"] == "delivered" else []

    [delivery] = await until(delivered)
    assert delivery["attempts"] == 2 and [a["status_code"] for a in delivery["log"]] == [500, 200]
    assert delivery["log"][0]["error_id"] == "webhook-http-error" and delivery["url"] == system.url("/hook")
    first, second = system.received
    assert first.headers["x-switchboard-delivery"] == second.headers["x-switchboard-delivery"] == str(delivery["id"])
    assert first.body == second.body and second.headers["x-switchboard-event"] == "call.ended"
    assert verify_signature(secret, second.headers[SIGNATURE_HEADER.lower()], second.body)
    assert not verify_signature("whsec_" + "x" * 40, second.headers[SIGNATURE_HEADER.lower()], second.body)
    payload = json.loads(second.body)
    assert (payload["run_id"], payload["workflow_id"], payload["status"], payload["reason"]) == (
        run_id, workflow_id, "completed", "caller hung up")
    assert (payload["caller_number"], payload["called_number"], payload["direction"]) == ("+15550100", "8000",
                                                                                          "inbound")
    assert payload["variables"] == {"first_name": "Ada", "day": "2030-03-05"}
    assert [(t["name"], t["status"], t["arguments"]) for t in payload["tool_calls"]] == [
        ("book_table", 200, {"date": "2030-03-05"})]
    assert [e["text"] for e in payload["transcript"]] == ["Hello Ada.", "The fifth of March."]
    assert isinstance(payload["duration_s"], (int, float))
    run = (await tenant.api.get(f"/api/v1/workflow-runs/{run_id}")).json()
    assert run["variables"] == payload["variables"] and run["tool_calls"][0]["name"] == "book_table"
    page = (await browser.get(f"/calls/{run_id}")).text
    assert 'data-status="delivered"' in page and "HTTP 500" in page and "HTTP 200" in page
    assert "book_table" in page and "2030-03-05" in page and 'id="variables"' in page


async def test_other_organisations_do_not_see_the_deliveries(tenant: Tenant, other: Tenant, store: Store,
                                                             system: UserSystem) -> None:
    system.route("/hook", json_reply({"ok": True}))
    workflow_id, _ = await hooked_workflow(tenant.api, system.url("/hook"))
    run_id = await finished_call(store, tenant.org_id, workflow_id)
    await until(lambda: asyncio.sleep(0, system.received))
    assert (await other.api.get(f"/api/v1/workflow-runs/{run_id}/webhook-deliveries")).status_code == 404


async def test_a_workflow_without_webhooks_queues_nothing(tenant: Tenant, store: Store, app: Any,
                                                         system: UserSystem) -> None:
    quiet = (await tenant.api.post(WORKFLOWS, json={"name": "Quiet", "definition": {}})).json()
    hooked_id, _ = await hooked_workflow(tenant.api, system.url("/hook"))
    webhooks = app_state(app).webhooks
    assert await webhooks.queue(await finished_call(store, tenant.org_id, quiet["id"])) == 0
    assert await webhooks.queue(await finished_call(store, tenant.org_id, hooked_id)) == 1


async def test_pending_deliveries_resume_after_a_restart(settings: Settings, system: UserSystem) -> None:
    system.route("/hook", sequence(json_reply({}, 503), json_reply({}, 503), json_reply({"ok": True})))
    first = create_app(settings, with_ari=False)
    async with first.router.lifespan_context(first):
        store = app_state(first).store
        user = await create_organization(store, "Acme", "a@example.com", "password123")
        key = await create_api_key(store, "a@example.com")
        async with asgi_client(first, headers={"Authorization": f"Bearer {key}"}) as api:
            workflow_id, secret = await hooked_workflow(api, system.url("/hook"))
        run_id = await finished_call(store, user.organization_id, workflow_id)
        await until(lambda: asyncio.sleep(0, system.received))
    tried = len(system.received)
    second = create_app(settings, with_ari=False)
    async with second.router.lifespan_context(second):
        store = app_state(second).store

        async def delivered() -> bool:
            found = await store.webhooks.list_for_run(user.organization_id, run_id)
            return bool(found) and found[0].status == "delivered"

        await until(delivered)
    assert len(system.received) == 3 and tried in (1, 2)  # no attempt lost or repeated across the restart
    assert verify_signature(secret, system.received[-1].headers[SIGNATURE_HEADER.lower()], system.received[-1].body)


async def test_a_call_refused_over_quota_sends_its_webhook(tenant: Tenant, store: Store,
                                                         system: UserSystem) -> None:
    system.route("/hook", json_reply({"ok": True}))
    workflow_id, secret = await hooked_workflow(tenant.api, system.url("/hook"))
    await store.accounts.set_limits(tenant.org_id, 0, None)
    run, refusal = await store.runs.create_within_quota(
        org_id=tenant.org_id, workflow_id=workflow_id, direction="inbound", status="queued",
        caller_number="+15550100", called_number="8000")
    assert refusal is not None and run.status == "rejected"
    await until(lambda: asyncio.sleep(0, system.received))
    payload = json.loads(system.received[0].body)
    assert (payload["run_id"], payload["status"], payload["caller_number"]) == (run.id, "rejected", "+15550100")
    assert verify_signature(secret, system.received[0].headers[SIGNATURE_HEADER.lower()], system.received[0].body)


async def test_a_call_cut_by_a_restart_still_sends_its_webhook(settings: Settings, system: UserSystem) -> None:
    system.route("/hook", json_reply({"ok": True}))
    first = create_app(settings, with_ari=False)
    async with first.router.lifespan_context(first):
        store = app_state(first).store
        user = await create_organization(store, "Acme", "a@example.com", "password123")
        key = await create_api_key(store, "a@example.com")
        async with asgi_client(first, headers={"Authorization": f"Bearer {key}"}) as api:
            workflow_id, _ = await hooked_workflow(api, system.url("/hook"))
        live = await store.runs.create(org_id=user.organization_id, workflow_id=workflow_id, direction="inbound",
                                       status="in_progress", caller_number="+15550100", called_number="8000")
    assert system.received == []  # the process stopped with the call still open
    second = create_app(settings, with_ari=False)
    async with second.router.lifespan_context(second):
        await until(lambda: asyncio.sleep(0, system.received))
    payload = json.loads(system.received[0].body)
    assert (payload["run_id"], payload["status"], payload["reason"]) == (live.id, "failed", "server restarted")


def test_the_receiver_check_in_the_readme_accepts_exactly_our_signatures() -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    code = readme.split("```python\n", 1)[1].split("```", 1)[0]
    namespace: dict[str, Any] = {}
    exec(compile(code, "README.md", "exec"), namespace)  # the receiver code as documented
    verify = namespace["verify"]
    body = b'{"event":"call.ended","run_id":1}'
    header = signature_header("whsec_" + "k" * 30, body, int(time.time()))
    assert verify("whsec_" + "k" * 30, header, body)
    assert not verify("whsec_" + "j" * 30, header, body) and not verify("whsec_" + "k" * 30, header, body + b" ")
    old = signature_header("whsec_" + "k" * 30, body, int(time.time()) - 600)
    assert not verify("whsec_" + "k" * 30, old, body)
