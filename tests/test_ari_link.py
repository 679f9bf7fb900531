"""EventsLink against a real loopback ARI stand-in (websockets server on port 0), no network mocks.

`FakeAri` serves `/ari/events` (Basic auth checked like Asterisk: 401 + JSON before the upgrade)
and `GET /ari/asterisk/info` on the same port. Tests wait on conditions with timeouts, never sleep.
"""
from __future__ import annotations

import asyncio
import base64
import json
import logging
import socket
from collections.abc import AsyncIterator, Callable
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from ari.events import AriEvent, ApplicationReplaced, StasisStart
from ari.link import EventsLink, LinkState, LinkStateError, LinkStatus, LinkTiming, events_url
from tests.fixtures import TRACES_DIR

VERSION = "GIT-master-f0c1c1a7b7"
FAST = LinkTiming(initial_delay=0.01, max_delay=0.05, slow_retry_delay=0.05, stable_after=60.0,
                  ping_interval=0.05, ping_timeout=0.3, open_timeout=1.0, close_timeout=0.3)


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def stasis_start(channel_id: str = "1795784880.40", exten: str = "8000") -> dict[str, Any]:
    return {
        "type": "StasisStart", "timestamp": "2026-11-27T13:08:00.812+0000", "args": [],
        "channel": {"id": channel_id, "name": "Local/8000@from-external-0000000b;2", "state": "Ring",
                    "caller": {"name": "", "number": "100"},
                    "dialplan": {"context": "from-external", "exten": exten, "priority": 2}},
        "asterisk_id": "02:fc:00:00:00:01", "application": "dograh",
    }


async def eventually(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    """Wait for a condition the test cannot subscribe to (server-side counters)."""
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.005)


class FakeAri:
    """Events websocket + asterisk/info on one loopback port; scripted from the test."""

    def __init__(self, user: str = "dograh", password: str = "secret123") -> None:
        self.accepted = {basic(user, password)}
        self.port = 0
        self.handshakes: list[Request] = []  # every events handshake, accepted or not
        self.rejected = 0
        self.info_requests = 0
        self.connections: list[ServerConnection] = []  # accepted, in order
        self.close_codes: list[int | None] = []  # per ended connection
        self._server: Server | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def live(self) -> list[ServerConnection]:
        return [c for c in self.connections if c.transport is not None and not c.transport.is_closing()]

    def allow(self, user: str, password: str) -> None:
        self.accepted = {basic(user, password)}

    async def up(self) -> None:
        self._server = await serve(self._handler, "127.0.0.1", self.port, ping_interval=None,
                                   process_request=self._process_request)
        self.port = self._server.sockets[0].getsockname()[1]

    async def down(self) -> None:
        """Asterisk gone (restart): sockets dropped without a close frame, port closed."""
        assert self._server is not None
        self._server.close(close_connections=False)
        self.drop()
        await self._server.wait_closed()
        self._server = None

    def drop(self) -> None:
        for connection in self.live:
            connection.transport.abort()

    def silence(self) -> None:
        """The TCP connection stays but nothing is read or answered (no pongs)."""
        for connection in self.live:
            connection.transport.pause_reading()

    async def send(self, message: dict[str, Any] | str | bytes) -> None:
        payload = json.dumps(message) if isinstance(message, dict) else message
        await self.live[-1].send(payload)

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        url = urlsplit(request.path)
        authorized = request.headers.get("Authorization") in self.accepted
        if url.path == "/ari/asterisk/info":
            self.info_requests += 1
            if authorized:
                return _json(HTTPStatus.OK, {"system": {"version": VERSION}})
            return _json(HTTPStatus.UNAUTHORIZED, {"message": "Authentication required"})
        if url.path != "/ari/events":
            return _json(HTTPStatus.NOT_FOUND, {"message": "Resource not found"})
        self.handshakes.append(request)
        if not authorized:
            self.rejected += 1
            return _json(HTTPStatus.UNAUTHORIZED, {"message": "Authentication required"})
        if "app" not in parse_qs(url.query):
            return _json(HTTPStatus.BAD_REQUEST, {"message": "HTTP request is missing param: [app]"})
        return None

    async def _handler(self, connection: ServerConnection) -> None:
        self.connections.append(connection)
        try:
            await connection.wait_closed()
        finally:
            self.close_codes.append(connection.close_code)

    async def close(self) -> None:
        if self._server is not None:
            self.drop()
            self._server.close()
            await self._server.wait_closed()


