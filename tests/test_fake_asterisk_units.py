"""Unit tests of the fake's pure parts: the chan_websocket queue/protocol model, option parsing,
codecs and outbound rule matching. The semantics asserted here are the ones the traces and
chan_websocket.c document (see shared/asterisk-traces/README.md)."""
from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.fake_asterisk.chanws import Action, ChanWebSocket, ControlFormat, Direction
from tests.fake_asterisk.codecs import FORMATS, ULAW, convert, decode, encode
from tests.fake_asterisk.options import (
    OptionParseError,
    parse_app_options,
    parse_caller_id,
    uri_params_to_query,
    validate_uri_params,
)
from tests.fake_asterisk.outbound import OutboundBehavior, OutboundRules, Outcome

F = b"\x7f" * 160


def plain(**kw: object) -> ChanWebSocket:
    return ChanWebSocket("ch1", ULAW, **kw)  # type: ignore[arg-type]


def drain(ws: ChanWebSocket, ticks: int) -> tuple[list[bytes], list[str]]:
    frames, texts = [], []
    for _ in range(ticks):
        res = ws.tick()
        texts += res.texts
        if res.frame is not None:
            frames.append(res.frame)
    return frames, texts


def test_status_and_media_start_plain() -> None:
    ws = plain()
    assert ws.on_text("GET_STATUS").texts == [
        "STATUS channel_id:ch1 queue_length:0 xon_level:800 xoff_level:900 queue_full:false bulk_media:false media_paused:false"
    ]
    assert ws.media_start("dograh", "WebSocket/dograh/0x1", {}) == (
        "MEDIA_START connection_id:dograh channel:WebSocket/dograh/0x1 channel_id:ch1 format:ulaw optimal_frame_size:160 ptime:20"
    )


def test_partial_frames_are_dropped_outside_buffering() -> None:
    ws = plain()
    ws.on_binary(b"\x01" * 100)
    assert ws.frame_queue_length == 0
    ws.on_binary(b"\x01" * 250)
    assert ws.frame_queue_length == 1  # 90 bytes lost
    frames, _ = drain(ws, 3)
    assert [len(f) for f in frames] == [160]


def test_one_big_message_is_retimed_into_frames() -> None:
    ws = plain()
    ws.on_binary(bytes(range(160)) * 100)
    frames, _ = drain(ws, 101)
    assert len(frames) == 100 and all(f == bytes(range(160)) for f in frames)


def test_buffering_joins_leftovers_and_flushes_partial_on_stop() -> None:
    ws = plain()
    ws.on_text("START_MEDIA_BUFFERING")
    for _ in range(3):
        ws.on_binary(b"\x02" * 1000)
    ws.on_binary(b"\x02" * 100)
    assert ws.frame_queue_length == 19 and "bulk_media:true" in ws.status()
    ws.on_text("STOP_MEDIA_BUFFERING buf1")
    assert ws.frame_queue_length == 20 and "bulk_media:false" in ws.status()
    frames, texts = drain(ws, 21)
    assert [len(f) for f in frames] == [160] * 19 + [60]
    assert texts == ["MEDIA_BUFFERING_COMPLETED buf1"]  # in-band, after the buffered audio


def test_leftover_plays_as_short_frame_when_queue_drains_while_buffering() -> None:
    ws = plain()
    ws.on_text("START_MEDIA_BUFFERING")
    ws.on_binary(b"\x03" * 170)
    frames, _ = drain(ws, 3)
    assert [len(f) for f in frames] == [160, 10]


def test_mark_and_queue_drained() -> None:
    ws = plain()
    for _ in range(50):
        ws.on_binary(F)
    ws.on_text("MARK_MEDIA m1")
    ws.on_text("REPORT_QUEUE_DRAINED")
    frames, texts = drain(ws, 50)
    assert len(frames) == 50 and texts == []
    assert ws.tick().texts == ["MEDIA_MARK_PROCESSED m1"]  # reached in the 51st timeslot
    assert ws.tick().texts == ["QUEUE_DRAINED"]
    assert ws.tick().texts == []  # one-shot
    ws.on_text("REPORT_QUEUE_DRAINED")
    assert ws.tick().texts == ["QUEUE_DRAINED"]  # already empty: next tick
    ws.on_text("MARK_MEDIA")
    assert ws.tick().texts == ["MEDIA_MARK_PROCESSED"]


