"""chan_websocket control channel: every recorded text frame, both formats, garbage, fuzz."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from media import commands as mc
from media import protocol as mp
from media.commands import CommandError, format_command
from media.protocol import ControlParseError, parse_control
from tests.fake_asterisk.media_protocol import Command, format_control, parse_command
from tests.fixtures import TRACE_FILES, TRACES_DIR

TRACE_DIR = TRACES_DIR
KNOWN_NAMES = {
    "MEDIA_START": mp.MediaStart,
    "MEDIA_XOFF": mp.MediaXoff,
    "MEDIA_XON": mp.MediaXon,
    "QUEUE_DRAINED": mp.QueueDrained,
    "MEDIA_MARK_PROCESSED": mp.MarkProcessed,
    "MEDIA_BUFFERING_COMPLETED": mp.BufferingCompleted,
    "STATUS": mp.Status,
    "DTMF_END": mp.DtmfEnd,
    "ERROR": mp.MediaError,
}


def _texts(name: str) -> Iterator[tuple[str, int, str]]:
    """(dir, conn, payload) of every media_ws text frame in one trace file."""
    with (TRACE_DIR / name).open(encoding="utf-8") as lines:
        for line in lines:
            record = json.loads(line)
            if record["channel"] == "media_ws" and record["kind"] == "text":
                yield record["dir"], record.get("conn", 0), record["payload"]


def _inbound(name: str) -> list[mp.ControlMessage]:
    return [parse_control(text) for direction, _, text in _texts(name) if direction == "in"]


def _name_of(text: str) -> str:
    return str(json.loads(text)["event"]) if text.startswith("{") else text.split(" ")[0]


def test_the_traces_are_there() -> None:
    assert len(TRACE_FILES) >= 14, f"no traces under {TRACE_DIR}"


# --- every recorded text frame ---------------------------------------------------------------


@pytest.mark.parametrize("path", TRACE_FILES, ids=lambda p: p.stem)
def test_every_frame_from_asterisk_parses_to_its_class(path: Path) -> None:
    for direction, _, text in _texts(path.name):
        if direction != "in":
            continue
        message = parse_control(text)
        assert type(message) is KNOWN_NAMES[_name_of(text)]
        assert message.name == _name_of(text)
        assert parse_control(text.encode()) == message
        assert parse_control(format_control(message, json=text.startswith("{"))) == message


@pytest.mark.parametrize("path", TRACE_FILES, ids=lambda p: p.stem)
def test_format_control_writes_what_asterisk_wrote(path: Path) -> None:
    for direction, _, text in _texts(path.name):
        if direction != "in":
            continue
        written = format_control(parse_control(text), json=text.startswith("{"))
        if text.startswith("{"):
            expected = json.loads(text)
            if expected["event"] == "ERROR":  # we drop Asterisk's trailing newline
                expected["error_text"] = expected["error_text"].rstrip("\n")
            assert json.loads(written) == expected
            assert list(json.loads(written)) == list(expected)  # same key order
        else:
            assert written == text.rstrip("\n")


@pytest.mark.parametrize("path", TRACE_FILES, ids=lambda p: p.stem)
def test_every_frame_to_asterisk_reads_like_asterisk_read_it(path: Path) -> None:
    json_conns: set[int] = set()
    frames = list(_texts(path.name))
    for index, (direction, conn, text) in enumerate(frames):
        if direction == "in" and _name_of(text) == "MEDIA_START" and text.startswith("{"):
            json_conns.add(conn)
        if direction != "out":
            continue
        json_mode = conn in json_conns
        if len(text.encode()) > mc.MAX_COMMAND_BYTES:
            with pytest.raises(ControlParseError, match="exceeds 128"):
                parse_command(text, json=json_mode)
            continue
        if json_mode and not text.startswith("{"):
            with pytest.raises(ControlParseError, match="not JSON"):
                parse_command(text, json=True)
            reply = next(t for d, c, t in frames[index:] if d == "in" and c == conn)
            assert parse_control(reply) == mp.MediaError(
                channel_id=parse_control(reply).channel_id,
                error_text="Unable to parse JSON command",
            )
            continue
        command = parse_command(text, json=json_mode)
        assert command == parse_command(text)  # detection agrees with the socket's mode
        assert command.json is json_mode
        try:
            rewritten = format_command(command.name, arg=command.arg, json=command.json)
        except CommandError:  # the probe sent some bad commands on purpose
            assert not command.known or command.name == "SET_MEDIA_DIRECTION"
        else:
            assert rewritten == text


def test_the_probe_sent_every_command_we_can_format() -> None:
    sent = {
        parse_command(text).name
        for path in TRACE_FILES
        for direction, _, text in _texts(path.name)
        if direction == "out" and len(text) <= mc.MAX_COMMAND_BYTES
    }
    assert mc.COMMANDS <= sent


# --- what the media session reads -------------------------------------------------------------


def test_plain_media_start() -> None:
    start = _inbound("media_protocol_plain.jsonl")[0]
    assert start == mp.MediaStart(
        connection_id="dograh",
        channel="WebSocket/dograh/0x7f25cc0045b0",
        channel_id="1795784810.11",
        format="ulaw",
        optimal_frame_size=160,
        ptime=20,
    )


def test_json_media_start_carries_channel_variables() -> None:
    start = _inbound("media_protocol_json.jsonl")[0]
    assert isinstance(start, mp.MediaStart)
    assert start.channel_id == "1795784827.14" and start.optimal_frame_size == 160
    assert start.channel_variables["X_TEST"] == "hello world"
    assert start.channel_variables["DOGRAH_CALL"] == "abc123"
    assert start.channel_variables["MEDIA_WEBSOCKET_CONNECTION_ID"] == "dograh"


def test_media_start_frame_sizes_per_format() -> None:
    sizes = {
        m.format: m.optimal_frame_size
        for m in _inbound("formats.jsonl")
        if isinstance(m, mp.MediaStart)
    }
    assert sizes == {"ulaw": 160, "alaw": 160, "slin": 320, "slin16": 640}


def test_status_fields_are_typed_in_both_formats() -> None:
    plain = [m for m in _inbound("media_protocol_plain.jsonl") if isinstance(m, mp.Status)]
    full = next(m for m in plain if m.queue_full)
    assert (full.queue_length, full.xon_level, full.xoff_level) == (1000, 800, 900)
    assert any(m.bulk_media for m in plain) and any(m.media_paused for m in plain)
    json_status = next(m for m in _inbound("media_protocol_json.jsonl") if isinstance(m, mp.Status))
    assert json_status == mp.Status(
        channel_id="1795784827.14", queue_length=0, xon_level=800, xoff_level=900,
        queue_full=False, bulk_media=False, media_paused=False,
    )


def test_marks_and_buffering_ids_in_both_formats() -> None:
    plain = _inbound("media_protocol_plain.jsonl")
    assert mp.MarkProcessed(mark="m1") in plain
    assert mp.BufferingCompleted(id="buf1") in plain
    assert mp.QueueDrained() in plain
    assert mp.MediaXoff() in plain and mp.MediaXon() in plain
    as_json = _inbound("media_protocol_json.jsonl")
    assert mp.MarkProcessed(channel_id="1795784827.14", mark="mark-1") in as_json
    assert mp.BufferingCompleted(channel_id="1795784827.14", id="buf-1") in as_json
    assert mp.QueueDrained(channel_id="1795784827.14") in as_json


def test_dtmf_in_both_formats() -> None:
    plain = [m for m in _inbound("dtmf.jsonl") if isinstance(m, mp.DtmfEnd)]
    assert "".join(m.digit for m in plain) == "123#"
    assert {m.channel_id for m in plain} == {"1795784838.17"}
    as_json = [m for m in _inbound("media_protocol_json.jsonl") if isinstance(m, mp.DtmfEnd)]
    assert "".join(m.digit for m in as_json) == "45*"


def test_errors_keep_their_spaces_and_lose_the_trailing_newline() -> None:
    plain = [m for m in _inbound("media_protocol_plain.jsonl") if isinstance(m, mp.MediaError)]
    assert plain == [mp.MediaError(
        channel_id="1795784810.11",
        error_text="SET_MEDIA_DIRECTION only supports JSON format.",
    )]
    texts = {m.error_text for m in _inbound("media_protocol_json.jsonl") if isinstance(m, mp.MediaError)}
    assert texts == {
        "MARK_MEDIA not supported while media direction is 'in'",
        "'sideways' is not a valid direction for SET_MEDIA_DIRECTION.",
        "SET_MEDIA_DIRECTION requires a 'direction' parameter.",
        "Unable to parse JSON command",
    }


def test_plain_error_text_may_contain_colons() -> None:
    message = parse_control("ERROR channel_id:1.2 error_text:bad key:value here \n")
    assert message == mp.MediaError(channel_id="1.2", error_text="bad key:value here")


def test_unknown_names_are_not_errors() -> None:
    assert parse_control("MEDIA_PAUSED channel_id:9 x:y") == mp.UnknownMessage(
        name="MEDIA_PAUSED", raw="MEDIA_PAUSED channel_id:9 x:y", channel_id="9",
    )
    message = parse_control('{"event":"NEW_THING","channel_id":"7","n":1}')
    assert isinstance(message, mp.UnknownMessage)
    assert (message.name, message.channel_id) == ("NEW_THING", "7")


def test_optional_fields_default() -> None:
    assert parse_control("MEDIA_MARK_PROCESSED") == mp.MarkProcessed(mark="")
    assert parse_control('{"event":"MEDIA_MARK_PROCESSED"}') == mp.MarkProcessed(mark="")
    start = parse_control("MEDIA_START format:slin optimal_frame_size:320")
    assert start == mp.MediaStart(format="slin", optimal_frame_size=320, ptime=20)


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("", "bad message name"),
        ("   \n", "bad message name"),
        ("hello world", "bad message name"),
        ("\x00MEDIA_XON", "bad message name"),
        (b"\xc3\x28", "not UTF-8"),
        ("{", "not JSON"),
        ("{" * 50_000, "not JSON"),
        ("[1]", "bad message name"),
        ('{"event": 5}', "bad message name"),
        ('{"command": "GET_STATUS"}', "no 'event'"),
        ('["event"]', "bad message name"),
        ("MEDIA_START channel_id:1 format:ulaw", "missing 'optimal_frame_size'"),
        ("MEDIA_START format:ulaw optimal_frame_size:big", "must be an integer"),
        ("MEDIA_START format:ulaw optimal_frame_size:-160", "must be an integer"),
        ("MEDIA_START format:ulaw optimal_frame_size:160 junk", "expected key:value"),
        ('{"event":"MEDIA_START","format":"ulaw","optimal_frame_size":"160"}', "must be an integer"),
        ('{"event":"MEDIA_START","format":"ulaw","optimal_frame_size":true}', "must be an integer"),
        ('{"event":"MEDIA_START","format":"ulaw","optimal_frame_size":160,'
         '"channel_variables":{"A":1}}', "object of strings"),
        ("STATUS channel_id:1 queue_length:0 xon_level:800 xoff_level:900 queue_full:yes "
         "bulk_media:false media_paused:false", "true or false"),
        ('{"event":"STATUS","queue_length":0,"xon_level":800,"xoff_level":900,'
         '"queue_full":"false","bulk_media":false,"media_paused":false}', "true or false"),
        ("DTMF_END channel_id:1", "missing 'digit'"),
        ("DTMF_END digit:12 channel_id:1", "one character"),
        ('{"event":"DTMF_END","digit":1}', "must be a string"),
        ('{"event":"QUEUE_DRAINED","channel_id":5}', "must be a string"),
        ('{"event":"MEDIA_MARK_PROCESSED","correlation_id":["x"]}', "must be a string"),
        ("ERROR channel_id:1", "missing 'error_text'"),
    ],
)
def test_garbage_raises_one_error_class_with_a_stable_id(text: str | bytes, needle: str) -> None:
    with pytest.raises(ControlParseError, match=needle) as info:
        parse_control(text)
    assert info.value.error_id == "media-bad-control"
    assert isinstance(info.value, ValueError)


# --- commands --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "plain", "as_json"),
    [
        ({"command": "ANSWER"}, "ANSWER", '{"command":"ANSWER"}'),
        ({"command": "HANGUP"}, "HANGUP", '{"command":"HANGUP"}'),
        ({"command": "GET_STATUS"}, "GET_STATUS", '{"command":"GET_STATUS"}'),
        ({"command": "MARK_MEDIA"}, "MARK_MEDIA", '{"command":"MARK_MEDIA"}'),
        ({"command": "MARK_MEDIA", "arg": "m1"}, "MARK_MEDIA m1",
         '{"command":"MARK_MEDIA","correlation_id":"m1"}'),
        ({"command": "MARK_MEDIA", "correlation_id": "m1"}, "MARK_MEDIA m1",
         '{"command":"MARK_MEDIA","correlation_id":"m1"}'),
        ({"command": "REPORT_QUEUE_DRAINED"}, "REPORT_QUEUE_DRAINED",
         '{"command":"REPORT_QUEUE_DRAINED"}'),
        ({"command": "START_MEDIA_BUFFERING"}, "START_MEDIA_BUFFERING",
         '{"command":"START_MEDIA_BUFFERING"}'),
        ({"command": "STOP_MEDIA_BUFFERING", "arg": "buf1"}, "STOP_MEDIA_BUFFERING buf1",
         '{"command":"STOP_MEDIA_BUFFERING","correlation_id":"buf1"}'),
        ({"command": "FLUSH_MEDIA"}, "FLUSH_MEDIA", '{"command":"FLUSH_MEDIA"}'),
        ({"command": "PAUSE_MEDIA"}, "PAUSE_MEDIA", '{"command":"PAUSE_MEDIA"}'),
        ({"command": "CONTINUE_MEDIA"}, "CONTINUE_MEDIA", '{"command":"CONTINUE_MEDIA"}'),
    ],
)
def test_format_command_in_both_formats(kwargs: dict[str, Any], plain: str, as_json: str) -> None:
    assert format_command(**kwargs) == plain
    assert format_command(**kwargs, json=True) == as_json


def test_set_media_direction_is_json_only() -> None:
    assert format_command("SET_MEDIA_DIRECTION", direction="out", json=True) == (
        '{"command":"SET_MEDIA_DIRECTION","direction":"out"}'
    )
    assert format_command("SET_MEDIA_DIRECTION", arg="both", json=True) == (
        '{"command":"SET_MEDIA_DIRECTION","direction":"both"}'
    )
    with pytest.raises(CommandError, match="JSON"):
        format_command("SET_MEDIA_DIRECTION", direction="out")


def test_the_128_byte_limit_is_exact() -> None:
    assert len(format_command("MARK_MEDIA", arg="x" * 117)) == 128
    with pytest.raises(CommandError, match="exceed 128"):
        format_command("MARK_MEDIA", arg="x" * 118)
    longest_json = format_command("MARK_MEDIA", arg="x" * 84, json=True)
    assert len(longest_json) == 128
    with pytest.raises(CommandError, match="exceed 128"):
        format_command("MARK_MEDIA", arg="x" * 85, json=True)


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"command": "FOO_BAR"}, "unknown command"),
        ({"command": "get_status"}, "unknown command"),
        ({"command": "GET_STATUS", "arg": "now"}, "takes no argument"),
        ({"command": "ANSWER", "correlation_id": "x"}, "takes no argument"),
        ({"command": "FLUSH_MEDIA", "direction": "in"}, "takes no direction"),
        ({"command": "MARK_MEDIA", "arg": "a b"}, "printable ASCII"),
        ({"command": "MARK_MEDIA", "arg": "a\tb"}, "printable ASCII"),
        ({"command": "MARK_MEDIA", "arg": "a\nHANGUP"}, "printable ASCII"),
        ({"command": "MARK_MEDIA", "arg": "\x00"}, "printable ASCII"),
        ({"command": "MARK_MEDIA", "arg": "é"}, "printable ASCII"),
        ({"command": "MARK_MEDIA", "arg": ""}, "printable ASCII"),
        ({"command": "MARK_MEDIA", "arg": "a", "correlation_id": "b"}, "disagree"),
        ({"command": "SET_MEDIA_DIRECTION", "direction": "sideways", "json": True}, "in, out or both"),
        ({"command": "SET_MEDIA_DIRECTION", "json": True}, "in, out or both"),
        ({"command": "SET_MEDIA_DIRECTION", "direction": "in", "correlation_id": "x",
          "json": True}, "no correlation_id"),
        ({"command": "SET_MEDIA_DIRECTION", "arg": "in", "direction": "out", "json": True},
         "disagree"),
    ],
)
def test_format_command_refuses_what_asterisk_would_ignore(kwargs: dict[str, Any], needle: str) -> None:
    with pytest.raises(CommandError, match=needle) as info:
        format_command(**kwargs)
    assert info.value.error_id == "media-bad-command"
    assert isinstance(info.value, ValueError)


def test_parse_command_reads_like_asterisk() -> None:
    assert parse_command("  MARK_MEDIA m1 \r\n") == Command("MARK_MEDIA", "m1")
    assert parse_command("STOP_MEDIA_BUFFERING a b") == Command("STOP_MEDIA_BUFFERING", "a b")
    assert parse_command('{"command":"MARK_MEDIA","correlation_id":"x"}') == (
        Command("MARK_MEDIA", "x", json=True)
    )
    assert parse_command('{"command":"SET_MEDIA_DIRECTION","direction":"in"}') == (
        Command("SET_MEDIA_DIRECTION", "in", json=True)
    )
    assert parse_command(b"ANSWER") == Command("ANSWER")
    unknown = parse_command("FOO_BAR")
    assert unknown == Command("FOO_BAR") and not unknown.known
    assert Command("ANSWER").known
    # a JSON-looking command on a plain socket is an unknown command to Asterisk
    assert parse_command('{"command":"GET_STATUS"}', json=False).known is False


@pytest.mark.parametrize(
    ("text", "json_mode", "needle"),
    [
        ("", None, "empty"),
        (" \t\n", None, "empty"),
        ("MARK_MEDIA " + "x" * 118, None, "exceeds 128"),
        ("GET_STATUS", True, "not JSON"),
        ("{", None, "not JSON"),
        ('"GET_STATUS"', True, "must be an object"),
        ('{"cmd":"GET_STATUS"}', None, "no 'command'"),
        ('{"command":7}', None, "no 'command'"),
        ('{"command":"MARK_MEDIA","correlation_id":7}', None, "must be a string"),
        (b"\xff", None, "not UTF-8"),
    ],
)
def test_parse_command_refuses_what_asterisk_drops(
    text: str | bytes, json_mode: bool | None, needle: str
) -> None:
    with pytest.raises(ControlParseError, match=needle):
        parse_command(text, json=json_mode)


# --- fuzz ------------------------------------------------------------------------------------

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
NAMES = st.sampled_from(sorted(KNOWN_NAMES))
FIELD_KEYS = st.sampled_from([
    "channel_id", "connection_id", "channel", "format", "optimal_frame_size", "ptime",
    "channel_variables", "queue_length", "xon_level", "xoff_level", "queue_full",
    "bulk_media", "media_paused", "digit", "error_text", "correlation_id",
]) | st.text(max_size=6)


def _parses_or_refuses(text: str | bytes) -> None:
    try:
        message = parse_control(text)
    except ControlParseError as exc:
        assert exc.error_id == "media-bad-control" and str(exc)
    else:
        assert isinstance(message.name, str) and message.name


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200) | st.binary(max_size=200))
def test_fuzz_arbitrary_text_and_bytes(text: str | bytes) -> None:
    _parses_or_refuses(text)


@settings(max_examples=200, deadline=None)
@given(JSON_VALUES)
def test_fuzz_arbitrary_json(value: object) -> None:
    _parses_or_refuses(json.dumps(value))


@settings(max_examples=200, deadline=None)
@given(NAMES, st.dictionaries(FIELD_KEYS, JSON_VALUES, max_size=8))
def test_fuzz_known_json_events_with_arbitrary_fields(name: str, fields: dict[str, object]) -> None:
    _parses_or_refuses(json.dumps({**fields, "event": name}))


@settings(max_examples=200, deadline=None)
@given(NAMES, st.lists(st.tuples(FIELD_KEYS, st.text(max_size=10)), max_size=8), st.text(max_size=10))
def test_fuzz_known_plain_events_with_arbitrary_fields(
    name: str, pairs: list[tuple[str, str]], tail: str
) -> None:
    _parses_or_refuses(" ".join([name, *(f"{k}:{v}" for k, v in pairs), tail]))


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200) | st.binary(max_size=200), st.sampled_from([None, True, False]))
def test_fuzz_parse_command_raises_only_control_parse_error(
    text: str | bytes, json_mode: bool | None
) -> None:
    try:
        command = parse_command(text, json=json_mode)
    except ControlParseError as exc:
        assert exc.error_id == "media-bad-control"
    else:
        assert isinstance(command, Command) and command.name


IDS = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=40)


@st.composite
def commands(draw: st.DrawFn) -> tuple[str, str | None, bool]:
    name = draw(st.sampled_from(sorted(mc.COMMANDS)))
    as_json = draw(st.booleans()) or name == "SET_MEDIA_DIRECTION"
    if name == "SET_MEDIA_DIRECTION":
        return name, draw(st.sampled_from(sorted(mc.DIRECTIONS))), as_json
    if name in ("MARK_MEDIA", "STOP_MEDIA_BUFFERING"):
        return name, draw(st.none() | IDS), as_json
    return name, None, as_json


@settings(max_examples=200, deadline=None)
@given(commands())
def test_format_command_then_parse_command_round_trips(case: tuple[str, str | None, bool]) -> None:
    name, arg, as_json = case
    text = format_command(name, arg=arg, json=as_json)
    assert len(text.encode()) <= mc.MAX_COMMAND_BYTES
    assert parse_command(text) == Command(name, arg, json=as_json)
    assert parse_command(text, json=as_json) == Command(name, arg, json=as_json)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(sorted(mc.COMMANDS)), st.text(max_size=130), st.booleans())
def test_format_command_either_refuses_or_round_trips(name: str, arg: str, as_json: bool) -> None:
    try:
        text = format_command(name, arg=arg, json=as_json)
    except CommandError:
        return
    assert parse_command(text, json=as_json) == Command(name, arg, json=as_json)


TOKENS = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=20)
STRIPPED_TEXT = st.text(max_size=40).map(lambda s: s.strip(" \t\n\v\f\r"))


@st.composite
def messages(draw: st.DrawFn, as_json: bool) -> mp.ControlMessage:
    """Messages as Asterisk can write them: plain text has no channel_id on the
    no-data and id messages and no channel_variables."""
    name = draw(NAMES)
    channel_id = draw(TOKENS)
    short_id = channel_id if as_json else None
    count = st.integers(0, 10_000)
    if name == "MEDIA_START":
        variables = st.dictionaries(st.text(max_size=8), st.text(max_size=8))
        return mp.MediaStart(
            channel_id=channel_id, format=draw(TOKENS), optimal_frame_size=draw(count),
            ptime=draw(count), connection_id=draw(TOKENS), channel=draw(TOKENS),
            channel_variables=draw(variables) if as_json else {},
        )
    if name == "STATUS":
        return mp.Status(
            channel_id=channel_id, queue_length=draw(count), xon_level=draw(count),
            xoff_level=draw(count), queue_full=draw(st.booleans()),
            bulk_media=draw(st.booleans()), media_paused=draw(st.booleans()),
        )
    if name == "DTMF_END":
        return mp.DtmfEnd(channel_id=channel_id, digit=draw(st.sampled_from("0123456789*#ABCD")))
    if name == "ERROR":
        return mp.MediaError(channel_id=channel_id, error_text=draw(STRIPPED_TEXT))
    if name == "MEDIA_MARK_PROCESSED":
        return mp.MarkProcessed(channel_id=short_id, mark=draw(st.just("") | TOKENS))
    if name == "MEDIA_BUFFERING_COMPLETED":
        return mp.BufferingCompleted(channel_id=short_id, id=draw(st.just("") | TOKENS))
    no_data: dict[str, type[mp.MediaXoff | mp.MediaXon | mp.QueueDrained]] = {
        "MEDIA_XOFF": mp.MediaXoff, "MEDIA_XON": mp.MediaXon, "QUEUE_DRAINED": mp.QueueDrained,
    }
    return no_data[name](channel_id=short_id)


@settings(max_examples=200, deadline=None)
@given(messages(as_json=False))
def test_format_control_then_parse_control_round_trips_in_plain(message: mp.ControlMessage) -> None:
    assert parse_control(format_control(message)) == message


@settings(max_examples=200, deadline=None)
@given(messages(as_json=True))
def test_format_control_then_parse_control_round_trips_in_json(message: mp.ControlMessage) -> None:
    assert parse_control(format_control(message, json=True)) == message
