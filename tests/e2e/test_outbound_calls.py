"""Outbound calls end to end: the JSON API of a real Switchboard ⇄ the fake Asterisk over loopback.

Outcomes only: what the fake was asked (REST log), what it did (events, channels, bridges, audio)
and what the run records. Every wait is on a condition with a timeout.
"""
from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx

from data.configs import ConfigFields
from tests.e2e.harness import APP, PASSWORD, WS_CLIENT, Stack, caller_audio, stack
from web.accounts import create_api_key, create_organization
from web.state import app_state

INITIATE = "/api/v1/telephony/initiate-call"


@asynccontextmanager
async def api(s: Stack, email: str = "admin@example.com") -> AsyncIterator[httpx.AsyncClient]:
    key = await create_api_key(s.store, email)
    async with httpx.AsyncClient(base_url=s.url, headers={"Authorization": f"Bearer {key}"}, timeout=10) as client:
        yield client


async def dial(client: httpx.AsyncClient, s: Stack, to: str, **extra: Any) -> int:
    response = await client.post(INITIATE, json={"telephony_configuration_id": s.config.id,
                                                 "workflow_id": s.workflow.id, "to": to, **extra})
    assert response.status_code == 202, response.text
    return int(response.json()["workflow_run_id"])


async def ended(s: Stack, run_id: int, timeout: float = 5.0) -> Any:
    return await s.wait_run(lambda r: r.id == run_id and r.ended_at is not None, timeout)


async def phases(s: Stack, run_id: int) -> list[str]:
    return [e.data["phase"] for e in await s.store.runs.events(run_id) if e.kind == "progress"]


async def wait_phase(s: Stack, run_id: int, phase: str, timeout: float = 5.0) -> None:
    import asyncio

    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while phase not in await phases(s, run_id):
        assert loop.time() < deadline, f"run {run_id} never reached {phase}: {await phases(s, run_id)}"
        await asyncio.sleep(0.01)


def originates(s: Stack) -> list[Any]:
    return [r for r in s.fake.requests if r.method == "POST" and r.path.rstrip("/").endswith("/channels")]


def external_media(s: Stack) -> list[Any]:
    return [r for r in s.fake.requests if r.path.endswith("/externalMedia")]


def stasis_start_t(s: Stack, channel_id: str) -> float:
    return next(r.t for r in s.fake.events if r.type == "StasisStart" and r.event["channel"]["id"] == channel_id)


