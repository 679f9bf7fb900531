"""Replay every golden trace of a real Asterisk against the fake and require the same behaviour.

For each scenario in ``tests/fixtures/asterisk-traces`` the replayer (tests/fake_asterisk/replay.py) issues
the probe's REST requests, event-socket connects, media messages and CLI actions, waiting on
conditions (never fixed sleeps) before each one, then diffs per-channel ARI event sequences and JSON
shapes, REST statuses/bodies, media handshakes, control messages and close codes.
"""
from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.fake_asterisk import FakeAsterisk
from tests.fake_asterisk.harness import EventsClient, MediaServer, wait_for
from tests.fake_asterisk.replay import ARI_PASS, ARI_USER, Rec, Replayer, load_trace

TONE = bytes((0x80 + (i * 7) % 100) for i in range(160)) * 10  # 0.2 s of non-silent µ-law


async def make_fake(media: MediaServer, **kwargs: Any) -> FakeAsterisk:
    fake = FakeAsterisk(
        users={ARI_USER: ARI_PASS},
        websocket_clients={
            "dograh": {
                "uri": media.url("/api/v1/telephony/ws/ari"),
                "reconnect_attempts": 2,  # websocket_client.conf of the traces
                "reconnect_interval": 0.05,  # 500 ms in the traces; shortened
            }
        },
        **kwargs,
    )
    return await fake.start()


@pytest.fixture
async def rig() -> AsyncIterator[tuple[FakeAsterisk, MediaServer]]:
    media = await MediaServer().start()
    fake = await make_fake(media)
    try:
        yield fake, media
    finally:
        await fake.stop()
        await media.stop()


async def run_replay(name: str, fake: FakeAsterisk, media: MediaServer, **hooks: Any) -> Replayer:
    rp = Replayer(name, fake, media, caller_audio=TONE)
    rp.notes_hooks.update(hooks.get("notes", {}))
    rp.after_text_hooks.update(hooks.get("after_text", {}))
    rp.before_request_hooks += hooks.get("before_request", [])
    diff = await rp.run()
    assert not diff.problems, f"{name}: {len(diff.problems)} differences:\n" + "\n".join(diff.problems)
    return rp


def frames(n: int):  # a hook that sends n unlogged 160-byte frames on the record's connection
    async def hook(rp: Replayer, rec: Rec) -> None:
        await rp.send_frames(rp.media.conns[-1], n)

    return hook


async def test_inbound_app_hangup(rig: tuple[FakeAsterisk, MediaServer]) -> None:
    fake, media = rig
    rp = await run_replay("inbound_app_hangup", fake, media)
    # no ChannelDestroyed for the inbound Local ;2 channel, StasisEnd is its last event
    inbound = [e for e in rp.main_events if e.get("channel", {}).get("name", "").endswith(";2")]
    assert inbound[-1]["type"] == "StasisEnd"
    assert not any(e["type"] == "ChannelDestroyed" for e in inbound)


async def test_inbound_caller_hangup(rig: tuple[FakeAsterisk, MediaServer]) -> None:
    fake, media = rig
    await run_replay("inbound_caller_hangup", fake, media)


async def test_media_protocol_plain(rig: tuple[FakeAsterisk, MediaServer]) -> None:
    fake, media = rig
    rp = await run_replay(
        "media_protocol_plain",
        fake,
        media,
        after_text={"PAUSE_MEDIA": frames(25)},
        notes={"TEST FLUSH_MEDIA": frames(250), "TEST overflow": frames(1250)},
    )
    texts = rp.media.conns[0].texts
    after_burst = next(t for t in texts[texts.index("MEDIA_XOFF") :] if t.startswith("STATUS"))
    assert "queue_length:1000" in after_burst and "queue_full:true" in after_burst  # the 1000-frame cap
    assert texts[texts.index("MEDIA_XON") + 1].startswith("STATUS")
    assert "error_text:SET_MEDIA_DIRECTION only supports JSON format.\n" in "".join(texts)


async def test_media_protocol_json(rig: tuple[FakeAsterisk, MediaServer]) -> None:
    fake, media = rig
    rp = await run_replay("media_protocol_json", fake, media)
    start = json.loads(rp.media.conns[0].texts[0])
    assert start["channel_variables"] == {
        "X_TEST": "hello world",
        "DOGRAH_CALL": "abc123",
        "MEDIA_WEBSOCKET_CONNECTION_ID": "dograh",
        "MEDIA_WEBSOCKET_OPTIMAL_FRAME_SIZE": "160",
    }