def _json(status: HTTPStatus, body: dict[str, Any]) -> Response:
    data = json.dumps(body).encode()
    headers = Headers([("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
    if status == HTTPStatus.UNAUTHORIZED:
        headers["WWW-Authenticate"] = 'Basic realm="Asterisk REST Interface"'
    return Response(status.value, status.phrase, headers, data)


@pytest.fixture
async def fake() -> AsyncIterator[FakeAri]:
    server = FakeAri()
    await server.up()
    yield server
    await server.close()


class Recorder:
    """Backoff that records each `n` and waits a tiny delay; an event sink; a state log."""

    def __init__(self) -> None:
        self.backoffs: list[int] = []
        self.events: list[AriEvent] = []
        self.states: list[LinkState] = []

    def backoff(self, n: int) -> float:
        self.backoffs.append(n)
        return 0.01

    async def on_event(self, event: AriEvent) -> None:
        self.events.append(event)

    def on_status(self, status: LinkStatus) -> None:
        if not self.states or self.states[-1] is not status.state:
            self.states.append(status.state)


def make_link(url: str, rec: Recorder, *, password: str = "secret123", timing: LinkTiming = FAST,
              clock: Callable[[], float] | None = None, app: str = "dograh") -> EventsLink:
    kwargs: dict[str, Any] = {"clock": clock} if clock else {}
    link = EventsLink(config_id=7, name="Office PBX", endpoint=url, app=app, username="dograh",
                      password=password, on_event=rec.on_event, timing=timing, backoff=rec.backoff,
                      **kwargs)
    link.add_listener(rec.on_status)
    return link


@pytest.fixture
async def running(fake: FakeAri) -> AsyncIterator[tuple[EventsLink, Recorder]]:
    rec = Recorder()
    link = make_link(fake.url, rec)
    await link.start()
    await link.wait_for_state(LinkState.CONNECTED, 5)
    yield link, rec
    await link.stop()


# --- connecting ----------------------------------------------------------------------------


async def test_connects_with_basic_auth_and_reports_version(fake: FakeAri) -> None:
    password = "sé cret&#:%@€"
    fake.allow("dograh", password)
    rec = Recorder()
    link = make_link(fake.url, rec, app="dograh app&x", password=password)
    await link.start()
    status = await link.wait_for_state(LinkState.CONNECTED, 5)
    assert status.asterisk_version == VERSION
    assert status.last_error_id is None and status.reconnects == 0
    (request,) = fake.handshakes
    token = request.headers["Authorization"].removeprefix("Basic ")
    assert base64.b64decode(token).decode("utf-8") == f"dograh:{password}"
    url = urlsplit(request.path)
    assert url.path == "/ari/events"
    assert parse_qs(url.query) == {"app": ["dograh app&x"], "subscribeAll": ["false"]}
    assert fake.info_requests == 1
    await link.stop()
    assert link.status.state is LinkState.STOPPED


def test_events_url() -> None:
    assert events_url("http://pbx:8088", "dograh") == "ws://pbx:8088/ari/events?app=dograh&subscribeAll=false"
    assert events_url("https://pbx/ari", "a b").startswith("wss://pbx/ari/events?app=a%20b&")


async def test_events_are_delivered_in_order(fake: FakeAri, running: tuple[EventsLink, Recorder]) -> None:
    link, rec = running
    await fake.send(stasis_start("c1"))
    await fake.send(stasis_start("c2"))
    await eventually(lambda: len(rec.events) == 2)
    assert [e.channel.id for e in rec.events if isinstance(e, StasisStart)] == ["c1", "c2"]
    assert link.status.last_event_at is not None


async def test_garbage_is_skipped_and_the_next_event_still_arrives(
    fake: FakeAri, running: tuple[EventsLink, Recorder], caplog: pytest.LogCaptureFixture
) -> None:
    link, rec = running
    caplog.set_level(logging.DEBUG, logger="switchboard.ari.link")
    for garbage in ["not json", b"\xff\xfe", "[]", '{"type":"NoSuchEvent"}', '{"type":"StasisStart"}',
                    '{"channel":{}}', '{"type":"StasisEnd","channel":{"id":1}}']:
        await fake.send(garbage)
    await fake.send(stasis_start("real"))
    await eventually(lambda: len(rec.events) >= 1)
    assert [type(e) for e in rec.events] == [StasisStart]
    assert rec.events[0].channel.id == "real"  # type: ignore[union-attr]
    assert link.status.state is LinkState.CONNECTED and link.status.reconnects == 0
    assert len(fake.handshakes) == 1
    bad = [r for r in caplog.records if "ari-bad-event" in r.getMessage()]
    assert len(bad) == 6 and all("config 7 ('Office PBX')" in r.getMessage() for r in bad)


async def test_a_failing_handler_never_kills_the_link(fake: FakeAri) -> None:
    seen: list[str] = []

    async def handler(event: AriEvent) -> None:
        assert isinstance(event, StasisStart)
        seen.append(event.channel.id)
        if event.channel.id == "boom":
            raise RuntimeError("call control bug")

    link = make_link(fake.url, Recorder())
    link.on_event = handler
    await link.start()
    await link.wait_for_state(LinkState.CONNECTED, 5)
    await fake.send(stasis_start("boom"))
    await fake.send(stasis_start("after"))
    await eventually(lambda: seen == ["boom", "after"])
    assert link.status.state is LinkState.CONNECTED and len(fake.handshakes) == 1
    await link.stop()


# --- failures and reconnects -------------------------------------------------------------------


async def test_socket_dropped_without_close_frame_reconnects(
    fake: FakeAri, running: tuple[EventsLink, Recorder]
) -> None:
    link, rec = running
    fake.drop()
    status = await link.wait_until(lambda s: s.state is LinkState.CONNECTED and s.reconnects == 1, 5)
    assert rec.states == [LinkState.CONNECTED, LinkState.CONNECTING, LinkState.CONNECTED]
    assert len(fake.connections) == 2 and rec.backoffs == [1]
    assert status.last_error_id is None and status.asterisk_version == VERSION
    await fake.send(stasis_start("again"))
    await eventually(lambda: len(rec.events) == 1)


async def test_recorded_restart_replays_then_reconnects(
    fake: FakeAri, running: tuple[EventsLink, Recorder]
) -> None:
    """restart.jsonl: the call's events, then `core restart now` drops the socket (no close frame)."""
    link, rec = running
    records = [json.loads(line) for line in (TRACES_DIR / "restart.jsonl").read_text().splitlines()]
    events = [r["payload"] for r in records if r["channel"] == "ari_ws" and r["kind"] == "event"]
    for event in events:
        await fake.send(event)
    await eventually(lambda: len(rec.events) == len(events))
    assert [type(e).__name__ for e in rec.events] == [e["type"] for e in events]
    fake.drop()
    await link.wait_until(lambda s: s.state is LinkState.CONNECTED and s.reconnects == 1, 5)


async def test_silent_peer_is_detected_by_ping_timeout(
    fake: FakeAri, running: tuple[EventsLink, Recorder]
) -> None:
    link, rec = running
    lost: list[str] = []
    link.add_listener(lambda s: lost.append(s.last_error or "") if s.state is LinkState.CONNECTING else None)
    fake.silence()
    await link.wait_until(lambda s: s.state is LinkState.CONNECTED and s.reconnects == 1, 5)
    assert len(fake.handshakes) == 2
    assert any("keepalive ping timeout" in text for text in lost), lost


async def test_server_down_then_back(fake: FakeAri, running: tuple[EventsLink, Recorder]) -> None:
    link, rec = running
    await fake.down()
    status = await link.wait_for_state(LinkState.UNREACHABLE, 5)
    assert status.last_error_id == "ari-unreachable"
    assert "bindport" in (status.fix or "")
    await link.wait_until(lambda s: s.reconnects >= 3, 5)  # keeps trying while down
    await fake.up()
    status = await link.wait_for_state(LinkState.CONNECTED, 5)
    assert rec.backoffs == list(range(1, len(rec.backoffs) + 1))  # grows: nothing was stable
    assert status.reconnects == len(rec.backoffs)
    assert len(fake.connections) == 2


async def test_backoff_resets_only_after_a_stable_connection(fake: FakeAri) -> None:
    now = [0.0]
    rec = Recorder()
    link = make_link(fake.url, rec, clock=lambda: now[0])
    await link.start()
    await link.wait_for_state(LinkState.CONNECTED, 5)
    for expected_reconnects in (1, 2):  # short-lived connections: n keeps growing
        fake.drop()
        await link.wait_until(lambda s: s.state is LinkState.CONNECTED
                              and s.reconnects == expected_reconnects, 5)
    assert rec.backoffs == [1, 2]
    now[0] += FAST.stable_after  # this connection has now been up long enough
    fake.drop()
    await link.wait_until(lambda s: s.state is LinkState.CONNECTED and s.reconnects == 3, 5)
    assert rec.backoffs == [1, 2]  # a stable connection reconnects at once
    fake.drop()
    await link.wait_until(lambda s: s.state is LinkState.CONNECTED and s.reconnects == 4, 5)
    assert rec.backoffs == [1, 2, 1]  # and the count started over
    await link.stop()


async def test_refused_port_is_unreachable_and_stop_is_quick() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    rec = Recorder()
    link = make_link(f"http://127.0.0.1:{port}", rec)
    await link.start()
    status = await link.wait_for_state(LinkState.UNREACHABLE, 5)
    assert status.last_error_id == "ari-unreachable"
    await link.wait_until(lambda s: s.reconnects >= 2, 5)
    await link.stop()
    assert link.status.state is LinkState.STOPPED


async def test_handshake_timeout_is_unreachable() -> None:
    async def mute(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # never answers the upgrade
        writer.close()

    server = await asyncio.start_server(mute, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    link = make_link(f"http://127.0.0.1:{port}", Recorder(),
                     timing=LinkTiming(open_timeout=0.2, stable_after=60.0))
    await link.start()
    status = await link.wait_for_state(LinkState.UNREACHABLE, 5)
    assert status.last_error_id == "ari-timeout"
    await link.stop()
    server.close()
    await server.wait_closed()


async def test_unknown_host_is_unreachable() -> None:
    link = make_link("http://switchboard-no-such-host.invalid:8088", Recorder(),
                     timing=LinkTiming(open_timeout=1.0))
    await link.start()
    status = await link.wait_for_state(LinkState.UNREACHABLE, 5)
    assert status.last_error_id in ("ari-unreachable", "ari-timeout")
    await link.stop()


async def test_401_is_auth_failed_retried_slowly(fake: FakeAri, caplog: pytest.LogCaptureFixture) -> None:
    rec = Recorder()
    link = make_link(fake.url, rec, password="wrong")
    await link.start()
    status = await link.wait_for_state(LinkState.AUTH_FAILED, 5)
    assert status.last_error_id == "ari-auth-failed"
    assert "ari.conf" in (status.fix or "") and "ari reload" in (status.fix or "")
    assert "401" in (status.last_error or "")
    await eventually(lambda: fake.rejected >= 3)
    assert rec.backoffs == []  # auth failures use slow_retry_delay, not the fast backoff
    errors = [r for r in caplog.records if r.levelno == logging.ERROR and "ari-auth-failed" in r.getMessage()]
    assert errors and "config 7 ('Office PBX')" in errors[0].getMessage()
    fake.allow("dograh", "wrong")  # the admin fixed ari.conf and ran `ari reload`
    status = await link.wait_for_state(LinkState.CONNECTED, 5)
    assert status.last_error_id is None and status.fix is None
    await link.stop()


async def test_retry_now_skips_a_slow_wait(fake: FakeAri) -> None:
    link = make_link(fake.url, Recorder(), password="wrong",
                     timing=LinkTiming(slow_retry_delay=600, stable_after=60.0))
    await link.start()
    await link.wait_for_state(LinkState.AUTH_FAILED, 5)
    fake.allow("dograh", "wrong")
    link.retry_now()
    await link.wait_for_state(LinkState.CONNECTED, 5)
    assert fake.rejected == 1
    await link.stop()


# --- app taken ---------------------------------------------------------------------------------


async def test_application_replaced_keeps_the_socket_and_reports_app_taken(fake: FakeAri) -> None:
    rec = Recorder()
    link = make_link(fake.url, rec, timing=LinkTiming(slow_retry_delay=600, stable_after=60.0))
    await link.start()
    await link.wait_for_state(LinkState.CONNECTED, 5)
    await fake.send({"type": "ApplicationReplaced", "application": "dograh"})
    status = await link.wait_for_state(LinkState.APP_TAKEN, 5)
    assert status.last_error_id == "ari-app-taken" and "another" in (status.fix or "").lower()
    await fake.send(stasis_start("still-here"))
    await eventually(lambda: len(rec.events) == 2)
    assert isinstance(rec.events[0], ApplicationReplaced)
    assert len(fake.live) == 1 and len(fake.handshakes) == 1  # socket kept, no reconnect
    link.retry_now()  # the admin stopped the other client: take the app back now
    await link.wait_until(lambda s: s.state is LinkState.CONNECTED and s.reconnects == 1, 5)
    await eventually(lambda: fake.close_codes == [1000])  # old socket closed cleanly
    assert len(fake.handshakes) == 2
    await link.stop()


async def test_app_taken_is_retaken_after_the_slow_delay(fake: FakeAri) -> None:
    link = make_link(fake.url, Recorder())
    await link.start()
    await link.wait_for_state(LinkState.CONNECTED, 5)
    await fake.send({"type": "ApplicationReplaced"})
    await link.wait_for_state(LinkState.APP_TAKEN, 5)
    await link.wait_until(lambda s: s.state is LinkState.CONNECTED and s.reconnects == 1, 5)
    assert len(fake.handshakes) == 2
    await link.stop()


# --- lifecycle ---------------------------------------------------------------------------------


async def test_stop_closes_cleanly_and_leaves_no_tasks(fake: FakeAri) -> None:
    current = asyncio.current_task()
    before = {t for t in asyncio.all_tasks() if not t.done()}
    link = make_link(fake.url, Recorder())
    await link.start()
    await link.wait_for_state(LinkState.CONNECTED, 5)
    assert {t for t in asyncio.all_tasks() if not t.done()} - before
    await link.stop()
    await eventually(lambda: fake.close_codes == [1000])
    await eventually(lambda: not {t for t in asyncio.all_tasks() if not t.done()} - before - {current})
    assert link.status.state is LinkState.STOPPED
    await link.stop()  # idempotent


async def test_guarded_lifecycle(fake: FakeAri) -> None:
    link = make_link(fake.url, Recorder())
    await link.start()
    with pytest.raises(LinkStateError):
        await link.start()
    with pytest.raises(ValueError):
        await link.stop(LinkState.CONNECTED)
    await link.stop(LinkState.DISABLED)
    assert link.status.state is LinkState.DISABLED
    with pytest.raises(LinkStateError):
        await link.start()
