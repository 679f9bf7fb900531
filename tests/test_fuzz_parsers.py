"""More fuzz for the two parsers that read what Asterisk sends, and for the code that consumes them
(the events link's dispatch, the media session's text handler): starting from every real frame of
the traces, byte-level damage (truncation, flips, insertions), one JSON field broken in a control
message, plain-text tokens shuffled; and huge or deeply nested input. Nothing may raise anything but
our own parse error, and the consumers must not raise at all."""
from __future__ import annotations

import asyncio
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ari.events import AriEventError, Event, parse_event
from ari.link import EventsLink, LinkState
from media.protocol import ControlParseError, MediaStart, parse_control
from media.session import MediaSession
from tests.test_ari_events import ALL_PAYLOADS, JSON_VALUES, _paths, _replaced
from tests.test_media_protocol import TRACE_FILES, _texts

CONTROL_FRAMES = sorted({text for path in TRACE_FILES for direction, _, text in _texts(path.name) if direction == "in"})
JSON_FRAMES = [json.loads(t) for t in CONTROL_FRAMES if t.startswith("{")]
PLAIN_FRAMES = [t for t in CONTROL_FRAMES if not t.startswith("{")]
EVENT_TEXTS = [json.dumps(p) for p in ALL_PAYLOADS]
SLOW = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def parse_event_or_refuse(text: str | bytes) -> None:
    try:
        event = parse_event(text)
    except AriEventError as exc:
        assert exc.error_id == "ari-bad-event"
    else:
        assert isinstance(event, Event)


def parse_control_or_refuse(text: str | bytes) -> None:
    try:
        message = parse_control(text)
    except ControlParseError as exc:
        assert exc.error_id == "media-bad-control"
    else:
        assert message.name


@st.composite
def damaged(draw: st.DrawFn, sources: list[str]) -> bytes:
    """A real frame with a few byte-level injuries."""
    data = bytearray(draw(st.sampled_from(sources)).encode())
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["truncate", "flip", "insert", "delete", "duplicate"]))
        at = draw(st.integers(0, max(0, len(data) - 1)))
        if op == "truncate":
            del data[at:]
        elif op == "flip" and data:
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif op == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif op == "delete":
            del data[at:at + draw(st.integers(1, 8))]
        elif op == "duplicate":
            data[at:at] = data[at:at + draw(st.integers(1, 16))]
    return bytes(data)


@SLOW
@given(damaged(EVENT_TEXTS), st.booleans())
def test_damaged_real_ari_events(data: bytes, as_text: bool) -> None:
    parse_event_or_refuse(data.decode("utf-8", "replace") if as_text else data)


@SLOW
@given(damaged(CONTROL_FRAMES), st.booleans())
def test_damaged_real_control_messages(data: bytes, as_text: bool) -> None:
    parse_control_or_refuse(data.decode("utf-8", "replace") if as_text else data)


@SLOW
@given(st.data())
def test_real_json_control_messages_with_one_field_broken(data: st.DataObject) -> None:
    frame = data.draw(st.sampled_from(JSON_FRAMES))
    path = data.draw(st.sampled_from(list(_paths(frame))))
    new = data.draw(JSON_VALUES | st.just(_DELETE_MARK))
    parse_control_or_refuse(json.dumps(_replaced(frame, path, _DELETE if new is _DELETE_MARK else new)))


_DELETE_MARK = object()
from tests.test_ari_events import _DELETE  # noqa: E402  (the sentinel _replaced understands)


@SLOW
@given(st.data())
def test_real_plain_control_messages_with_tokens_shuffled(data: st.DataObject) -> None:
    tokens = data.draw(st.sampled_from(PLAIN_FRAMES)).split(" ")
    tokens = data.draw(st.permutations(tokens))
    extra = data.draw(st.lists(st.sampled_from([":", "::", "key:", ":value", "channel_id:", "optimal_frame_size:-1",
                                                "ptime:99999999999999999999", "queue_full:maybe", "\x00", "é:ü"]),
                               max_size=3))
    parse_control_or_refuse(" ".join([*tokens, *extra]))


def test_huge_and_deeply_nested_input() -> None:
    for text in ("[" * 100_000, '{"a":' * 100_000, '{"type":"StasisStart","x":' + "[" * 50_000 + "]" * 50_000 + "}",
                 "x" * 5_000_000, '{"type": 1e999}', '{"event": NaN}', "\ud800", b"\xff\xfe" * 1000):
        parse_event_or_refuse(text)
        parse_control_or_refuse(text)


# --- the consumers ------------------------------------------------------------------------------

class _NullSocket:
    async def send_bytes(self, data: bytes) -> None: ...
    async def send_text(self, text: str) -> None: ...
    async def receive(self) -> str | bytes | None:
        return None
    async def close(self, code: int = 1000) -> None: ...


ANY_TEXT = st.text(max_size=300) | st.sampled_from(CONTROL_FRAMES) | damaged(CONTROL_FRAMES).map(
    lambda b: b.decode("utf-8", "replace"))


@SLOW
@given(st.lists(ANY_TEXT, max_size=6))
def test_the_media_session_never_raises_on_what_asterisk_sends(texts: list[str]) -> None:
    async def run() -> None:
        start = MediaStart(channel_id="sbm-x", connection_id="c", format="ulaw", optimal_frame_size=160, ptime=20)
        session = MediaSession(_NullSocket(), start, run_id=1)
        bad = 0
        for text in texts:
            try:
                parse_control(text)
            except ControlParseError:
                bad += 1
            session._on_text(text)
        assert session.stats.bad_messages == bad

    asyncio.run(run())


@SLOW
@given(st.lists(st.text(max_size=300) | st.sampled_from(EVENT_TEXTS) | damaged(EVENT_TEXTS), max_size=6))
def test_the_events_link_never_raises_on_what_asterisk_sends(messages: list[Any]) -> None:
    async def run() -> None:
        seen: list[Event] = []

        async def handler(event: Any) -> None:
            seen.append(event)

        link = EventsLink(config_id=1, name="fuzz", endpoint="http://127.0.0.1:9", app="dograh", username="u",
                          password="p", on_event=handler, rest=object())  # type: ignore[arg-type]
        link._set(LinkState.CONNECTED)  # events are only read on a connected socket
        for message in messages:
            await link._dispatch(message)
        assert all(isinstance(e, Event) for e in seen)

    asyncio.run(run())