async def test_dtmf(rig: tuple[FakeAsterisk, MediaServer]) -> None:
    fake, media = rig
    rp = await run_replay("dtmf", fake, media)
    assert [t.split()[1] for t in rp.media.conns[0].texts if t.startswith("DTMF_END")] == [
        "digit:1", "digit:2", "digit:3", "digit:#"
    ]


async def test_outbound(rig: tuple[FakeAsterisk, MediaServer]) -> None:
    fake, media = rig
    fake.set_outbound_behavior("6001@agent-outbound", "answer", ringing_s=1.0, audio=TONE, echo=True)
    fake.set_outbound_behavior("6002@agent-outbound", "noanswer")
    fake.set_outbound_behavior("6003@agent-outbound", "busy")
    fake.set_outbound_behavior("9999@agent-outbound", "nosuchexten")
    await run_replay("outbound", fake, media)


async def test_ari_errors(rig: tuple[FakeAsterisk, MediaServer]) -> None:
    fake, media = rig
    # The traced Asterisk had a leftover bridge of app "dograh" from an earlier scenario; recreate it.
    pre = await EventsClient().connect(fake.events_url("dograh", ARI_USER, ARI_PASS))
    cid = await fake.place_inbound_call()
    bridge = fake.create_bridge("mixing", f"call-{cid}", None)
    fake.add_to_bridge(bridge.id, [cid])
    fake.hangup_channel(cid, None, None)
    await pre.close()
    await wait_for(lambda: not fake.registered_apps)

    async def second_socket(rp: Replayer, rec: Rec) -> None:
        n = len(rp.main_events)
        ws2 = await EventsClient().connect(fake.events_url("dograh", ARI_USER, ARI_PASS))
        rp.ws2 = ws2
        await wait_for(lambda: any(e.get("type") == "ApplicationReplaced" for e in rp.main_events[n:]))
        with pytest.raises(TimeoutError):  # the new socket gets nothing
            await ws2.wait_event(lambda e: True, timeout=0.2)
        await ws2.close()
        await wait_for(lambda: "dograh" not in fake.registered_apps)

    await run_replay("ari_errors", fake, media, notes={"second events websocket": second_socket})


async def test_externalmedia_failures(rig: tuple[FakeAsterisk, MediaServer]) -> None:
    fake, media = rig
    await run_replay("externalmedia_failures", fake, media)
    assert fake.media_connections[0].failed and fake.media_connections[0].attempts == 2


async def test_formats(rig: tuple[FakeAsterisk, MediaServer]) -> None:
    fake, media = rig
    rp = await run_replay("formats", fake, media)
    starts = [c.texts[0] for c in rp.media.conns]
    sizes = [s.split("optimal_frame_size:")[1].split()[0] for s in starts]
    assert sizes[:4] == ["160", "160", "320", "640"]
    assert [s.split("format:")[1].split()[0] for s in starts[:4]] == ["ulaw", "alaw", "slin", "slin16"]


async def test_uri_params(rig: tuple[FakeAsterisk, MediaServer]) -> None:
    fake, media = rig
    rp = await run_replay("uri_params", fake, media)
    assert [c.query for c in rp.media.conns] == [
        "call=A&run=1",
        "call=A&run=1",  # no v(): the previous call's params stick
        "call=B",
        "call=B",  # only f(json): still sticky
        "q=a%20b&email=x%40y.com",  # nothing is re-encoded
        "q=a%20b&email=x%40y.com",  # after the 500 for a raw space, and after a module reload
    ]


async def test_echo_roundtrip(rig: tuple[FakeAsterisk, MediaServer]) -> None:
    fake, media = rig

    async def let_echo_finish(rp: Replayer, rec: Rec) -> None:
        # The probe slept while the audio played; wait instead until the echo has come back.
        sent = sum(1 for r in rp.recs if r.kind == "binary" and r.dir == "out")
        await wait_for(lambda: len(rp.media.conns[0].binaries) >= sent - 1 + 100, timeout=20)

    rp = await run_replay(
        "echo_roundtrip", fake, media, before_request=[(lambda r: r.payload["method"] == "DELETE", let_echo_finish)]
    )
    conn = rp.media.conns[0]
    outs = [r for r in rp.recs if r.kind == "binary" and r.dir == "out"]
    # Echo(): every 160-byte frame the app sent came back byte-identical and in order ...
    paced = [(bytes.fromhex(r.payload["head_hex"]) + b"\xff" * 160)[:160] for r in outs if r.payload["size"] == 160]
    assert conn.binaries[: len(paced)] == paced
    # ... and the single 16000-byte message was re-timed into 100 frames of 160 bytes.
    big = conn.binaries[len(paced) : len(paced) + 100]
    assert len(big) == 100 and all(len(b) == 160 for b in big)


