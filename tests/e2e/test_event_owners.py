"""Event dispatch by owner (ari.owners): an event sent on the real events WebSocket reaches the
owner of its channel (a call, an outbound dial, a transfer leg, a bridged pair, a diagnostics
watch), and events of channels nobody owns are dropped without harm."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from ari.call import TRANSFER_APP_ARG, CallState
from ari.calls import CallControl
from ari.transfer import BridgedPair, TransferLeg
from tests.e2e.harness import Stack, stack


def channel(channel_id: str, state: str = "Up") -> dict[str, Any]:
    return {"id": channel_id, "name": f"PJSIP/{channel_id}", "state": state,
            "caller": {"number": "6001", "name": ""}, "dialplan": {"context": "from-internal", "exten": "8000"}}


def event(type_: str, channel_id: str, **fields: Any) -> dict[str, Any]:
    return {"type": type_, "application": "dograh", "channel": channel(channel_id), **fields}


def control_of(s: Stack) -> CallControl:
    return s.service.controls[s.config.id]


async def processed(s: Stack) -> None:
    """Every event sent so far has been handled: events are handled in order, so wait for a
    watch on a fresh probe id to see the event sent last."""
    probe = f"sbp-sentinel-{len(control_of(s).owners)}-{id(s)}"
    watch = control_of(s).watch(probe)
    await s.fake.inject_event(event("StasisStart", probe))
    await s.wait(watch.started.is_set)
    control_of(s).unwatch(probe)


async def live_call(s: Stack) -> tuple[str, int]:
    channel_id = await s.fake.place_inbound_call("+15550100", "8000")
    await s.wait(lambda: s.agent.sessions)
    return channel_id, s.agent.sessions[0].run_id


async def test_a_key_press_reaches_the_call_that_owns_the_channel(tmp_path: Path) -> None:
    async with stack(tmp_path) as s:
        channel_id, run_id = await live_call(s)
        await s.fake.inject_event(event("ChannelDtmfReceived", channel_id, digit="7", duration_ms=120))
        await s.wait(lambda: s.agent.dtmf.get(run_id) == ["7"])
        await s.fake.inject_event(event("ChannelHangupRequest", channel_id, cause=16))
        run = await s.wait_run(lambda r: r.id == run_id and r.ended_at is not None)
        assert (run.status, run.reason) == ("completed", "caller hung up")
        await s.wait(lambda: not control_of(s).owners and not s.leftovers())


async def test_a_dial_status_reaches_the_outbound_call_while_it_rings(tmp_path: Path) -> None:
    async with stack(tmp_path) as s:
        s.fake.set_outbound_behavior("6002", "answer", ringing_s=30)
        result = await s.service.initiate_call(s.config.id, s.workflow, "6002")
        assert result.run_id is not None, result
        run = await s.wait_run(lambda r: r.id == result.run_id)
        await s.wait(lambda: run.call_id in s.fake.channels)
        await s.fake.inject_event({"type": "Dial", "application": "dograh", "peer": channel(run.call_id, "Ringing"),
                                   "dialstatus": "BUSY"})
        ended = await s.wait_run(lambda r: r.id == run.id and r.ended_at is not None)
        assert (ended.status, ended.reason) == ("busy", "the called party is busy")
        await s.wait(lambda: not control_of(s).owners and not s.leftovers())


async def test_events_reach_a_ringing_transfer_leg(tmp_path: Path) -> None:
    async with stack(tmp_path) as s:
        await live_call(s)
        control = control_of(s)
        call = next(iter(control.calls.values()))
        answers, busy = TransferLeg("sbo-answers", "7100", call), TransferLeg("sbo-busy", "7200", call)
        control.owners.update({answers.channel_id: answers, busy.channel_id: busy})
        await s.fake.inject_event(event("StasisStart", answers.channel_id, args=[TRANSFER_APP_ARG, "run=1"]))
        await s.fake.inject_event({"type": "Dial", "application": "dograh", "peer": channel(busy.channel_id),
                                   "dialstatus": "BUSY"})
        await s.wait(lambda: answers.answered.is_set() and busy.gone.is_set())
        assert not answers.gone.is_set() and not busy.answered.is_set()
        assert busy.outcome == "the extension is busy"
        assert control.knows(answers.channel_id) and call.state is CallState.CONNECTED


async def test_either_side_leaving_ends_a_bridged_pair(tmp_path: Path) -> None:
    async with stack(tmp_path) as s:
        control = control_of(s)
        left: list[str] = []
        pair = BridgedPair("sbb-pair", ("sbc-caller", "sbo-target"), "pair", lambda p, who: left.append(who))
        control.owners.update(dict.fromkeys(pair.channels, pair))
        assert control.knows("sbb-pair") and control.pairs == [pair]
        await s.fake.inject_event(event("StasisEnd", "sbo-target"))
        await s.wait(lambda: left)
        await s.fake.inject_event(event("StasisEnd", "sbc-caller"))  # the other side's echo: ended once
        await s.fake.inject_event(event("ChannelDestroyed", "sbc-caller", cause=16, cause_txt="Normal Clearing"))
        await processed(s)
        assert left == ["sbo-target"] and not pair.active and not control.knows("sbb-pair")


async def test_a_diagnostics_watch_sees_its_probe_start_and_end(tmp_path: Path) -> None:
    async with stack(tmp_path) as s:
        control = control_of(s)
        watch = control.watch("sbp-probe")
        await s.fake.inject_event(event("StasisStart", "sbp-probe"))
        await s.fake.inject_event(event("ChannelDestroyed", "sbp-probe", cause=34, cause_txt="Circuit busy"))
        await s.wait(lambda: watch.started.is_set() and watch.gone.is_set())
        assert watch.destroyed is not None and watch.destroyed.cause == 34
        assert control.calls == {}  # a probe is never taken for an inbound call
        control.unwatch("sbp-probe")
        assert not control.knows("sbp-probe")


async def test_events_of_channels_nobody_owns_are_dropped_and_calls_go_on(tmp_path: Path) -> None:
    async with stack(tmp_path) as s:
        for raw in (event("ChannelHangupRequest", "ghost", cause=16),
                    event("StasisEnd", "ghost"),
                    event("ChannelDestroyed", "ghost", cause=16, cause_txt="Normal Clearing"),
                    event("ChannelDtmfReceived", "ghost", digit="1", duration_ms=100),
                    {"type": "Dial", "application": "dograh", "peer": channel("ghost"), "dialstatus": "BUSY"},
                    {"type": "BridgeDestroyed", "application": "dograh", "bridge": {"id": "ghost-bridge"}},
                    event("StasisStart", "late-target", args=[TRANSFER_APP_ARG, "run=9"]),
                    event("StasisStart", "orphan", args=["switchboard", "run=9"])):
            assert await s.fake.inject_event(raw) == 1
        await processed(s)
        control = control_of(s)
        assert control.calls == {} and control.owners == {}
        channel_id, run_id = await live_call(s)  # the link and call control go on as before
        assert list(control.calls) == [channel_id]
        runs = await s.store.runs.list(s.org_id, limit=10)
        assert [r.call_id for r in runs] == [channel_id]  # no run for the dropped or hung-up channels
        await s.fake.caller_hangup(channel_id)
        await s.wait_run(lambda r: r.id == run_id and r.ended_at is not None)
