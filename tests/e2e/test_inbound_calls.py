"""Inbound calls end to end: fake Asterisk ⇄ real Switchboard over loopback sockets."""
from __future__ import annotations

from pathlib import Path

from tests.e2e.harness import APP, caller_audio, stack
from web.state import app_state


async def test_call_is_answered_bridged_greeted_and_completed(tmp_path: Path) -> None:
    async with stack(tmp_path) as s:
        greeting = s.agent.greeting
        channel = await s.fake.place_inbound_call("+15551234", "8000")
        run = await s.wait_run(lambda r: r.status == "in_progress")
        assert s.fake.channels[channel].state == "Up"
        media = await s.wait(lambda: s.fake.media_for(next(iter(
            c for c in s.fake.channels if c.startswith("sbm-")), "")))
        await s.wait(lambda: len(s.fake.bridges) == 1 and len(next(iter(s.fake.bridges.values())).channels) == 2)
        # The whole greeting reaches the caller, as whole 20 ms frames, without gaps.
        await s.wait(lambda: len(s.fake.heard(channel)) >= len(greeting) // 160 * 160, timeout=len(greeting) / 8000 + 3)
        heard = s.fake.heard(channel)
        assert heard[: len(greeting) // 160 * 160] == greeting[: len(greeting) // 160 * 160]
        assert all(len(f.data) == 160 for f in media.played)
        assert media.underruns(max_gap_ticks=0) == []
        span = media.played[-1].t - media.played[0].t
        assert abs(span - (len(media.played) - 1) * 0.020) < 0.1  # real-time pace
        await s.fake.caller_hangup(channel)
        run = await s.wait_run(lambda r: r.ended_at is not None)
        assert run.status == "completed" and run.reason == "caller hung up"
        assert run.context == {"caller_number": "+15551234", "called_number": "8000", "direction": "inbound",
                               "call_id": channel, "provider": "ari"}
        await s.wait(lambda: not s.leftovers())
        await s.wait(lambda: s.service.controls[s.config.id].calls == {})  # leaves the live table after the run's row
        assert len(app_state(s.app).media_registry) == 0


async def test_external_media_request_routes_by_channel_and_carries_complete_vparams(tmp_path: Path) -> None:
    async with stack(tmp_path) as s:
        await s.fake.place_inbound_call("100", "8000")
        run = await s.wait_run(lambda r: r.status == "in_progress")
        media = await s.wait(lambda: next((m for m in s.fake.media_connections if m.connected), None))
        assert media.subprotocol == "media"
        assert f"workflow_run_id={run.id}" in media.query
        assert f"workflow_id={s.workflow.id}" in media.query and f"user_id={s.org_id}" in media.query
        requests = [r for r in s.fake.requests if r.path.endswith("/externalMedia")]
        assert requests and requests[0].status == 200


async def test_twenty_simultaneous_calls_with_swapped_vparams_each_reach_their_own_run(tmp_path: Path) -> None:
    async with stack(tmp_path, max_calls=25) as s:
        s.fake.swap_vparams(True, window_s=0.05)
        channels = [await s.fake.place_inbound_call(f"+1555000{i:02d}", "8000") for i in range(20)]
        await s.wait(lambda: len(s.agent.sessions) == 20, timeout=15)
        calls = s.service.controls[s.config.id].calls
        runs = {r.call_id: r for r in await s.store.runs.list(s.org_id, limit=50)}
        for channel in channels:
            call, run = calls[channel], runs[channel]
            assert call.run_id == run.id and call.session is not None
            assert call.session.channel_id == call.media_id and call.session.run_id == run.id
        assert {id(c.session) for c in calls.values()} == {id(x) for x in s.agent.sessions}
        # The race really happened: some sockets presented another call's query string.
        by_media = {c.media_id: c.run_id for c in calls.values()}
        swapped = [m for m in s.fake.media_connections
                   if m.channel_id in by_media and f"workflow_run_id={by_media[m.channel_id]}&" not in m.query + "&"]
        assert swapped, "the fake did not swap any v() query string"
        for channel in channels:
            await s.fake.caller_hangup(channel)
        await s.wait(lambda: not s.leftovers() and not calls, timeout=10)
        finished = await s.store.runs.list(s.org_id, limit=50)
        assert [r.status for r in finished] == ["completed"] * 20


async def _refused(s, exten: str, error_id: str, words: str):  # type: ignore[no-untyped-def]
    channel = await s.fake.place_inbound_call("200", exten)
    run = await s.wait_run(lambda r: r.call_id == channel and r.ended_at is not None)
    assert run.status == "rejected" and run.error_id == error_id and words in (run.reason or "")
    await s.wait(lambda: channel not in s.fake.channels)
    assert s.fake.all_channels[channel].state != "Up"  # refused before answer
    return run


async def test_refusals_hang_up_and_are_recorded_with_the_guides_words(tmp_path: Path) -> None:
    async with stack(tmp_path) as s:
        await _refused(s, "9999", "no-phone-number", f"no matching phone number registered for config {s.config.id}")
        await s.store.numbers.create(s.org_id, s.config.id, "8001", "", None)
        await _refused(s, "8001", "no-inbound-workflow", "has no inbound_workflow_id assigned")
        from web.accounts import create_organization

        other = await create_organization(s.store, "Other", "other@example.com", "password123")
        foreign = await s.store.workflows.create(other.organization_id, "Theirs", {})
        number = await s.store.numbers.create(s.org_id, s.config.id, "8002", "", None)
        await s.store.db.execute("UPDATE phone_numbers SET inbound_workflow_id = ? WHERE id = ?", (foreign.id, number.id))
        await _refused(s, "8002", "workflow-not-in-organization", "does not exist in the organisation of config")
        assert not s.leftovers()
        await s.wait(lambda: s.service.controls[s.config.id].calls == {})


async def test_quota_refuses_with_congestion_and_releases_the_slot(tmp_path: Path) -> None:
    async with stack(tmp_path, max_calls=1) as s:
        first = await s.fake.place_inbound_call("1", "8000")
        await s.wait_run(lambda r: r.call_id == first and r.status == "in_progress")
        run = await _refused(s, "8000", "quota-exceeded", "quota exceeded: 1 of 1 concurrent calls")
        hangups = [r for r in s.fake.requests if r.method == "DELETE" and run.call_id in r.path]
        assert dict(hangups[0].query).get("reason") == "congestion"
        await s.fake.caller_hangup(first)
        await s.wait_run(lambda r: r.call_id == first and r.ended_at is not None)
        third = await s.fake.place_inbound_call("3", "8000")
        assert (await s.wait_run(lambda r: r.call_id == third and r.status == "in_progress")).answered_at


async def test_media_websocket_that_cannot_connect_fails_the_run_pointing_at_websocket_client_conf(tmp_path: Path) -> None:
    async with stack(tmp_path) as s:
        s.fake.set_websocket_client("dograh", "ws://127.0.0.1:9/api/v1/telephony/ws/ari", reconnect_attempts=2,
                                    reconnect_interval=0.05)
        channel = await s.fake.place_inbound_call("1", "8000")
        run = await s.wait_run(lambda r: r.call_id == channel and r.ended_at is not None)
        assert run.status == "failed" and "websocket_client.conf" in (run.reason or "")
        await s.wait(lambda: not s.leftovers())


async def test_bridge_failure_hangs_up_and_records_why(tmp_path: Path) -> None:
    async with stack(tmp_path) as s:
        s.fake.rest_fail_500(True, path_prefix="/bridges")
        channel = await s.fake.place_inbound_call("1", "8000")
        run = await s.wait_run(lambda r: r.call_id == channel and r.ended_at is not None)
        assert run.status == "failed" and run.error_id == "ari-server-error"
        s.fake.rest_fail_500(False)
        await s.wait(lambda: not s.fake.channels)


async def test_agent_hang_up_ends_the_call_cleanly(tmp_path: Path) -> None:
    class HangUpAgent:
        async def __call__(self, session, definition, context, on_event):  # type: ignore[no-untyped-def]
            session.play(caller_audio(2))
            await session.mark("bye")
            await session.hangup("said goodbye")
            return type("R", (), {"status": "completed", "reason": "agent hung up"})()

    async with stack(tmp_path, agent=HangUpAgent()) as s:
        channel = await s.fake.place_inbound_call("1", "8000")
        run = await s.wait_run(lambda r: r.call_id == channel and r.ended_at is not None)
        assert run.status == "completed" and run.reason == "agent hung up: said goodbye"
        await s.wait(lambda: not s.leftovers())
        assert len(s.fake.heard(channel)) >= len(caller_audio(2)) // 160 * 160


async def test_media_channel_hung_up_by_asterisk_ends_the_call(tmp_path: Path) -> None:
    async with stack(tmp_path) as s:
        channel = await s.fake.place_inbound_call("1", "8000")
        await s.wait(lambda: s.agent.sessions)
        media_id = s.agent.sessions[0].channel_id
        s.fake.hangup_channel(media_id, None, None)
        run = await s.wait_run(lambda r: r.call_id == channel and r.ended_at is not None)
        assert run.status == "failed"
        await s.wait(lambda: not s.leftovers())


async def test_dtmf_reported_by_ari_and_media_reaches_the_agent_once(tmp_path: Path) -> None:
    async with stack(tmp_path) as s:
        channel = await s.fake.place_inbound_call("1", "8000")
        run = await s.wait_run(lambda r: r.status == "in_progress")
        await s.wait(lambda: s.agent.sessions)
        await s.fake.press_dtmf(channel, "12#", interval_s=0.05)
        await s.wait(lambda: len(s.agent.dtmf.get(run.id, [])) >= 3)
        await s.fake.caller_hangup(channel)
        await s.wait_run(lambda r: r.ended_at is not None)
        assert s.agent.dtmf[run.id] == ["1", "2", "#"]


async def test_asterisk_restart_mid_call_fails_the_run_and_later_calls_work(tmp_path: Path) -> None:
    async with stack(tmp_path) as s:
        channel = await s.fake.place_inbound_call("1", "8000")
        await s.wait_run(lambda r: r.status == "in_progress")
        await s.fake.restart(downtime_s=0.3)
        run = await s.wait_run(lambda r: r.call_id == channel and r.ended_at is not None)
        assert run.status == "failed" and "restart" in (run.reason or "")
        await s.wait(lambda: s.service.controls[s.config.id].calls == {})
        assert len(app_state(s.app).media_registry) == 0
        await s.wait_connected(timeout=5)
        again = await s.fake.place_inbound_call("2", "8000")
        second = await s.wait_run(lambda r: r.id != run.id and r.status == "in_progress")
        await s.fake.caller_hangup(again)
        assert (await s.wait_run(lambda r: r.id == second.id and r.ended_at is not None)).status == "completed"


async def test_server_shutdown_ends_live_calls_and_hangs_up(tmp_path: Path) -> None:
    async with stack(tmp_path) as s:
        channel = await s.fake.place_inbound_call("1", "8000")
        await s.wait_run(lambda r: r.status == "in_progress")
        await app_state(s.app).telephony.stop()
        run = await s.store.runs.get(s.org_id, (await s.store.runs.list(s.org_id, limit=1))[0].id)
        assert run is not None and run.status == "failed" and run.error_id == "server-shutdown"
        await s.wait(lambda: channel not in s.fake.channels)
        assert APP  # the app name constant stays in use for readers of this module