async def test_app_closes_media(rig: tuple[FakeAsterisk, MediaServer]) -> None:
    fake, media = rig
    rp = await run_replay("app_closes_media", fake, media)
    ws_events = [e["type"] for e in rp.main_events if e.get("channel", {}).get("name", "").startswith("WebSocket/")]
    assert ws_events[-6:] == ["ChannelHangupRequest", "ChannelVarset", "ChannelLeftBridge", "StasisEnd", "ChannelVarset", "ChannelDestroyed"]


async def test_restart(rig: tuple[FakeAsterisk, MediaServer]) -> None:
    fake, media = rig
    rp = await run_replay("restart", fake, media)
    assert rp.clients[0].close_info is not None and rp.clients[0].close_info.rcvd_code is None  # no close frame
    assert rp.media.conns[0].close_info is not None and rp.media.conns[0].close_info.rcvd_code == 1000


async def test_vparam_race(rig: tuple[FakeAsterisk, MediaServer]) -> None:
    """20 concurrent calls, each given ``ext-<k>`` + ``v(workflow_run_id=<k>,call=<k>)`` as soon as its
    StasisStart arrives. With the swap switch on, query strings swap like in the trace while every
    MEDIA_START channel_id stays right; the Dial dialstrings keep each channel's own v()."""
    fake, media = rig
    trace = load_trace("vparam_race")
    requests = [r for r in trace if r.channel == "ari_http" and r.kind == "request"]
    assert len(requests) == 20
    traced_mismatches = [r.payload for r in trace if r.kind == "analysis" and not r.payload["match"]]
    assert traced_mismatches, "the trace documents at least one swap"

    app = EventsClient()
    await app.connect(fake.events_url("dograh", ARI_USER, ARI_PASS))
    http = httpx.AsyncClient(base_url=fake.ari_url, auth=(ARI_USER, ARI_PASS), trust_env=False)
    fake.swap_vparams(True, window_s=0.2)

    async def one(rec: Rec) -> None:
        k = str(rec.extra["call"])
        cid = await fake.place_inbound_call(k, k)
        await app.wait_event(lambda e: e.get("type") == "StasisStart" and e["channel"]["id"] == cid)
        assert (await http.post(f"/channels/{cid}/answer")).status_code == 204
        r = await http.post("/channels/externalMedia", params=rec.payload["params"])
        assert r.status_code == 200 and r.json()["id"] == f"ext-{k}" and r.json()["state"] == "Down"

    try:
        await asyncio.gather(*(one(r) for r in requests))
        await wait_for(lambda: len(media.conns) == 20 and all(c.media_start for c in media.conns), timeout=10)
        ks = {str(r.extra["call"]) for r in requests}
        by_channel = {c.channel_id: c for c in media.conns}
        assert set(by_channel) == {f"ext-{k}" for k in ks}  # MEDIA_START channel_id is always right
        mismatched = {cid: c.query for cid, c in by_channel.items() if c.query != f"workflow_run_id={cid[4:]}&call={cid[4:]}"}
        assert mismatched, "swap mode must reproduce the vparam_race surprise"
        own_queries = {f"workflow_run_id={k}&call={k}" for k in ks}
        seen = {c.query for c in media.conns}
        assert all(query in own_queries for query in mismatched.values())  # another call's complete params
        assert len(seen) < len(ks)  # so some call's parameters never arrive at all
        dials = [e for e in app.events if e.get("type") == "Dial" and e["dialstatus"] == ""]
        assert all(e["dialstring"] == f"dograh/v(workflow_run_id={e['peer']['id'][4:]},call={e['peer']['id'][4:]})d(both)" for e in dials)

        # strictly sequential set-up never swaps
        fake.swap_vparams(False)
        before = len(media.conns)
        for k in ("900001", "900002", "900003"):
            cid = await fake.place_inbound_call(k, k)
            await app.wait_event(lambda e, c=cid: e.get("type") == "StasisStart" and e["channel"]["id"] == c)
            params = dict(requests[0].payload["params"], channelId=f"ext-{k}", transport_data=f"v(workflow_run_id={k},call={k})")
            assert (await http.post("/channels/externalMedia", params=params)).status_code == 200
            conn = await media.wait_conn(len(media.conns) + 1)
            await wait_for(lambda c=conn: c.media_start)
            assert conn.query == f"workflow_run_id={k}&call={k}" and conn.channel_id == f"ext-{k}"
        assert len(media.conns) == before + 3
    finally:
        await http.aclose()
        await app.close()

