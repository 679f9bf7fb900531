"""Behaviour of the fake beyond the replays: media timing facts, the far end, fault switches, the
control surfaces and the standalone process. Everything runs over real loopback sockets."""
from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from websockets.asyncio.client import connect

from tests.fake_asterisk import FakeAsterisk
from tests.fake_asterisk.harness import App, EventsClient, MediaConn, MediaServer, is_type, wait_for

USER, PASSWORD = "dograh", "secret"
EM = {
    "app": "dograh",
    "external_host": "dograh",
    "transport": "websocket",
    "encapsulation": "none",
    "connection_type": "client",
    "format": "ulaw",
    "direction": "both",
    "transport_data": "v(workflow_id=1,user_id=2,workflow_run_id=3)",
}
TONE = bytes((0x80 + (i * 7) % 100) for i in range(160))


class Rig:
    def __init__(self, fake: FakeAsterisk, app: App) -> None:
        self.fake = fake
        self.app = app

    @property
    def media(self) -> MediaServer:
        return self.app.media

    async def inbound(self, *, answer: bool = True, **kwargs: Any) -> str:
        cid = await self.fake.place_inbound_call(**kwargs)
        await self.app.events.wait_event(is_type("StasisStart", cid))
        if answer:
            assert (await self.app.ari("POST", f"/channels/{cid}/answer")).status_code == 204
        return cid

    async def external_media(self, **overrides: str) -> tuple[str, MediaConn]:
        n = len(self.media.conns)
        r = await self.app.ari("POST", "/channels/externalMedia", params={**EM, **overrides})
        assert r.status_code == 200, r.text
        em = r.json()["id"]
        conn = await self.media.wait_conn(n + 1)
        await conn.wait_text(lambda t: "MEDIA_START" in t)
        await self.app.events.wait_event(is_type("StasisStart", em))
        return em, conn

    async def bridge(self, *ids: str) -> str:
        r = await self.app.ari("POST", "/bridges", params={"type": "mixing"})
        bid = r.json()["id"]
        r = await self.app.ari("POST", f"/bridges/{bid}/addChannel", params={"channel": ",".join(ids)})
        assert r.status_code == 204
        return bid

    async def call_with_media(self, **overrides: str) -> tuple[str, str, MediaConn, str]:
        cid = await self.inbound()
        em, conn = await self.external_media(**overrides)
        bid = await self.bridge(cid, em)
        return cid, em, conn, bid


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    media = await MediaServer().start()
    fake = FakeAsterisk(
        users={USER: PASSWORD},
        websocket_clients={"dograh": {"uri": media.url(), "reconnect_attempts": 2, "reconnect_interval": 0.02}},
    )
    await fake.start()
    app = App(fake.ari_url, USER, PASSWORD, media)
    await app.events.connect(app.events_url())
    await wait_for(lambda: "dograh" in fake.registered_apps)
    try:
        yield Rig(fake, app)
    finally:
        await app.close()
        await fake.stop()


def mean_spacing(times: list[float]) -> float:
    return (times[-1] - times[0]) / (len(times) - 1)


# ---------------------------------------------------------------------- media path
async def test_app_audio_is_retimed_and_heard_by_the_caller(rig: Rig) -> None:
    cid, em, conn, _ = await rig.call_with_media()
    audio = TONE * 100
    await conn.send_binary(audio)  # one 16000-byte message
    rec = rig.fake.media_for(em)
    assert rec is not None
    await wait_for(lambda: len(rec.played) == 100, timeout=5)
    times = [f.t for f in rec.played]
    assert 0.015 < mean_spacing(times) < 0.030  # played by a 20 ms timer (generous: loaded CI)
    assert [f.tick for f in rec.played] == list(range(rec.played[0].tick, rec.played[0].tick + 100))
    await wait_for(lambda: len(rig.fake.caller(cid).heard) == 100)
    assert rig.fake.heard(cid) == audio  # the caller hears exactly what the app sent
    assert rec.underruns() == []


async def test_underruns_are_recorded(rig: Rig) -> None:
    _, em, conn, _ = await rig.call_with_media()
    rec = rig.fake.media_for(em)
    assert rec is not None
    await conn.send_binary(TONE * 3)
    await wait_for(lambda: len(rec.played) == 3)
    clock = rig.fake._clock
    assert clock is not None
    tick = clock.tick_index
    await wait_for(lambda: clock.tick_index >= tick + 3)  # the queue ran dry for a few timeslots
    await conn.send_binary(TONE * 3)
    await wait_for(lambda: len(rec.played) == 6)
    gaps = rec.underruns()
    assert len(gaps) == 1 and gaps[0].missed_ticks >= 2


