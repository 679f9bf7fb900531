"""ARI event parsing: every event a real Asterisk sent, plus garbage and fuzz."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ari import events as ev
from ari.events import AriEventError, parse_event
from tests.fixtures import TRACE_FILES, TRACES_DIR

TRACE_DIR = TRACES_DIR
KNOWN_TYPES = {
    "StasisStart", "StasisEnd", "ChannelCreated", "ChannelStateChange",
    "ChannelHangupRequest", "ChannelDestroyed", "ChannelDtmfReceived", "Dial",
    "ChannelEnteredBridge", "ChannelLeftBridge", "BridgeDestroyed", "ChannelVarset",
    "ApplicationReplaced", "ChannelCallerId", "ChannelConnectedLine", "ChannelDialplan",
}


def _payloads(name: str) -> Iterator[dict[str, Any]]:
    with (TRACE_DIR / name).open(encoding="utf-8") as lines:
        for line in lines:
            record = json.loads(line)
            if record["channel"] == "ari_ws" and record["kind"] == "event":
                yield record["payload"]


def _events(name: str) -> list[ev.AriEvent]:
    return [parse_event(json.dumps(payload)) for payload in _payloads(name)]


def _of(name: str, cls: type[Any]) -> list[Any]:
    return [event for event in _events(name) if isinstance(event, cls)]


def test_the_traces_are_there() -> None:
    assert len(TRACE_FILES) >= 14, f"no traces under {TRACE_DIR}"


# --- every recorded event --------------------------------------------------------------------


@pytest.mark.parametrize("path", TRACE_FILES, ids=lambda p: p.stem)
def test_every_recorded_event_parses_to_its_class(path: Path) -> None:
    for payload in _payloads(path.name):
        for text in (json.dumps(payload), json.dumps(payload).encode()):
            event = parse_event(text)
            assert event.type == payload["type"]
            assert type(event).__name__ == (
                payload["type"] if payload["type"] in KNOWN_TYPES else "UnknownEvent"
            )
            assert event.application == payload.get("application")
            assert event.timestamp == payload.get("timestamp")
            assert event.asterisk_id == payload.get("asterisk_id")


def test_the_traces_cover_every_modelled_type_but_channel_created() -> None:
    seen = {event.type for path in TRACE_FILES for event in _events(path.name)}
    assert seen == KNOWN_TYPES - {"ChannelCreated"}


# --- what the call logic reads ---------------------------------------------------------------


def test_inbound_stasis_start_carries_the_called_number_and_no_args() -> None:
    start = _of("inbound_app_hangup.jsonl", ev.StasisStart)[0]
    assert start.channel.name.startswith("Local/8000@from-external-")
    assert start.channel.name.endswith(";2")
    assert start.channel.state == "Ring"
    assert start.channel.exten == "8000"
    assert start.channel.context == "from-external"
    assert start.channel.priority == 2
    assert start.channel.app_name == "Stasis"
    assert start.args == ()
    assert start.replace_channel is None
    assert start.application == "dograh"


def test_outbound_stasis_start_carries_the_app_args_split_on_commas() -> None:
    starts = _of("outbound.jsonl", ev.StasisStart)
    local = [s for s in starts if s.channel.name.startswith("Local/6001@")]
    assert local[0].args == ("outbound", "wf=1")
    assert local[0].channel.caller_number == "1000"
    assert local[0].channel.caller_name == "Dograh"


def test_external_media_stasis_start_has_no_args() -> None:
    starts = _of("inbound_app_hangup.jsonl", ev.StasisStart)
    media = [s for s in starts if s.channel.name.startswith("WebSocket/dograh/")]
    assert len(media) == 1 and media[0].args == () and media[0].channel.state == "Up"


def test_ari_delete_is_a_soft_hangup_with_flag_32() -> None:
    requests = _of("inbound_app_hangup.jsonl", ev.ChannelHangupRequest)
    caller = next(r for r in requests if r.channel.name.startswith("Local/"))
    assert caller.soft is True and caller.cause == 32


def test_core_restart_is_a_soft_hangup_with_flag_4() -> None:
    requests = _of("restart.jsonl", ev.ChannelHangupRequest)
    assert {(r.cause, r.soft) for r in requests if r.soft} == {(4, True)}


def test_caller_hangup_is_a_hard_hangup_with_cause_0() -> None:
    requests = _of("inbound_caller_hangup.jsonl", ev.ChannelHangupRequest)
    caller = next(r for r in requests if r.channel.name.startswith("Local/"))
    assert caller.soft is False and caller.cause == 0 and caller.tech_cause is None


def test_closing_the_media_socket_shows_tech_cause_1001() -> None:
    request = _of("app_closes_media.jsonl", ev.ChannelHangupRequest)[0]
    assert (request.cause, request.tech_cause, request.soft) == (16, 1001, False)
    destroyed = _of("app_closes_media.jsonl", ev.ChannelDestroyed)[0]
    assert (destroyed.cause, destroyed.cause_txt, destroyed.tech_cause) == (
        16, "Normal Clearing", 1001,
    )


def test_outbound_busy_is_told_by_dial_status_not_by_the_cause() -> None:
    events = _events("outbound.jsonl")
    busy = [e for e in events if isinstance(e, ev.Dial) and e.dialstatus == "BUSY"]
    assert len(busy) == 1
    peer = busy[0].peer
    assert peer.name.startswith("Local/6003@agent-outbound-") and peer.exten == "6003"
    assert busy[0].dialstring == "6003@agent-outbound"
    destroyed = [
        e for e in events
        if isinstance(e, ev.ChannelDestroyed) and e.channel.id == peer.id
    ]
    assert [(d.cause, d.cause_txt) for d in destroyed] == [(0, "Unknown")]


def test_no_answer_ends_in_cause_19() -> None:
    events = _events("outbound.jsonl")
    hangups = [e for e in events if isinstance(e, ev.ChannelHangupRequest) and e.cause == 19]
    assert hangups and not hangups[0].soft
    destroyed = [e for e in events if isinstance(e, ev.ChannelDestroyed) and e.cause == 19]
    assert {d.channel.name[-2:] for d in destroyed} == {";1", ";2"}
    assert {d.cause_txt for d in destroyed} == {"User alerting, no answer"}


def test_external_media_dial_shows_the_dial_string_with_uri_params() -> None:
    dials = _of("inbound_app_hangup.jsonl", ev.Dial)
    assert [d.dialstatus for d in dials] == ["", "ANSWER"]
    assert dials[0].dialstring == "dograh/v(workflow_id=1,user_id=2,workflow_run_id=3)d(both)"
    assert dials[0].peer.state == "Down" and dials[1].peer.state == "Up"
    assert dials[0].caller is None and dials[0].forward == "" and dials[0].forwarded is None


def test_dtmf_digits_and_durations() -> None:
    dtmf = _of("dtmf.jsonl", ev.ChannelDtmfReceived)
    assert "".join(d.digit for d in dtmf) == "123#"
    assert all(d.duration_ms > 0 for d in dtmf)


def test_unreachable_media_server_ends_in_cause_3() -> None:
    destroyed = _of("externalmedia_failures.jsonl", ev.ChannelDestroyed)
    assert (destroyed[0].cause, destroyed[0].cause_txt) == (3, "No route to destination")


def test_bridge_events_carry_the_bridge() -> None:
    entered = _of("inbound_app_hangup.jsonl", ev.ChannelEnteredBridge)
    assert len(entered) == 2
    bridge = entered[0].bridge
    assert (bridge.technology, bridge.bridge_type, bridge.bridge_class) == (
        "simple_bridge", "mixing", "stasis",
    )
    members = {e.channel.id for e in entered if e.channel is not None}
    assert len(members) == 2 and set(entered[1].bridge.channels) == members
    destroyed = _of("inbound_app_hangup.jsonl", ev.BridgeDestroyed)
    assert destroyed[0].bridge.id == bridge.id and destroyed[0].bridge.channels == ()


def test_varset_caller_id_connected_line_and_dialplan() -> None:
    events = _events("outbound.jsonl")
    varset = next(e for e in events if isinstance(e, ev.ChannelVarset))
    assert varset.variable and isinstance(varset.value, str) and varset.channel is not None
    caller_id = next(e for e in events if isinstance(e, ev.ChannelCallerId))
    assert caller_id.caller_presentation == 0
    assert caller_id.caller_presentation_txt == "Presentation Allowed, Not Screened"
    assert any(isinstance(e, ev.ChannelConnectedLine) for e in events)
    dialplan = next(e for e in events if isinstance(e, ev.ChannelDialplan))
    assert (dialplan.dialplan_app, dialplan.dialplan_app_data) == ("NoOp", "Outbound callee 6001")


def test_application_replaced_has_only_the_common_fields() -> None:
    replaced = _of("ari_errors.jsonl", ev.ApplicationReplaced)
    assert len(replaced) == 1
    assert replaced[0].application == "dograh" and replaced[0].asterisk_id


# --- hand-made events ------------------------------------------------------------------------

CHANNEL = {"id": "c1", "name": "PJSIP/100-0001", "state": "Ring"}


def test_channelvars_and_replace_channel() -> None:
    event = parse_event(json.dumps({
        "type": "StasisStart",
        "args": ["a", "b"],
        "channel": {**CHANNEL, "channelvars": {"X": "1"}},
        "replace_channel": {**CHANNEL, "id": "old"},
    }))
    assert isinstance(event, ev.StasisStart)
    assert event.channel.channelvars == {"X": "1"}
    assert event.replace_channel is not None and event.replace_channel.id == "old"
    assert event.args == ("a", "b")
    assert event.application is None and event.timestamp is None


def test_minimal_channel_gets_empty_defaults() -> None:
    event = parse_event(json.dumps({"type": "StasisEnd", "channel": CHANNEL}))
    assert isinstance(event, ev.StasisEnd)
    assert event.channel == ev.Channel(id="c1", name="PJSIP/100-0001", state="Ring")
    assert event.channel.exten == "" and event.channel.channelvars == {}


def test_global_varset_has_no_channel() -> None:
    event = parse_event('{"type": "ChannelVarset", "variable": "G", "value": "1"}')
    assert isinstance(event, ev.ChannelVarset) and event.channel is None


def test_channel_created_is_modelled() -> None:
    event = parse_event(json.dumps({"type": "ChannelCreated", "channel": CHANNEL}))
    assert isinstance(event, ev.ChannelCreated) and event.channel.id == "c1"


def test_unknown_type_is_kept_raw_not_an_error() -> None:
    event = parse_event('{"type": "PlaybackFinished", "playback": {"id": "p"}, "application": "a"}')
    assert isinstance(event, ev.UnknownEvent)
    assert event.type == "PlaybackFinished"
    assert event.raw["playback"] == {"id": "p"}
    assert event.application == "a"


def test_events_are_frozen_and_hashable() -> None:
    event = parse_event(json.dumps({"type": "StasisEnd", "channel": CHANNEL}))
    assert isinstance(event, ev.StasisEnd)
    with pytest.raises(dataclasses.FrozenInstanceError):
        event.channel = event.channel  # type: ignore[misc]
    assert hash(event) == hash(parse_event(json.dumps({"type": "StasisEnd", "channel": CHANNEL})))


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("", "not JSON"),
        ("{", "not JSON"),
        (b"\xff\xfe", "not UTF-8"),
        ("[1, 2]", "JSON object"),
        ('"StasisStart"', "JSON object"),
        ("null", "JSON object"),
        ("{}", "'type'"),
        ('{"type": null}', "'type'"),
        ('{"type": 7}', "'type' must be a string"),
        ('{"type": ""}', "empty"),
        ('{"type": "StasisStart"}', "missing required field 'channel'"),
        ('{"type": "StasisStart", "channel": []}', "'channel' must be an object"),
        ('{"type": "StasisEnd", "channel": {"id": "x", "name": "n"}}', "'channel.state'"),
        ('{"type": "StasisEnd", "channel": {"id": 1, "name": "n", "state": "Up"}}',
         "'channel.id' must be a string"),
        ('{"type": "StasisStart", "args": "a,b", "channel": {"id": "x", "name": "n", "state": "Up"}}',
         "list of strings"),
        ('{"type": "StasisEnd", "channel": {"id": "x", "name": "n", "state": "Up",'
         ' "caller": {"number": 5}}}', "'channel.caller.number'"),
        ('{"type": "StasisEnd", "channel": {"id": "x", "name": "n", "state": "Up",'
         ' "channelvars": {"A": 1}}}', "object of strings"),
        ('{"type": "ChannelDestroyed", "channel": {"id": "x", "name": "n", "state": "Up"},'
         ' "cause": 16}', "'cause_txt'"),
        ('{"type": "ChannelDestroyed", "channel": {"id": "x", "name": "n", "state": "Up"},'
         ' "cause": "16", "cause_txt": "x"}', "'cause' must be an integer"),
        ('{"type": "ChannelHangupRequest", "channel": {"id": "x", "name": "n", "state": "Up"},'
         ' "cause": true}', "'cause' must be an integer"),
        ('{"type": "ChannelHangupRequest", "channel": {"id": "x", "name": "n", "state": "Up"},'
         ' "soft": 1}', "'soft' must be a boolean"),
        ('{"type": "ChannelDtmfReceived", "channel": {"id": "x", "name": "n", "state": "Up"},'
         ' "digit": "1", "duration_ms": 1.5}', "'duration_ms' must be an integer"),
        ('{"type": "Dial", "peer": {"id": "x", "name": "n", "state": "Up"}}', "'dialstatus'"),
        ('{"type": "BridgeDestroyed", "bridge": {"id": "b", "channels": [1]}}', "'bridge.channels'"),
        ('{"type": "ApplicationReplaced", "application": 3}', "'application'"),
        ("[" * 100_000, "not JSON"),
        ("1" * 10_000, "not JSON"),
    ],
)
def test_garbage_raises_one_error_class_with_a_stable_id(text: str | bytes, needle: str) -> None:
    with pytest.raises(AriEventError, match=needle.replace("(", r"\(")) as info:
        parse_event(text)
    assert info.value.error_id == "ari-bad-event"
    assert isinstance(info.value, ValueError)


def test_the_error_names_the_event_type() -> None:
    with pytest.raises(AriEventError, match=r"^ChannelDtmfReceived: missing required field 'digit'"):
        parse_event(json.dumps({"type": "ChannelDtmfReceived", "channel": CHANNEL, "duration_ms": 1}))


# --- fuzz ------------------------------------------------------------------------------------

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
ALL_PAYLOADS = [payload for path in TRACE_FILES for payload in _payloads(path.name)]


def _parses_or_refuses(text: str | bytes) -> None:
    try:
        event = parse_event(text)
    except AriEventError as exc:
        assert exc.error_id == "ari-bad-event" and str(exc)
    else:
        assert isinstance(event, ev.Event)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200) | st.binary(max_size=200))
def test_fuzz_arbitrary_text_and_bytes(text: str | bytes) -> None:
    _parses_or_refuses(text)


@settings(max_examples=200, deadline=None)
@given(JSON_VALUES)
def test_fuzz_arbitrary_json(value: object) -> None:
    _parses_or_refuses(json.dumps(value))


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(sorted(KNOWN_TYPES)), st.dictionaries(st.text(max_size=12), JSON_VALUES))
def test_fuzz_known_types_with_arbitrary_fields(type_: str, fields: dict[str, object]) -> None:
    _parses_or_refuses(json.dumps({**fields, "type": type_}))


def _paths(value: object, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(value, dict):
        for key, child in value.items():
            yield prefix + (key,)
            yield from _paths(child, prefix + (key,))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield prefix + (index,)
            yield from _paths(child, prefix + (index,))


def _replaced(value: Any, path: tuple[Any, ...], new: object) -> Any:
    copy = json.loads(json.dumps(value))
    target = copy
    for step in path[:-1]:
        target = target[step]
    if new is _DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = new
    return copy


_DELETE = object()


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_fuzz_real_events_with_one_field_broken(data: st.DataObject) -> None:
    payload = data.draw(st.sampled_from(ALL_PAYLOADS))
    path = data.draw(st.sampled_from(list(_paths(payload))))
    new = data.draw(JSON_VALUES | st.just(_DELETE))
    _parses_or_refuses(json.dumps(_replaced(payload, path, new)))
