"""Post-call webhook delivery end to end: the delivery log in a real SQLite file, the worker with an
injected clock, a real receiver on loopback that checks the signature. Also the organisation's
allowed hosts as stored, and the log's scoping."""
from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from agent.hosts import HostPolicy
from agent.outbound_http import OutboundClient
from agent.webhook_worker import Clock, DeliveryStore, SystemClock, WebhookWorker
from agent.webhooks import RetryPolicy, build_payload, encode_body, verify_signature
from data.errors import Conflict
from data.store import Store
from data.webhooks import utc_text
from tests.fake_asterisk.harness import wait_for
from tests.test_outbound_http import closed_port
from tests.user_system import Received, UserSystem, json_reply, sequence, text_reply

SECRET = "whsec_0123456789abcdef0123"
START = 1_772_445_600.0  # 2026-03-02T10:00:00Z


@dataclass
class FakeClock:
    """Time moves only when the worker sleeps (at once) or a test advances it."""
    t: float = START

    def now(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        self.t += seconds
        await asyncio.sleep(0)


class IdleSignal(SystemClock):
    """Real time; says when the worker goes to sleep."""
    def __init__(self) -> None:
        self.sleeping = asyncio.Event()

    async def sleep(self, seconds: float) -> None:
        self.sleeping.set()
        await super().sleep(seconds)


async def until(check: Callable[[], Awaitable[bool]], timeout: float = 5.0) -> None:
    """Poll an async condition (no fixed sleeps in tests)."""
    async with asyncio.timeout(timeout):
        while not await check():
            await asyncio.sleep(0.005)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    opened = await Store.open(tmp_path / "switchboard.db", "test-secret-key")
    yield opened
    await opened.close()


@pytest.fixture
async def system() -> AsyncIterator[UserSystem]:
    server = await UserSystem.start()
    yield server
    await server.close()


@pytest.fixture
async def outbound() -> AsyncIterator[OutboundClient]:
    client = OutboundClient()
    yield client
    await client.aclose()


async def new_org(store: Store, name: str = "Acme", allow_loopback: bool = True) -> int:
    org, _ = await store.accounts.create_organization_with_admin(name, f"admin@{name.lower()}.example", "hash")
    if allow_loopback:
        await store.outbound.set(org.id, ["127.0.0.1"], False)
    return org.id


async def finished_call(store: Store, org_id: int) -> tuple[int, str]:
    """A finished run and the webhook body built for it."""
    created = await store.runs.create(org_id=org_id, workflow_id=None, direction="inbound", status="in_progress",
                                      caller_number="+441632960000", called_number="7000")
    await store.runs.add_event(created.id, "transcript", role="caller", text="Next Tuesday please")
    await store.runs.finish(created.id, "completed", "caller hung up")
    run = await store.runs.get(org_id, created.id)
    assert run is not None
    body = encode_body(build_payload(run, await store.runs.events(run.id), {"first_name": "Ada"}))
    return run.id, body.decode()


def worker_for(store: Store, outbound: OutboundClient, clock: Clock | None = None,
               retry: RetryPolicy | None = None) -> WebhookWorker:
    deliveries: DeliveryStore = store.webhooks  # the data repository satisfies the agent's protocol

    async def hosts_for(org_id: int) -> HostPolicy:  # what the app wires
        setting = await store.outbound.get(org_id)
        return HostPolicy.from_setting(setting.allowed_hosts, setting.only_listed)
    return WebhookWorker(deliveries, outbound, hosts_for, clock=clock or FakeClock(), retry=retry,
                         jitter=lambda: 0.0)


def signed_correctly(request: Received, at: float) -> bool:
    return verify_signature(SECRET, request.headers["x-switchboard-signature"], request.body, now=at)


async def test_delivered_once_with_a_valid_signature(store: Store, system: UserSystem,
                                                     outbound: OutboundClient) -> None:
    system.route("/hooks", json_reply({"ok": True}))
    org = await new_org(store)
    run_id, body = await finished_call(store, org)
    clock = FakeClock()
    delivery_id = await store.webhooks.enqueue(org_id=org, run_id=run_id, url=system.url("/hooks"), secret=SECRET,
                                               body=body, now=clock.now())
    worker = worker_for(store, outbound, clock)
    assert await worker.run_once() == 1
    assert await worker.run_once() == 0  # nothing left to send
    (request,) = system.received
    assert signed_correctly(request, clock.now())
    assert request.headers["x-switchboard-event"] == "call.ended"
    assert request.headers["x-switchboard-delivery"] == str(delivery_id)
    sent = json.loads(request.body)
    assert sent["run_id"] == run_id and sent["variables"] == {"first_name": "Ada"}
    assert sent["transcript"][0]["text"] == "Next Tuesday please"
    (delivery,) = await store.webhooks.list_for_run(org, run_id)
    assert (delivery.status, delivery.attempts, delivery.last_status_code, delivery.next_attempt_at) == \
        ("delivered", 1, 200, None)
    assert [(a.attempt, a.status_code, a.error_id) for a in await store.webhooks.attempts(org, delivery_id)] == \
        [(1, 200, None)]
    secret_left = await store.db.fetch_value("SELECT secret_enc FROM webhook_deliveries WHERE id = ?", (delivery_id,))
    assert secret_left is None  # a final delivery keeps no secret


async def test_retried_after_a_500_then_delivered(store: Store, system: UserSystem, outbound: OutboundClient) -> None:
    system.route("/hooks", sequence(text_reply("database down", 500), json_reply({"ok": True})))
    org = await new_org(store)
    run_id, body = await finished_call(store, org)
    clock = FakeClock()
    delivery_id = await store.webhooks.enqueue(org_id=org, run_id=run_id, url=system.url("/hooks"), secret=SECRET,
                                               body=body, now=clock.now())
    worker = worker_for(store, outbound, clock)
    await worker.run_once()
    delivery = await store.webhooks.get(org, delivery_id)
    assert delivery is not None and (delivery.status, delivery.attempts) == ("pending", 1)
    assert delivery.next_attempt_at == utc_text(START + 5)  # 10 s backoff, jitter 0: half of it
    assert await worker.run_once() == 0 and len(system.received) == 1  # not due yet
    clock.t += 5
    assert await worker.run_once() == 1
    assert [r.body for r in system.received] == [body.encode()] * 2
    assert [r.headers["x-switchboard-delivery"] for r in system.received] == [str(delivery_id)] * 2
    assert signed_correctly(system.received[0], START) and signed_correctly(system.received[1], START + 5)
    attempts = await store.webhooks.attempts(org, delivery_id)
    assert [(a.attempt, a.at, a.status_code, a.error_id, a.message) for a in attempts] == [
        (1, "2026-03-02T10:00:00.000Z", 500, "webhook-http-error", "HTTP 500: database down"),
        (2, "2026-03-02T10:00:05.000Z", 200, None, "")]
    final = await store.webhooks.get(org, delivery_id)
    assert final is not None and (final.status, final.attempts) == ("delivered", 2)


async def test_what_is_retried_and_what_is_final(store: Store, system: UserSystem, outbound: OutboundClient) -> None:
    system.route("/gone", json_reply({"error": "unknown hook"}, 404))
    system.route("/busy", text_reply("slow down", 429, headers={"Retry-After": "120"}))
    org = await new_org(store)
    run_id, body = await finished_call(store, org)
    clock = FakeClock()
    urls = {"gone": system.url("/gone"), "busy": system.url("/busy"),
            "down": f"http://127.0.0.1:{closed_port()}/hooks", "private": "http://10.0.0.7/hooks"}
    ids = {name: await store.webhooks.enqueue(org_id=org, run_id=run_id, url=url, secret=SECRET, body=body,
                                              now=clock.now()) for name, url in urls.items()}
    await worker_for(store, outbound, clock).run_once()
    state = {name: await store.webhooks.get(org, delivery_id) for name, delivery_id in ids.items()}
    summary = {name: (d.status, d.last_status_code, d.last_error_id, d.next_attempt_at) for name, d in state.items()
               if d is not None}
    assert summary == {
        "gone": ("failed", 404, "webhook-http-error", None),  # other 4xx: never retried
        "busy": ("pending", 429, "webhook-http-error", utc_text(START + 120)),  # Retry-After honoured
        "down": ("pending", None, "tool-unreachable", utc_text(START + 5)),  # network errors are retried
        "private": ("failed", None, "tool-host-not-allowed", None),  # configuration: final at once
    }


async def test_a_delivery_is_given_up_after_the_last_attempt(store: Store, outbound: OutboundClient) -> None:
    org = await new_org(store)
    run_id, body = await finished_call(store, org)
    clock = FakeClock()
    delivery_id = await store.webhooks.enqueue(org_id=org, run_id=run_id, url=f"http://127.0.0.1:{closed_port()}/",
                                               secret=SECRET, body=body, now=clock.now())
    worker = worker_for(store, outbound, clock, RetryPolicy(max_attempts=3, base_s=1, cap_s=10))
    for _ in range(5):
        await worker.run_once()
        clock.t += 60
    delivery = await store.webhooks.get(org, delivery_id)
    assert delivery is not None and (delivery.status, delivery.attempts) == ("failed", 3)


async def test_pending_deliveries_survive_a_restart(tmp_path: Path, system: UserSystem,
                                                    outbound: OutboundClient) -> None:
    system.route("/hooks", json_reply({"ok": True}))
    first = await Store.open(tmp_path / "switchboard.db", "test-secret-key")
    org = await new_org(first)
    run_id, body = await finished_call(first, org)
    await first.webhooks.enqueue(org_id=org, run_id=run_id, url=system.url("/hooks"), secret=SECRET, body=body,
                                 now=START)
    await first.close()  # the process stops before the worker sent anything
    again = await Store.open(tmp_path / "switchboard.db", "test-secret-key")
    try:
        assert await worker_for(again, outbound, FakeClock(START + 3600)).run_once() == 1
        (delivery,) = await again.webhooks.list_for_run(org, run_id)
        assert delivery.status == "delivered" and signed_correctly(system.received[0], START + 3600)
    finally:
        await again.close()


async def test_a_changed_secret_key_fails_the_delivery_clearly(tmp_path: Path, system: UserSystem,
                                                              outbound: OutboundClient) -> None:
    first = await Store.open(tmp_path / "switchboard.db", "old-key")
    org = await new_org(first)
    run_id, body = await finished_call(first, org)
    delivery_id = await first.webhooks.enqueue(org_id=org, run_id=run_id, url=system.url("/hooks"), secret=SECRET,
                                               body=body, now=START)
    await first.close()
    again = await Store.open(tmp_path / "switchboard.db", "new-key")
    try:
        await worker_for(again, outbound).run_once()
        delivery = await again.webhooks.get(org, delivery_id)
        assert delivery is not None and (delivery.status, delivery.last_error_id) == \
            ("failed", "webhook-secret-unreadable")
        assert system.received == []
    finally:
        await again.close()


async def test_the_loop_follows_the_backoff_schedule(store: Store, system: UserSystem,
                                                     outbound: OutboundClient) -> None:
    system.route("/hooks", sequence(text_reply("", 503), text_reply("", 502), json_reply({"ok": True})))
    org = await new_org(store)
    run_id, body = await finished_call(store, org)
    delivery_id = await store.webhooks.enqueue(org_id=org, run_id=run_id, url=system.url("/hooks"), secret=SECRET,
                                               body=body, now=START)
    task = asyncio.create_task(worker_for(store, outbound, FakeClock()).run())
    try:
        async def delivered() -> bool:
            found = await store.webhooks.get(org, delivery_id)
            return found is not None and found.status == "delivered"
        await until(delivered)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    attempts = await store.webhooks.attempts(org, delivery_id)
    assert [(a.at, a.status_code) for a in attempts] == [
        (utc_text(START), 503), (utc_text(START + 5), 502), (utc_text(START + 15), 200)]  # 5 s, then 10 s


async def test_wake_sends_a_new_delivery_at_once(store: Store, system: UserSystem, outbound: OutboundClient) -> None:
    system.route("/hooks", json_reply({"ok": True}))
    org = await new_org(store)
    run_id, body = await finished_call(store, org)
    clock = IdleSignal()
    worker = worker_for(store, outbound, clock)
    worker.idle_s = 300.0  # without wake() nothing would be sent during this test
    task = asyncio.create_task(worker.run())
    try:
        await asyncio.wait_for(clock.sleeping.wait(), 5)  # the worker found nothing and went idle
        await store.webhooks.enqueue(org_id=org, run_id=run_id, url=system.url("/hooks"), secret=SECRET, body=body,
                                     now=clock.now())
        worker.wake()
        await wait_for(lambda: system.received, timeout=5)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_the_log_is_scoped_by_organisation(store: Store, system: UserSystem) -> None:
    acme, other = await new_org(store, "Acme"), await new_org(store, "Other")
    run_id, body = await finished_call(store, acme)
    with pytest.raises(Conflict):
        await store.webhooks.enqueue(org_id=other, run_id=run_id, url=system.url("/"), secret=SECRET, body=body,
                                     now=START)
    delivery_id = await store.webhooks.enqueue(org_id=acme, run_id=run_id, url=system.url("/"), secret=SECRET,
                                               body=body, now=START)
    assert await store.webhooks.get(other, delivery_id) is None
    assert await store.webhooks.list_for_run(other, run_id) == []
    assert len(await store.webhooks.list_for_run(acme, run_id)) == 1
    assert await store.runs.delete(acme, run_id)  # deleting the call deletes its delivery log
    assert await store.webhooks.get(acme, delivery_id) is None


async def test_allowed_hosts_are_stored_per_organisation(store: Store) -> None:
    acme = await new_org(store, "Acme", allow_loopback=False)
    other = await new_org(store, "Other", allow_loopback=False)
    assert (await store.outbound.get(acme)).allowed_hosts == ()
    await store.outbound.set(acme, ["crm.lan", "10.0.0.0/8"], True)
    setting = await store.outbound.get(acme)
    assert (setting.allowed_hosts, setting.only_listed) == (("crm.lan", "10.0.0.0/8"), True)
    assert (await store.outbound.get(other)).allowed_hosts == ()
    policy = HostPolicy.from_setting(setting.allowed_hosts, setting.only_listed)
    assert policy.names == {"crm.lan"} and policy.only_listed