async def test_caller_audio_is_sent_in_20ms_frames_and_nothing_during_silence(rig: Rig) -> None:
    cid, _, conn, _ = await rig.call_with_media()
    await rig.fake.caller_say(cid, TONE * 6 + TONE[:40])
    await wait_for(lambda: len(conn.binaries) == 7)
    assert [len(b) for b in conn.binaries] == [160] * 6 + [40]  # the last frame may be short
    assert 0.012 < mean_spacing(conn.binary_times) < 0.030
    clock = rig.fake._clock
    assert clock is not None
    tick = clock.tick_index
    await wait_for(lambda: clock.tick_index >= tick + 5)
    assert len(conn.binaries) == 7  # a silent caller sends nothing


async def test_slin16_external_media_is_transcoded(rig: Rig) -> None:
    cid = await rig.inbound()
    em, conn = await rig.external_media(format="slin16")
    assert "optimal_frame_size:640" in conn.texts[0]
    await rig.bridge(cid, em)
    await rig.fake.caller_say(cid, TONE * 2)
    await wait_for(lambda: len(conn.binaries) == 2)
    assert [len(b) for b in conn.binaries] == [640, 640]
    await conn.send_binary(b"\x00\x10" * 640)
    await wait_for(lambda: len(rig.fake.caller(cid).heard) == 2)
    assert [len(f.data) for f in rig.fake.caller(cid).heard] == [160, 160]


async def test_media_hangup_command_and_app_dropping_the_socket(rig: Rig) -> None:
    cid, em, conn, bid = await rig.call_with_media()
    await conn.send_text("HANGUP")
    ev = await rig.app.events.wait_event(is_type("ChannelDestroyed", em))
    assert (ev["cause"], ev["cause_txt"], ev["tech_cause"]) == (16, "Normal Clearing", 1000)
    await conn.closed.wait()
    assert conn.close_info is not None and conn.close_info.rcvd_code == 1000 and conn.close_info.peer_closed_first
    assert rig.fake.channels[cid].bridge_id == bid  # the caller stays in the bridge

    em2, conn2 = await rig.external_media()
    conn2.ws.transport.abort()  # no close frame: a read error for Asterisk
    ev = await rig.app.events.wait_event(is_type("ChannelHangupRequest", em2))
    assert (ev["cause"], ev["tech_cause"]) == (38, 1001)
    ev = await rig.app.events.wait_event(is_type("ChannelDestroyed", em2))
    assert ev["cause_txt"] == "Network out of order"


async def test_direction_out_stops_media_to_the_app(rig: Rig) -> None:
    cid = await rig.inbound()
    em, conn = await rig.external_media(transport_data="v(a=1)f(json)")
    await rig.bridge(cid, em)
    await conn.send_text('{"command":"SET_MEDIA_DIRECTION","direction":"out"}')
    await conn.send_text('{"command":"GET_STATUS"}')  # processed in order: the direction is set now
    await conn.wait_text(lambda t: '"STATUS"' in t)
    await rig.fake.caller_say(cid, TONE * 3)
    await wait_for(lambda: not rig.fake.caller(cid).speaking)
    n = len(conn.texts)
    await conn.send_text('{"command":"GET_STATUS"}')
    await conn.wait_text(lambda t: '"STATUS"' in t, start=n)
    assert conn.binaries == []


async def test_no_auto_answer_waits_for_answer_command(rig: Rig) -> None:
    r = await rig.app.ari("POST", "/channels/externalMedia", params={**EM, "transport_data": "v(a=1)n"})
    em = r.json()["id"]
    conn = await rig.media.wait_conn(1)
    await conn.wait_text(lambda t: t.startswith("MEDIA_START"))
    await rig.app.events.wait_event(lambda e: e.get("type") == "Dial" and e["dialstatus"] == "")
    assert rig.fake.channels[em].state == "Down" and rig.fake.channels[em].stasis_app is None
    await conn.send_text("ANSWER")
    ev = await rig.app.events.wait_event(is_type("StasisStart", em))
    assert ev["channel"]["state"] == "Up"