def test_xoff_cap_and_xon() -> None:
    ws = plain()
    texts: list[str] = []
    for _ in range(1250):
        texts += ws.on_binary(F).texts
    assert texts == ["MEDIA_XOFF"]
    assert ws.frame_queue_length == 1000 and "queue_full:true" in ws.status()
    frames, texts = drain(ws, 200)
    assert texts == [] and ws.frame_queue_length == 800
    res = ws.tick()
    assert res.texts == [] and ws.frame_queue_length == 799
    res = ws.tick()
    assert res.texts == ["MEDIA_XON"] and ws.frame_queue_length == 798 and "queue_full:false" in ws.status()
    # a message arriving while the queue holds >= 1000 frames is dropped whole
    ws2 = plain()
    for _ in range(1000):
        ws2.on_binary(F)
    ws2.on_binary(F * 10)
    assert ws2.frame_queue_length == 1000
    ws3 = plain()
    for _ in range(999):
        ws3.on_binary(F)
    ws3.on_binary(F * 10)  # checked per message, not per frame
    assert ws3.frame_queue_length == 1009


def test_pause_continue_and_flush() -> None:
    ws = plain()
    ws.on_text("PAUSE_MEDIA")
    for _ in range(25):
        ws.on_binary(F)
    frames, _ = drain(ws, 10)
    assert frames == [] and ws.frame_queue_length == 25 and "media_paused:true" in ws.status()
    ws.on_text("CONTINUE_MEDIA")
    frames, _ = drain(ws, 10)
    assert len(frames) == 10 and ws.frame_queue_length == 15
    ws.on_text("START_MEDIA_BUFFERING")
    ws.on_binary(b"\x01" * 170)
    ws.on_text("FLUSH_MEDIA")
    assert ws.frame_queue_length == 0 and not ws.bulk_media_in_progress and ws.leftover == b""
    assert drain(ws, 3)[0] == []


def test_text_limits_unknown_commands_and_whitespace() -> None:
    ws = plain()
    assert ws.on_text("MARK_MEDIA " + "x" * 200).texts == [] and not ws.queue
    assert ws.on_text("FOO_BAR").texts == []
    assert ws.on_text("").texts == []
    assert ws.on_text("  GET_STATUS \n").texts[0].startswith("STATUS")
    assert ws.on_text('{"command":"GET_STATUS"}').texts == []  # JSON in plain mode = unknown command
    assert ws.on_text("ANSWER").actions == [Action.ANSWER]
    assert ws.on_text("HANGUP").actions == [Action.HANGUP]
    assert ws.on_text("SET_MEDIA_DIRECTION out").texts == [
        "ERROR channel_id:ch1 error_text:SET_MEDIA_DIRECTION only supports JSON format.\n"
    ]


def test_json_mode() -> None:
    ws = ChanWebSocket("ch1", ULAW, control_format=ControlFormat.JSON)
    assert json.loads(ws.on_text("GET_STATUS").texts[0]) == {
        "event": "ERROR", "channel_id": "ch1", "error_text": "Unable to parse JSON command"
    }
    status = json.loads(ws.on_text('{"command":"GET_STATUS"}').texts[0])
    assert status == {
        "event": "STATUS", "channel_id": "ch1", "queue_length": 0, "xon_level": 800, "xoff_level": 900,
        "queue_full": False, "bulk_media": False, "media_paused": False,
    }
    ws.on_text('{"command":"MARK_MEDIA","correlation_id":"mark-1"}')
    assert json.loads(ws.tick().texts[0]) == {"event": "MEDIA_MARK_PROCESSED", "channel_id": "ch1", "correlation_id": "mark-1"}
    ws.on_text('{"command":"MARK_MEDIA"}')
    assert json.loads(ws.tick().texts[0])["correlation_id"] == ""
    assert ws.on_text('{"command":"NOPE"}').texts == []
    assert json.loads(ws.dtmf_end("5")) == {"event": "DTMF_END", "channel_id": "ch1", "digit": "5"}
    start = json.loads(ws.media_start("dograh", "WebSocket/dograh/0x1", {"A": "b"}))
    assert list(start) == ["event", "connection_id", "channel", "channel_id", "format", "optimal_frame_size", "ptime", "channel_variables"]


def test_set_media_direction() -> None:
    ws = ChanWebSocket("ch1", ULAW, control_format=ControlFormat.JSON)
    err = lambda r: json.loads(r.texts[0])["error_text"]  # noqa: E731
    assert err(ws.on_text('{"command":"SET_MEDIA_DIRECTION"}')) == "SET_MEDIA_DIRECTION requires a 'direction' parameter.\n"
    assert err(ws.on_text('{"command":"SET_MEDIA_DIRECTION","direction":"sideways"}')) == (
        "'sideways' is not a valid direction for SET_MEDIA_DIRECTION.\n"
    )
    res = ws.on_text('{"command":"SET_MEDIA_DIRECTION","direction":"in"}')
    assert res.texts == [] and res.actions == [Action.TIMER_STOP] and ws.direction is Direction.IN
    for cmd in ("MARK_MEDIA", "START_MEDIA_BUFFERING", "STOP_MEDIA_BUFFERING", "PAUSE_MEDIA", "CONTINUE_MEDIA"):
        assert err(ws.on_text(json.dumps({"command": cmd}))) == f"{cmd} not supported while media direction is 'in'"
    ws.on_binary(F)
    assert ws.frame_queue_length == 0  # app audio dropped
    assert ws.on_text('{"command":"SET_MEDIA_DIRECTION","direction":"out"}').actions == [Action.TIMER_START]
    assert ws.on_text('{"command":"SET_MEDIA_DIRECTION","direction":"out"}').actions == []