async def test_answered_call_starts_the_agent_only_after_answer_and_completes_with_context(tmp_path: Path) -> None:
    async with stack(tmp_path) as s, api(s) as client:
        s.fake.set_outbound_behavior("6001", "answer", ringing_s=0.4)
        run_id = await dial(client, s, "6001")
        run = await s.store.runs.get(s.org_id, run_id)
        assert run is not None and run.status == "ringing" and run.direction == "outbound"
        await wait_phase(s, run_id, "ringing")
        assert not s.agent.sessions and not external_media(s) and not s.fake.media_connections
        channel = run.call_id
        assert channel is not None and channel.startswith("sbo-")

        await s.wait(lambda: s.agent.sessions)
        greeting = s.agent.greeting
        await s.wait(lambda: len(s.fake.heard(channel)) >= len(greeting) // 160 * 160, timeout=len(greeting) / 8000 + 3)
        # what was dialled: the pre-assigned id, our app and run, the caller id from the From Extension
        request = dict(originates(s)[0].query)
        assert request == {"endpoint": "PJSIP/6001", "app": APP, "appArgs": f"switchboard,run={run_id}",
                           "callerId": "6001", "timeout": "30", "channelId": channel}
        # media only after our channel entered Stasis, i.e. after the answer
        assert min(r.t for r in external_media(s)) > stasis_start_t(s, channel)
        assert s.fake.heard(channel)[: len(greeting) // 160 * 160] == greeting[: len(greeting) // 160 * 160]
        live = await s.store.runs.get(s.org_id, run_id)
        assert live is not None and live.status == "in_progress" and live.answered_at is not None

        await s.fake.caller_hangup(channel)
        run = await ended(s, run_id)
        assert run.status == "completed" and run.reason == "the called party hung up"
        assert run.context == {"caller_number": "6001", "called_number": "6001", "direction": "outbound",
                               "call_id": channel, "provider": "ari"}
        assert await phases(s, run_id) == ["dialling", "ringing", "answered"]
        await s.wait(lambda: not s.leftovers() and not s.service.controls[s.config.id].calls)
        assert len(app_state(s.app).media_registry) == 0


async def test_early_media_does_not_start_the_agent_before_the_answer(tmp_path: Path) -> None:
    async with stack(tmp_path) as s, api(s) as client:
        s.fake.set_outbound_behavior("Local/7000@*", "answer", ringing_s=0.6, early_media=True,
                                     audio=caller_audio(2))
        run_id = await dial(client, s, "Local/7000@agent-outbound")
        await wait_phase(s, run_id, "early-media")
        channel = (await s.store.runs.get(s.org_id, run_id)).call_id  # type: ignore[union-attr]
        assert any(e["dialstatus"] == "PROGRESS" for e in s.fake.events_of(channel, "Dial"))
        ringing = await s.store.runs.get(s.org_id, run_id)
        assert ringing is not None and ringing.status == "ringing" and ringing.answered_at is None
        assert not s.agent.sessions and not external_media(s) and not s.fake.bridges

        await s.wait(lambda: s.agent.sessions)
        assert min(r.t for r in external_media(s)) > stasis_start_t(s, channel)
        # the callee's audio (played after answer) reaches the agent through the bridge
        await s.wait(lambda: s.agent.audio_in.get(run_id, 0) >= 1600)
        await s.fake.caller_hangup(channel)
        run = await ended(s, run_id)
        assert run.status == "completed"
        assert await phases(s, run_id) == ["dialling", "ringing", "early-media", "answered"]
        await s.wait(lambda: not s.leftovers())


async def test_unanswered_outcomes_are_recorded_and_release_the_only_slot_at_once(tmp_path: Path) -> None:
    async with stack(tmp_path, max_calls=1) as s, api(s) as client:
        s.fake.set_outbound_behavior("6002", "noanswer")
        s.fake.set_outbound_behavior("6003", "busy", ringing_s=0.2)
        s.fake.set_outbound_behavior("9999", "nosuchexten")
        s.fake.set_outbound_behavior("6004", "congestion", ringing_s=0.1)
        cases = [
            # (to, extra, status, error id, words in the reason)
            ("6002", {"timeout": 1}, "no-answer", None, "no answer within 1 s"),
            ("Local/6003@agent-outbound", {}, "busy", None, "busy"),  # ;1 is destroyed with cause 0
            ("6003", {}, "busy", None, "busy"),
            ("Local/9999@agent-outbound", {}, "failed", "no-such-destination", "no such extension"),
            ("Bogus/123", {}, "failed", "originate-failed", "Allocation failed"),
            ("6004", {}, "failed", "dial-congestion", "congested"),
        ]
        for to, extra, status, error_id, words in cases:
            run_id = await dial(client, s, to, **extra)  # a 202 each time: the previous slot was released
            run = await ended(s, run_id)
            assert (run.status, run.error_id) == (status, error_id), (to, run)
            assert words in (run.reason or ""), (to, run.reason)
            assert await s.store.runs.active_count(s.org_id) == 0
            await s.wait(lambda: not s.leftovers() and not s.service.controls[s.config.id].calls)
        assert not s.agent.sessions and not external_media(s)
        # the dial of the unallocatable endpoint really reached Asterisk, which answered 500
        bogus = [r for r in originates(s) if dict(r.query)["endpoint"] == "Bogus/123"]
        assert bogus[0].status == 500
        # and with the one slot free, an answered call still goes through
        s.fake.set_outbound_behavior("6001", "answer", ringing_s=0.05)
        run_id = await dial(client, s, "6001")
        await s.wait(lambda: s.agent.sessions)
        channel = (await s.store.runs.get(s.org_id, run_id)).call_id  # type: ignore[union-attr]
        await s.fake.caller_hangup(channel)
        assert (await ended(s, run_id)).status == "completed"


async def test_cancel_while_ringing_hangs_up_and_records_canceled(tmp_path: Path) -> None:
    async with stack(tmp_path, max_calls=1) as s, api(s) as client:
        s.fake.set_outbound_behavior("6002", "noanswer")
        run_id = await dial(client, s, "6002")
        await wait_phase(s, run_id, "ringing")
        response = await client.post(f"/api/v1/workflow-runs/{run_id}/cancel")
        assert response.status_code == 202, response.text
        run = await ended(s, run_id)
        assert run.status == "canceled" and run.answered_at is None
        assert any(r.method == "DELETE" and run.call_id in r.path for r in s.fake.requests)
        await s.wait(lambda: not s.leftovers())
        again = await client.post(f"/api/v1/workflow-runs/{run_id}/cancel")
        assert again.status_code == 409 and again.json()["error"]["id"] == "run-ended"
        assert (await client.post("/api/v1/workflow-runs/999999/cancel")).status_code == 404
        # the slot is free again
        second = await dial(client, s, "6002")
        await wait_phase(s, second, "ringing")
        assert (await client.post(f"/api/v1/workflow-runs/{second}/cancel")).status_code == 202
        assert (await ended(s, second)).status == "canceled"
        await s.wait(lambda: not s.leftovers())
        # canceled while the originate request is still in flight: the channel it then creates is hung up
        s.fake.rest_hang(True)
        third = await dial(client, s, "6002")
        await s.wait(lambda: len(originates(s)) == 3)  # received, not yet answered
        assert (await client.post(f"/api/v1/workflow-runs/{third}/cancel")).status_code == 202
        s.fake.rest_hang(False)
        assert (await ended(s, third)).status == "canceled"
        await s.wait(lambda: not s.leftovers())
        assert len(originates(s)) == 3


def assert_error(response: httpx.Response, status: int, error_id: str, field: str | None = None) -> None:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["id"] == error_id and error["message"], error
    if field is not None:
        assert field in error["fields"], error


async def test_api_refuses_plainly_and_dials_nothing(tmp_path: Path) -> None:
    async with stack(tmp_path, max_calls=1) as s, api(s) as client:
        store, org = s.store, s.org_id

        async def config(name: str, url: str, app: str, extensions: tuple[str, ...] = ("PJSIP/6001",),
                         enabled: bool = True) -> int:
            created = await store.configs.create(org, ConfigFields(
                name, url, app, None, PASSWORD, WS_CLIENT, extensions, "PJSIP/{number}", "from-internal", enabled))
            await app_state(s.app).telephony.apply(created.id)
            return created.id

        def body(**overrides: Any) -> dict[str, Any]:
            return {"telephony_configuration_id": s.config.id, "workflow_id": s.workflow.id, "to": "6001",
                    **overrides}

        down = await config("Down", "http://127.0.0.1:9", "other")
        disabled = await config("Off", s.fake.base_url, "off", enabled=False)
        no_from = await config("NoFrom", "http://127.0.0.1:9", "nofrom", extensions=())
        broken = await config("Broken", "http://127.0.0.1:9", "broken")
        await store.db.execute("UPDATE telephony_configurations SET dial_template = ? WHERE id = ?",
                               ("PJSIP/{number},t", broken))
        other = await create_organization(store, "Other", "other@example.com", "password123")
        theirs = await store.workflows.create(other.organization_id, "Theirs", {})

        assert_error(await client.post(INITIATE, json=body(telephony_configuration_id=down)), 409, "ari-not-connected")
        assert_error(await client.post(INITIATE, json=body(telephony_configuration_id=disabled)), 409,
                     "config-disabled")
        assert_error(await client.post(INITIATE, json=body(telephony_configuration_id=no_from)), 409,
                     "no-from-extension")
        assert_error(await client.post(INITIATE, json=body(telephony_configuration_id=broken)), 409,
                     "invalid-dial-template", "dial_template")
        assert_error(await client.post(INITIATE, json=body(**{"from": "PJSIP/6009"})), 422, "from-not-allowed", "from")
        for bad in ("6001,1", "6001&PJSIP/6002", "6001\nChannel: x", "60 01", "60;01", "+"):
            assert_error(await client.post(INITIATE, json=body(to=bad)), 422, "invalid-destination", "to")
        assert_error(await client.post(INITIATE, json=body(to="")), 422, "validation-failed", "to")
        assert_error(await client.post(INITIATE, json={"to": "6001"}), 422, "validation-failed", "workflow_id")
        assert_error(await client.post(INITIATE, json=body(timeout="soon")), 422, "validation-failed", "timeout")
        assert_error(await client.post(INITIATE, json=body(telephony_configuration_id=999999)), 404, "not-found")
        assert_error(await client.post(INITIATE, json=body(workflow_id=theirs.id)), 404, "not-found")
        async with api(s, "other@example.com") as foreign:
            theirs_body = body(workflow_id=theirs.id)
            assert_error(await foreign.post(INITIATE, json=theirs_body), 404, "not-found")  # our configuration
        assert_error(await httpx.AsyncClient(base_url=s.url).post(INITIATE, json=body()), 401, "auth-required")
        assert not originates(s)
        assert await store.runs.list(org) == []  # nothing dialled, nothing recorded

        # quota: the one slot is taken by a ringing call; the refusal is recorded, nothing dialled
        s.fake.set_outbound_behavior("6002", "noanswer")
        ringing = await dial(client, s, "6002", **{"from": "6001"})
        assert_error(await client.post(INITIATE, json=body()), 429, "quota-exceeded")
        assert len(originates(s)) == 1
        rejected = (await store.runs.list(org, limit=1))[0]
        assert rejected.status == "rejected" and rejected.error_id == "quota-exceeded"
        assert (await client.post(f"/api/v1/workflow-runs/{rejected.id}/cancel")).status_code == 409
        assert (await client.post(f"/api/v1/workflow-runs/{ringing}/cancel")).status_code == 202
        assert (await ended(s, ringing)).status == "canceled"
        await s.wait(lambda: not s.leftovers())


async def test_a_channel_dialled_by_a_previous_process_is_hung_up_not_routed(tmp_path: Path) -> None:
    async with stack(tmp_path) as s:
        s.fake.set_outbound_behavior("6001", "answer", ringing_s=0.05)
        async with httpx.AsyncClient(base_url=s.fake.ari_url, auth=(APP, PASSWORD)) as ari:
            response = await ari.post("/channels", params={"endpoint": "PJSIP/6001", "app": APP,
                                                           "appArgs": "switchboard,run=999", "channelId": "sbo-old"})
            assert response.status_code == 200, response.text
        await s.wait(lambda: s.fake.events_of("sbo-old", "StasisStart"))
        await s.wait(lambda: not s.leftovers())
        assert any(r.method == "DELETE" and r.path.endswith("/channels/sbo-old") for r in s.fake.requests)
        assert await s.store.runs.list(s.org_id) == [] and not s.agent.sessions