async def test_connect_failure_uses_default_reconnect_attempts(rig: Rig) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead_port = s.getsockname()[1]
    rig.fake.set_websocket_client("dead", f"ws://127.0.0.1:{dead_port}/x", reconnect_interval=0.01)
    r = await rig.app.ari("POST", "/channels/externalMedia", params={**EM, "external_host": "dead"})
    assert r.status_code == 200 and r.json()["state"] == "Down"
    em = r.json()["id"]
    ev = await rig.app.events.wait_event(is_type("ChannelDestroyed", em))
    assert (ev["cause"], ev["cause_txt"]) == (3, "No route to destination")
    rec = rig.fake.media_for(em)
    assert rec is not None and rec.attempts == 4 and rec.failed
    assert not any(e.get("type") == "StasisStart" and e["channel"]["id"] == em for e in rig.app.events.events)


async def test_server_mode_connection(rig: Rig) -> None:
    r = await rig.app.ari("POST", "/channels/externalMedia", params={**EM, "connection_type": "server", "external_host": "", "transport_data": ""})
    body = r.json()
    assert body["name"].startswith("WebSocket/INCOMING/0x")
    connection_id = body["channelvars"]["MEDIA_WEBSOCKET_CONNECTION_ID"]
    url = f"{rig.fake.ws_base_url}/media/{connection_id}"
    async with connect(url, subprotocols=["media"], proxy=None) as ws:  # type: ignore[list-item]
        assert ws.subprotocol == "media"
        start = await ws.recv()
        assert f"connection_id:{connection_id}" in start and f"channel_id:{body['id']}" in start
        await rig.app.events.wait_event(is_type("StasisStart", body["id"]))
        with pytest.raises(websockets.InvalidStatus) as exc:
            await connect(url, proxy=None)
        assert exc.value.response.status_code == 409
        assert (await rig.app.ari("DELETE", f"/channels/{body['id']}")).status_code == 204
        with pytest.raises(websockets.ConnectionClosedOK):
            await ws.recv()
        assert ws.close_code == 1000
    with pytest.raises(websockets.InvalidStatus):
        await connect(f"{rig.fake.ws_base_url}/media/nope", proxy=None)


async def test_global_json_control_format() -> None:
    media = await MediaServer().start()
    async with FakeAsterisk(users={USER: PASSWORD}, websocket_clients={"dograh": media.url()}, control_message_format="json") as fake:
        app = App(fake.ari_url, USER, PASSWORD, media)
        try:
            await app.events.connect(app.events_url())
            await wait_for(lambda: fake.registered_apps)
            r = await app.ari("POST", "/channels/externalMedia", params={**EM, "transport_data": "v(a=1)"})
            assert r.status_code == 200
            conn = await media.wait_conn(1)
            await conn.wait_text(lambda t: "MEDIA_START" in t)
            assert json.loads(conn.texts[0])["event"] == "MEDIA_START"
        finally:
            await app.close()


# ---------------------------------------------------------------------- ARI surface
async def test_auth_modes_and_rejection_switch(rig: Rig) -> None:
    base = rig.fake.ari_url
    async with httpx.AsyncClient(trust_env=False) as c:
        assert (await c.get(f"{base}/asterisk/ping", auth=(USER, PASSWORD))).status_code == 200
        assert (await c.get(f"{base}/asterisk/ping?api_key={USER}:{PASSWORD}")).status_code == 200
        r = await c.get(f"{base}/asterisk/ping", auth=(USER, "bad"))
        assert r.status_code == 401 and r.json() == {"message": "Authentication required"}
        assert r.headers["www-authenticate"] == 'Basic realm="Asterisk REST Interface"'
        assert (await c.get(f"{base}/nonexistent/x", auth=(USER, "bad"))).status_code == 401  # auth before routing
        rig.fake.reject_credentials(True)
        assert (await c.get(f"{base}/asterisk/ping", auth=(USER, PASSWORD))).status_code == 401
        with pytest.raises(websockets.InvalidStatus) as exc:
            await connect(rig.app.events_url(), proxy=None)
        assert exc.value.response.status_code == 401
        rig.fake.reject_credentials(False)
        assert (await c.get(f"{base}/asterisk/ping", auth=(USER, PASSWORD))).status_code == 200
        r = await c.get(f"{base}/channels/", auth=(USER, PASSWORD))
        assert r.status_code == 404 and r.json()["message"] == "ARI URLs do not end with a slash. Try /ari/channels"
        r = await c.put(f"{base}/channels", auth=(USER, PASSWORD))
        assert r.status_code == 405 and r.json() == {"message": "Invalid method"}


