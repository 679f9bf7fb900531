"""Media socket faults on real calls: the socket dropped mid-call without a close frame, garbage from
Asterisk on a live socket (oversized text, random text and bytes, the other control format), and
broken first messages; plus a whole call in JSON control mode."""
from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from media.commands import MAX_COMMAND_BYTES
from tests.e2e.harness import Stack, stack
from tests.e2e.test_faults import settled
from tests.e2e.test_media_endpoint import closed_code, media_url, start_text
from web.state import app_state


async def live_call(s: Stack) -> tuple[str, object, object]:
    """A call with its media up: (caller channel, our MediaSession, the fake's ExtMediaSession)."""
    channel = await s.fake.place_inbound_call("1", "8000")
    control = s.service.controls[s.config.id]
    await s.wait(lambda: channel in control.calls and control.calls[channel].session is not None)
    session = control.calls[channel].session
    assert session is not None
    fake_media = s.fake.all_channels[session.channel_id].media
    return channel, session, fake_media


async def test_media_socket_dropped_mid_call_without_a_close_frame(tmp_path: Path) -> None:
    async with stack(tmp_path) as s:
        channel, session, fake_media = await live_call(s)
        fake_media.ws.transport.abort()  # TCP gone: no close frame either way
        run = await s.wait_run(lambda r: r.call_id == channel and r.ended_at is not None)
        assert run.status == "failed" and run.error_id in ("media-channel-ended", "media-closed"), run
        assert session.closed
        await settled(s)  # the caller was hung up, the media channel and bridge deleted


async def test_garbage_from_asterisk_on_a_live_media_socket_is_skipped(tmp_path: Path) -> None:
    async with stack(tmp_path) as s:
        channel, session, fake_media = await live_call(s)
        rng = random.Random(8)
        garbage = [
            "MEDIA_XOFF " + "x" * 200,  # over 128 bytes (Asterisk never sends one; we must not choke)
            "A" * 5000,
            "".join(chr(rng.randrange(1, 0x2FFF)) for _ in range(300)),  # random text
            "{not json",
            '{"event": 5}',
            '{"event": "MEDIA_MARK_PROCESSED", "correlation_id": ["x"]}',  # JSON in plain mode, wrong type
            json.dumps({"event": "STATUS", "channel_id": session.channel_id, "queue_length": "many"}),
            "MEDIA_START connection_id:x channel_id:other format:ulaw optimal_frame_size:abc",
            "",
            " ",
        ]
        for text in garbage:
            fake_media.send_text(text)
        for size in (1, 7, 159, 161, 4000):
            fake_media.send_binary(rng.randbytes(size))  # odd-sized audio is still audio
        frames_before = session.stats.frames_in
        await s.fake.caller_say(channel, b"\x7f" * 1600, wait=True)
        await s.wait(lambda: session.stats.frames_in >= frames_before + 10)
        assert not session.closed and session.stats.bad_messages >= 6
        # Our direction still works: audio plays out and a mark comes back.
        session.play(b"\xff" * 1600)
        assert await session.mark("after-garbage") is True
        assert all(len(t.encode()) <= MAX_COMMAND_BYTES for _, t in fake_media.record.texts_from_app)
        await s.fake.caller_hangup(channel)
        run = await s.wait_run(lambda r: r.call_id == channel and r.ended_at is not None)
        assert run.status == "completed"
        await settled(s)


async def test_a_call_in_json_control_mode_and_plain_text_on_it(tmp_path: Path) -> None:
    async with stack(tmp_path, fake_kwargs={"control_message_format": "json"}) as s:
        channel, session, fake_media = await live_call(s)
        assert (fake_media.record.media_start or "").startswith("{")
        for text in ("MEDIA_MARK_PROCESSED nobody", "STATUS channel_id:x queue_length:lots", "garbage garbage"):
            fake_media.send_text(text)  # plain text in JSON mode: read or skipped, never fatal
        session.play(b"\xff" * 800)
        assert await session.mark("json-mark") is True
        sent = fake_media.record.texts_from_app_only()
        assert sent and all(t.startswith("{") for t in sent)  # our commands follow the socket's format
        await s.fake.caller_hangup(channel)
        assert (await s.wait_run(lambda r: r.call_id == channel and r.ended_at is not None)).status == "completed"
        await settled(s)


@pytest.mark.parametrize("first", [
    pytest.param(b"\xff" * 160, id="binary-before-media-start"),
    pytest.param("MEDIA_START channel_id:" + "9" * 200, id="text-over-128-bytes"),
    pytest.param(bytes(random.Random(3).randbytes(64)), id="random-bytes"),
    pytest.param('{"event": "MEDIA_START", "channel_id": 12}', id="json-wrong-type"),
    pytest.param('{"event": "MEDIA_START"', id="broken-json"),
])
async def test_broken_first_messages_are_refused_and_a_live_call_is_untouched(tmp_path: Path, first: str | bytes) -> None:
    async with stack(tmp_path) as s:
        channel, session, _ = await live_call(s)
        run = await s.wait_run(lambda r: r.call_id == channel)
        url = media_url(s.url, f"?workflow_id={s.workflow.id}&user_id={s.org_id}&workflow_run_id={run.id}")
        assert await closed_code(url, first, start_text(session.channel_id)) == 1008
        assert not session.closed and len(app_state(s.app).media_registry) == 0
        await s.fake.caller_hangup(channel)
        assert (await s.wait_run(lambda r: r.call_id == channel and r.ended_at is not None)).status == "completed"