def test_passthrough() -> None:
    ws = ChanWebSocket("ch1", FORMATS["opus"])
    assert ws.optimal_frame_size == 0
    ws.on_binary(b"\x01" * 37)
    assert ws.tick().frame == b"\x01" * 37
    assert ws.on_text("MARK_MEDIA x").texts == ["ERROR channel_id:ch1 error_text:MARK_MEDIA not supported in passthrough mode"]
    assert ws.on_text("FLUSH_MEDIA").texts[0].endswith("FLUSH_MEDIA not supported in passthrough mode")


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=700), min_size=1, max_size=20), st.booleans())
def test_queue_accounting_property(sizes: list[int], buffering: bool) -> None:
    """Every queued byte is played exactly once, in order; only the documented remainders are lost."""
    ws = plain()
    if buffering:
        ws.on_text("START_MEDIA_BUFFERING")
    sent = bytearray()
    expected = bytearray()
    for i, n in enumerate(sizes):
        chunk = bytes((i + j) % 256 for j in range(n))
        sent += chunk
        ws.on_binary(chunk)
        if not buffering:
            expected += chunk[: n - n % 160]
    if buffering:
        ws.on_text("STOP_MEDIA_BUFFERING")
        expected = sent
    frames, _ = drain(ws, ws.frame_queue_length + 2)
    assert b"".join(frames) == bytes(expected)
    assert all(len(f) == 160 for f in frames[:-1])


def test_parse_app_options() -> None:
    assert parse_app_options("v(workflow_id=1,user_id=2)f(json)d(both)") == {
        "v": "workflow_id=1,user_id=2", "f": "json", "d": "both"
    }
    assert parse_app_options("nc(slin16)p") == {"n": None, "c": "slin16", "p": None}
    with pytest.raises(OptionParseError):
        parse_app_options("v(a=1")


@pytest.mark.parametrize(
    ("params", "valid"),
    [("call=A,run=1", True), ("q=a%20b,email=x%40y.com", True), ("q=a b", False), ("x=%2", False),
     ("email=x@y", False), ("a=b~c", False), ("k=v+w", True)],
)
def test_validate_uri_params(params: str, valid: bool) -> None:
    assert validate_uri_params(params) is valid


def test_uri_params_to_query_and_caller_id() -> None:
    assert uri_params_to_query("workflow_id=1,user_id=2") == "workflow_id=1&user_id=2"
    assert parse_caller_id("Dograh <1000>") == ("Dograh", "1000")
    assert parse_caller_id('"A B" <+15551234>') == ("A B", "+15551234")
    assert parse_caller_id("1000") == ("", "1000")
    assert parse_caller_id(None) == ("", "")


def test_g711_roundtrip_and_resampling() -> None:
    pcm = (np.sin(np.arange(160) / 4) * 12000).astype(np.int16)
    for name in ("ulaw", "alaw"):
        fmt = FORMATS[name]
        assert np.abs(decode(fmt, encode(fmt, pcm)).astype(int) - pcm).max() < 400
        codes = bytes(c for c in range(256) if not (name == "ulaw" and c == 0x7F))  # 0x7f is µ-law's "-0"
        assert encode(fmt, decode(fmt, codes)) == codes  # every code word survives decode + encode
    ulaw = encode(ULAW, pcm)
    assert len(convert(ulaw, ULAW, FORMATS["slin16"])) == 640
    assert len(convert(ulaw, ULAW, FORMATS["slin"])) == 320
    assert convert(b"\x01\x02", FORMATS["g722"], ULAW) == b"\x01\x02"  # not transcodable: untouched


def test_outbound_rules() -> None:
    rules = OutboundRules()
    rules.set("6002", OutboundBehavior(Outcome.NO_ANSWER))
    rules.set("Local/60*@agent-outbound", OutboundBehavior(Outcome.BUSY))
    rules.set("6001@agent-outbound", OutboundBehavior(Outcome.ANSWER, ringing_s=0))
    assert rules.lookup("Local/6001@agent-outbound").outcome is Outcome.ANSWER
    assert rules.lookup("Local/6002@agent-outbound").outcome is Outcome.BUSY  # newest matching rule wins
    assert rules.lookup("PJSIP/6002").outcome is Outcome.NO_ANSWER
    assert rules.lookup("PJSIP/7000@trunk").outcome is Outcome.ANSWER  # default