async def test_modules_and_unloading_chan_websocket(rig: Rig) -> None:
    r = await rig.app.ari("GET", "/asterisk/modules/chan_websocket.so")
    assert r.json() == {"name": "chan_websocket.so", "description": "Websocket Media Channel", "use_count": 0, "status": "Running", "support_level": "core"}
    rig.fake.unload_module("chan_websocket.so")
    assert (await rig.app.ari("GET", "/asterisk/modules/chan_websocket.so")).status_code == 404
    r = await rig.app.ari("POST", "/channels/externalMedia", params=EM)
    assert r.status_code == 500 and r.json() == {"message": "An internal error prevented this request from being handled"}
    rig.fake.unload_module("res_websocket_client.so")
    r = await rig.app.ari("POST", "/channels/externalMedia", params=EM)
    assert r.status_code == 400


async def test_variables_continue_and_answer_errors(rig: Rig) -> None:
    cid = await rig.inbound()
    assert (await rig.app.ari("POST", f"/channels/{cid}/variable", params={"variable": "X", "value": "1"})).status_code == 204
    ev = await rig.app.events.wait_event(lambda e: e.get("type") == "ChannelVarset" and e.get("variable") == "X")
    assert ev["value"] == "1"
    assert (await rig.app.ari("GET", f"/channels/{cid}/variable", params={"variable": "X"})).json() == {"value": "1"}
    r = await rig.app.ari("GET", f"/channels/{cid}/variable", params={"variable": "NOPE"})
    assert r.status_code == 404 and r.reason_phrase == "Variable Not Found"
    r = await rig.app.ari("POST", f"/channels/{cid}/continue", params={"context": "transfer", "extension": "100", "priority": "3"})
    assert r.status_code == 204
    await rig.app.events.wait_event(is_type("StasisEnd", cid))
    assert [(c.context, c.extension, c.priority) for c in rig.fake.continues] == [("transfer", "100", 3)]
    r = await rig.app.ari("POST", f"/channels/{cid}/answer")
    assert r.status_code == 409 and r.json() == {"message": "Channel not in Stasis application"}
    cid2 = await rig.inbound(answer=False)
    r = await rig.app.ari("POST", "/bridges/nope/addChannel", params={"channel": cid2})
    assert (r.status_code, r.reason_phrase) == (404, "Not found")


async def test_bridge_remove_and_destroy_with_members(rig: Rig) -> None:
    cid, em, _, bid = await rig.call_with_media()
    r = await rig.app.ari("POST", f"/bridges/{bid}/removeChannel", params={"channel": "nope"})
    assert r.status_code == 400
    r = await rig.app.ari("POST", f"/bridges/{bid}/removeChannel", params={"channel": cid})
    assert r.status_code == 204
    ev = await rig.app.events.wait_event(is_type("ChannelLeftBridge", cid))
    assert ev["bridge"]["channels"] == [em]
    r = await rig.app.ari("POST", f"/bridges/{bid}/removeChannel", params={"channel": cid})
    assert r.status_code == 422 and r.json() == {"message": "Channel not in this bridge"}
    assert (await rig.app.ari("DELETE", f"/bridges/{bid}")).status_code == 204
    await rig.app.events.wait_event(is_type("ChannelLeftBridge", em))
    await rig.app.events.wait_event(is_type("BridgeDestroyed"))
    assert rig.fake.channels[em].bridge_id is None and em in rig.fake.channels  # Asterisk never deletes it
    r = await rig.app.ari("POST", "/bridges", params={"bridgeId": "b1", "name": "n"})
    assert r.json()["id"] == "b1"
    r = await rig.app.ari("POST", "/bridges/b1")
    assert r.status_code == 409 and r.json() == {"message": "Bridge with id 'b1' already exists"}


async def test_originate_variants(rig: Rig) -> None:
    fake = rig.fake
    fake.set_outbound_behavior("7001", "answer", ringing_s=0.05, early_media=True)
    r = await rig.app.ari("POST", "/channels/out-1", params={"endpoint": "Local/7001@ctx", "app": "dograh", "appArgs": "a,b"})
    assert r.status_code == 200 and r.json()["id"] == "out-1" and r.json()["state"] == "Down"
    ev = await rig.app.events.wait_event(is_type("StasisStart", "out-1"))
    assert ev["args"] == ["a", "b"] and ev["channel"]["state"] == "Up"
    statuses = [e["dialstatus"] for e in rig.app.events.events if e.get("type") == "Dial" and e["peer"]["id"] == "out-1"]
    assert statuses == ["", "RINGING", "PROGRESS", "ANSWER"]
    r = await rig.app.ari("POST", "/channels", params={"endpoint": "Local/7001@ctx", "app": "dograh", "channelId": "out-1"})
    assert r.status_code == 409
    r = await rig.app.ari("POST", "/channels", params={"endpoint": "Bogus/1", "app": "dograh"})
    assert (r.status_code, r.json()) == (500, {"error": "Allocation failed"})
    r = await rig.app.ari("POST", "/channels", params={"endpoint": "PJSIP/15551234@trunk", "app": "dograh", "callerId": "Agent <1000>"})
    pjsip = r.json()["id"]
    assert r.json()["name"].startswith("PJSIP/15551234-")
    fake.set_outbound_behavior("15551234", "answer", ringing_s=0)
    await rig.app.events.wait_event(is_type("StasisStart", pjsip))
    await fake.caller_hangup(pjsip)  # the callee hangs up
    ev = await rig.app.events.wait_event(is_type("ChannelDestroyed", pjsip))
    assert ev["cause"] == 16
    # DELETE while ringing cancels the dial
    fake.set_outbound_behavior("7002", "noanswer")
    r = await rig.app.ari("POST", "/channels", params={"endpoint": "Local/7002@ctx", "app": "dograh", "timeout": "30"})
    rid = r.json()["id"]
    await rig.app.events.wait_event(lambda e: e.get("type") == "Dial" and e["dialstatus"] == "RINGING" and e["peer"]["id"] == rid)
    assert (await rig.app.ari("DELETE", f"/channels/{rid}")).status_code == 204
    ev = await rig.app.events.wait_event(is_type("ChannelDestroyed", rid))
    assert ev["cause"] == 16


async def test_outbound_far_end_hears_and_echoes(rig: Rig) -> None:
    rig.fake.set_outbound_behavior("7100", "answer", ringing_s=0, audio=TONE * 2, echo=True)
    r = await rig.app.ari("POST", "/channels", params={"endpoint": "Local/7100@ctx", "app": "dograh"})
    out = r.json()["id"]
    await rig.app.events.wait_event(is_type("StasisStart", out))
    em, conn = await rig.external_media()
    await rig.bridge(out, em)
    await conn.send_binary(bytes(range(160)))
    await wait_for(lambda: bytes(range(160)) in conn.binaries)  # the callee echoed it
    assert bytes(range(160)) in rig.fake.heard(out)


# ---------------------------------------------------------------------- fault switches
async def test_restart_refuses_connections_then_comes_back_empty(rig: Rig) -> None:
    cid, em, conn, _ = await rig.call_with_media()
    task = asyncio.ensure_future(rig.fake.restart(downtime_s=0.5, drop_delay_s=0.01))
    await asyncio.wait_for(rig.app.events.closed.wait(), 5)
    assert rig.app.events.close_info is not None and rig.app.events.close_info.rcvd_code is None
    await conn.closed.wait()
    assert conn.close_info is not None and conn.close_info.rcvd_code == 1000
    hr = [e for e in rig.app.events.events if e.get("type") == "ChannelHangupRequest"]
    assert {(e["channel"]["id"], e["cause"], e.get("soft")) for e in hr} >= {(cid, 4, True), (em, 4, True)}
    async with httpx.AsyncClient(trust_env=False, auth=(USER, PASSWORD)) as c:
        with pytest.raises(httpx.ConnectError):
            await c.get(f"{rig.fake.ari_url}/asterisk/ping")
        await task
        assert (await c.get(f"{rig.fake.ari_url}/channels")).json() == []
        assert (await c.get(f"{rig.fake.ari_url}/applications/dograh")).status_code == 404
        events = await EventsClient().connect(rig.app.events_url())
        try:
            await wait_for(lambda: "dograh" in rig.fake.registered_apps)
            assert (await c.get(f"{rig.fake.ari_url}/applications/dograh")).status_code == 200
        finally:
            await events.close()


async def test_drop_silent_and_inject(rig: Rig) -> None:
    fake, events = rig.fake, rig.app.events
    await fake.inject_event("}{ not json")
    await events.wait_event(lambda e: e.get("_raw") == "}{ not json")
    await fake.inject_event({"type": "Bogus", "x": 1})
    await events.wait_event(lambda e: e.get("type") == "Bogus")

    fake.go_silent(True)
    cid = await fake.place_inbound_call()
    await wait_for(lambda: any(r.event["type"] == "StasisStart" for r in fake.events if not r.delivered))
    assert events.ws is not None
    pong = await events.ws.ping()
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(pong, 0.2)  # no pongs either, yet the TCP connection stays open
    assert not events.closed.is_set() and not any(e.get("type") == "StasisStart" for e in events.events)
    fake.go_silent(False)
    assert (await rig.app.ari("POST", f"/channels/{cid}/answer")).status_code == 204
    await events.wait_event(is_type("ChannelStateChange", cid))

    await fake.drop_events_socket()
    await asyncio.wait_for(events.closed.wait(), 5)
    assert events.close_info is not None and events.close_info.rcvd_code is None
    await wait_for(lambda: not fake.registered_apps)
    lost = await fake.place_inbound_call()  # Stasis() fails while no app is registered
    assert lost not in fake.channels


async def test_rest_hang_and_rest_fail(rig: Rig) -> None:
    rig.fake.rest_hang(True)
    with pytest.raises(httpx.ReadTimeout):
        await rig.app.http.get("/asterisk/ping", timeout=0.2)
    rig.fake.rest_hang(False)
    assert (await rig.app.ari("GET", "/asterisk/ping")).status_code == 200
    rig.fake.rest_fail_500(True, "/channels")
    assert (await rig.app.ari("GET", "/channels")).status_code == 500
    assert (await rig.app.ari("GET", "/asterisk/ping")).status_code == 200
    rig.fake.rest_fail_500(False)
    assert (await rig.app.ari("GET", "/channels")).status_code == 200
    assert any(r.path == "/ari/channels" and r.status == 500 for r in rig.fake.requests)


# ---------------------------------------------------------------------- control surfaces
async def test_http_control_surface(rig: Rig) -> None:
    async with httpx.AsyncClient(base_url=f"{rig.fake.base_url}/_fake", trust_env=False) as c:
        r = await c.post("/calls", json={"caller": "15551234", "exten": "8000"})
        cid = r.json()["channel_id"]
        await rig.app.events.wait_event(is_type("StasisStart", cid))
        state = (await c.get("/state")).json()
        assert any(ch["id"] == cid and ch["caller"]["number"] == "15551234" for ch in state["channels"])
        assert (await c.post(f"/calls/{cid}/dtmf", json={"digits": "7", "interval_s": 0})).status_code == 204
        await rig.app.events.wait_event(is_type("ChannelDtmfReceived", cid))
        assert (await c.post(f"/calls/{cid}/hangup", json={"cause": 16})).status_code == 204
        ev = await rig.app.events.wait_event(is_type("ChannelHangupRequest", cid))
        assert ev["cause"] == 16 and "soft" not in ev
        assert (await c.post("/nope")).status_code == 404


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_runs_as_a_process() -> None:
    port = _free_port()
    media = await MediaServer().start()
    repo = Path(__file__).resolve().parents[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.fake_asterisk", "--port", str(port), "--user", "dograh:secret",
         "--ws-client", f"dograh={media.url()}", "--reconnect-attempts", "2", "--reconnect-interval", "0.05"],
        cwd=repo,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        async with httpx.AsyncClient(trust_env=False, timeout=2) as c:

            async def up() -> bool:
                with contextlib.suppress(httpx.HTTPError):
                    return (await c.get(f"http://127.0.0.1:{port}/ari/asterisk/ping", auth=("dograh", "secret"))).status_code == 200
                return False

            loop = asyncio.get_running_loop()
            deadline = loop.time() + 15
            while not await up():
                assert proc.poll() is None and loop.time() < deadline, "fake asterisk process did not come up"
                await asyncio.sleep(0.05)
            events = await EventsClient().connect(f"ws://127.0.0.1:{port}/ari/events?app=dograh&api_key=dograh:secret")
            try:
                cid = (await c.post(f"http://127.0.0.1:{port}/_fake/calls", json={"exten": "8000"})).json()["channel_id"]
                await events.wait_event(is_type("StasisStart", cid))
                r = await c.post(f"http://127.0.0.1:{port}/ari/channels/externalMedia", params=EM, auth=("dograh", "secret"))
                assert r.status_code == 200
                conn = await media.wait_conn(1)
                await conn.wait_text(lambda t: t.startswith("MEDIA_START"))
            finally:
                await events.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
        await media.stop()
