"""The fake Asterisk: state, call flows, event dispatch and the Python control surface.

Everything that changes state runs synchronously on the event loop, so the order of ARI events,
media messages and REST responses is deterministic and follows the golden traces.
"""
from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from . import causes
from . import events as ev
from .bridging import BridgingMixin
from .callers import FarEnd
from .chanws import ControlFormat, Direction
from .clock import MediaClock
from .codecs import ULAW, MediaFormat, convert, get_format
from .errors import AriError
from .extmedia import ExternalMediaMixin
from .harness import wait_for
from .httpserver import HttpApp, HttpRequest, HttpResponse, HttpServer, WsAccept
from .line import EchoPath, LineNoise
from .media import ExtMediaSession, MediaConnectionRecord, WsClientConfig
from .model import Bridge, Channel, IdFactory, Kind, ari_timestamp
from .originate import OriginateMixin
from .outbound import OutboundBehavior, OutboundRules, Outcome, parse_outcome
from .wsserver import ServerWebSocket

T = TypeVar("T")


ASTERISK_ID = "02:fc:00:00:00:01"
VERSION = "GIT-master-f0c1c1a7b7"
DEFAULT_MODULES = frozenset(
    {
        "chan_websocket.so",
        "res_websocket_client.so",
        "res_http_websocket.so",
        "res_ari.so",
        "res_stasis.so",
        "res_ari_channels.so",
        "res_ari_bridges.so",
        "res_ari_events.so",
        "res_ari_asterisk.so",
        "res_ari_applications.so",
        "app_dial.so",
        "app_echo.so",
        "app_playback.so",
        "app_stasis.so",
        "bridge_simple.so",
        "bridge_softmix.so",
        "codec_ulaw.so",
        "codec_alaw.so",
        "format_pcm.so",
    }
)
MODULE_INFO: dict[str, tuple[str, int, str]] = {
    "chan_websocket.so": ("Websocket Media Channel", 0, "core"),
    "res_websocket_client.so": ("WebSocket Client Support", 2, "core"),
    "res_http_websocket.so": ("HTTP WebSocket Support", 3, "core"),
    "res_ari.so": ("Asterisk RESTful Interface", 9, "core"),
    "res_stasis.so": ("Stasis application support", 12, "core"),
}


@dataclass
class EventRecord:
    t: float
    app: str
    event: dict[str, Any]
    delivered: bool

    @property
    def type(self) -> str:
        return str(self.event.get("type"))


@dataclass
class RestRecord:
    t: float
    method: str
    path: str
    query: list[tuple[str, str]]
    body: Any
    status: int = 0
    reason: str = ""
    response: Any = None


@dataclass
class EventSession:
    ws: ServerWebSocket
    apps: list[str]
    user: str
    subscribe_all: bool = False
    opened_at: float = field(default_factory=time.monotonic)


@dataclass
class ContinueRecord:
    channel_id: str
    context: str
    extension: str
    priority: int


class FakeAsterisk(BridgingMixin, ExternalMediaMixin, OriginateMixin, HttpApp):
    """A real ARI + chan_websocket server on loopback that behaves like the traced Asterisk.

    Use as ``async with FakeAsterisk(...) as fake:``; see ``__init__`` of the package for the API.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        users: dict[str, str] | None = None,
        websocket_clients: dict[str, str | dict[str, Any] | WsClientConfig] | None = None,
        modules: Iterable[str] | None = None,
        control_message_format: str = "plain-text",
        tick_interval: float = 0.020,
        default_app: str = "dograh",
        default_outbound: OutboundBehavior | None = None,
        restart_drop_delay_s: float = 0.05,
    ) -> None:
        self.host = host
        self._port = port
        self.users = dict(users if users is not None else {"dograh": "secret"})
        self.ws_clients: dict[str, WsClientConfig] = {
            name: WsClientConfig.from_value(name, value) for name, value in (websocket_clients or {}).items()
        }
        self.modules: set[str] = set(modules if modules is not None else DEFAULT_MODULES)
        self.control_message_format = ControlFormat(control_message_format)
        self.tick_interval = tick_interval
        self.default_app = default_app
        self.outbound = OutboundRules(default_outbound)
        self.restart_drop_delay_s = restart_drop_delay_s
        self.asterisk_id = ASTERISK_ID

        self.ids = IdFactory()
        self.channels: dict[str, Channel] = {}
        self.all_channels: dict[str, Channel] = {}
        self.bridges: dict[str, Bridge] = {}
        self.app_sessions: dict[str, EventSession] = {}
        self.event_sessions: list[EventSession] = []
        self.known_apps: set[str] = set()
        self.events: list[EventRecord] = []
        self.requests: list[RestRecord] = []
        self.media_connections: list[MediaConnectionRecord] = []
        self.continues: list[ContinueRecord] = []
        self.log: list[str] = []
        self.global_vars: dict[str, str] = {}

        self._http: HttpServer | None = None
        self._clock: MediaClock | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._started_wall = time.time()
        self._silent = False
        self._reject_credentials = False
        self._swap_window: float | None = None
        self._rest_unhung = asyncio.Event()
        self._rest_unhung.set()
        self._rest_fail: str | None = None  # path prefix that answers 500, "" = every path
        self._down = False
        self._state_version = 0

    # ================================================================== lifecycle
    async def start(self) -> FakeAsterisk:
        self._loop = asyncio.get_running_loop()
        self._rest_unhung = asyncio.Event()
        self._rest_unhung.set()
        self._clock = MediaClock(self.tick_interval)
        self._http = HttpServer(self, self.host, self._port)
        await self._http.start()
        self._port = self._http.port
        self._started_wall = time.time()
        return self

    async def stop(self) -> None:
        self._rest_unhung.set()  # let hung REST requests finish so their connections can close
        for sess in list(self.event_sessions):
            sess.ws.close(1001)
        for ch in list(self.all_channels.values()):
            if isinstance(ch.media, ExtMediaSession):
                await ch.media.shutdown()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        if self._http is not None:
            await self._http.stop(abort=False)
        if self._clock is not None:
            await self._clock.stop()

    async def __aenter__(self) -> FakeAsterisk:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def port(self) -> int:
        return self._port

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self._port}"

    @property
    def ari_url(self) -> str:
        return f"{self.base_url}/ari"

    @property
    def ws_base_url(self) -> str:
        return f"ws://{self.host}:{self._port}"

    def events_url(self, app: str | None = None, user: str | None = None, password: str | None = None) -> str:
        user = user or next(iter(self.users), "")
        password = password if password is not None else self.users.get(user, "")
        app = app or self.default_app
        return f"{self.ws_base_url}/ari/events?app={app}&api_key={user}:{password}&subscribeAll=false"

    def now(self) -> float:
        return asyncio.get_running_loop().time() if self._loop is None else self._loop.time()

    def spawn(self, coro: Awaitable[T], name: str | None = None) -> asyncio.Task[T]:
        task: asyncio.Task[T] = asyncio.ensure_future(coro)  # type: ignore[assignment]
        if name:
            task.set_name(name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self.log.append(f"task {task.get_name()} failed: {task.exception()!r}")

    async def wait_for(self, predicate: Callable[[], T], timeout: float = 5.0, interval: float = 0.005) -> T:
        """Poll ``predicate`` until it returns something truthy; raise TimeoutError otherwise."""
        return await wait_for(predicate, timeout, interval)

    # ================================================================== control surface
    def set_websocket_client(
        self,
        name: str,
        uri: str,
        *,
        reconnect_attempts: int = 4,
        reconnect_interval: float = 0.5,
        connection_timeout: float = 0.5,
        protocols: str = "media",
    ) -> WsClientConfig:
        cfg = WsClientConfig(name, uri, protocols, reconnect_attempts, reconnect_interval, connection_timeout)
        self.ws_clients[name] = cfg
        return cfg

    def unload_module(self, name: str) -> None:
        self.modules.discard(name)

    def load_module(self, name: str) -> None:
        self.modules.add(name)

    def go_silent(self, on: bool = True) -> None:
        """Stop writing anything (events, pongs, close replies) on ARI event sockets; TCP stays open."""
        self._silent = on
        for sess in self.event_sessions:
            sess.ws.silent = on

    def reject_credentials(self, on: bool = True) -> None:
        self._reject_credentials = on

    def swap_vparams(self, on: bool = True, window_s: float = 0.05) -> None:
        """Widen the race on the shared websocket_client ``uri_params``: concurrent externalMedia calls
        then connect with the last writer's query string (the vparam_race surprise)."""
        self._swap_window = window_s if on else None

    def rest_hang(self, on: bool = True) -> None:
        """REST requests wait (no response) until ``rest_hang(False)``."""
        if on:
            self._rest_unhung.clear()
        else:
            self._rest_unhung.set()

    def rest_fail_500(self, on: bool = True, path_prefix: str = "") -> None:
        """Authenticated REST requests (optionally only under ``/ari<path_prefix>``) answer 500."""
        self._rest_fail = path_prefix if on else None

    def set_outbound_behavior(
        self,
        destination_or_pattern: str,
        behavior: str | Outcome = "answer",
        *,
        ringing_s: float | None = None,
        early_media: bool = False,
        audio: bytes | None = None,
        echo: bool | EchoPath = False,
    ) -> None:
        outcome = parse_outcome(behavior)
        if ringing_s is None:
            ringing_s = 0.0 if outcome in (Outcome.BUSY, Outcome.NO_SUCH_EXTENSION, Outcome.CONGESTION) else 1.0
        self.outbound.set(destination_or_pattern, OutboundBehavior(outcome, ringing_s, early_media, audio, echo))

    async def drop_events_socket(self, app: str | None = None) -> None:
        """Drop ARI event sockets (all, or the one of ``app``) without a close frame."""
        targets = [s for s in self.event_sessions if app is None or app in s.apps]
        for sess in targets:
            sess.ws.abort()
        for sess in targets:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(sess.ws.closed.wait(), 2)

    async def inject_event(self, raw: str | dict[str, Any], app: str | None = None) -> int:
        """Send raw text (or a dict as JSON) on event sockets; returns how many got it."""
        text = raw if isinstance(raw, str) else json.dumps(raw, separators=(",", ":"))
        n = 0
        for sess in self.event_sessions:
            if app is None or app in sess.apps:
                n += bool(sess.ws.send_text(text))
        return n

    @property
    def registered_apps(self) -> set[str]:
        return set(self.app_sessions)

    def media_for(self, channel_id: str) -> MediaConnectionRecord | None:
        for rec in self.media_connections:
            if rec.channel_id == channel_id:
                return rec
        return None

    def caller(self, channel_id: str) -> FarEnd:
        """The far end (caller or callee) of the app-visible channel ``channel_id``."""
        ch = self.all_channels.get(channel_id)
        if ch is None or ch.leg is None:
            raise KeyError(f"no far end for channel {channel_id}")
        return ch.leg

    def heard(self, channel_id: str) -> bytes:
        """Everything the far end of ``channel_id`` heard (what the app played to the caller)."""
        return self.caller(channel_id).heard_bytes()

    def events_of(self, channel_id: str | None = None, type_: str | None = None) -> list[dict[str, Any]]:
        out = []
        for rec in self.events:
            e = rec.event
            if type_ is not None and e.get("type") != type_:
                continue
            if channel_id is not None:
                ids = {e.get("channel", {}).get("id"), e.get("peer", {}).get("id"), e.get("bridge", {}).get("id")}
                if channel_id not in ids:
                    continue
            out.append(e)
        return out

    # ------------------------------------------------------------------ far-end actions
    async def place_inbound_call(
        self,
        caller_number: str = "",
        exten: str = "8000",
        audio: bytes | None = None,
        *,
        context: str = "from-external",
        caller_name: str = "",
        app: str | None = None,
        app_args: Iterable[str] = (),
        echo: bool | EchoPath = False,
        noise: LineNoise | None = None,
    ) -> str:
        """A call arrives and enters ``Stasis(app)``; returns the app-visible channel id (``;2``).

        ``audio`` (µ-law) is streamed by the caller as soon as the app answers; ``echo=True`` makes the
        caller run Echo() (everything it hears comes back byte-identical), an ``EchoPath`` gives the
        echo a delay and a gain; ``noise`` puts line noise on the caller's stream (see ``line.py``)."""
        cid = self._place_inbound(caller_number, exten, audio, context, caller_name, app, list(app_args), echo)
        if noise is not None and cid in self.all_channels:
            self.caller(cid).set_noise(noise)
        return cid

    def _place_inbound(
        self,
        caller_number: str,
        exten: str,
        audio: bytes | None,
        context: str,
        caller_name: str,
        app: str | None,
        app_args: list[str],
        echo: bool | EchoPath,
    ) -> str:
        app = app or self.default_app
        seq = self.ids.local_seq()
        half1 = Channel(
            id=self.ids.channel_id(),
            name=f"Local/{exten}@{context}-{seq};1",
            kind=Kind.CALLER,
            state="Ring",
            context=context,
            exten=exten,
        )
        half2 = Channel(
            id=self.ids.channel_id(),
            name=f"Local/{exten}@{context}-{seq};2",
            kind=Kind.INBOUND,
            state="Ring",
            caller_name=caller_name,
            caller_number=caller_number,
            context=context,
            exten=exten,
            priority=2,
            app_name="Stasis",
            app_data=",".join([app, *app_args]),
        )
        half1.partner_id, half2.partner_id = half2.id, half1.id
        leg = FarEnd(half2.id, self.channel_read, self.now, ULAW, echo=echo, tick_index=self.media_tick)
        if audio:
            leg.say(audio)
        half2.leg = leg
        for ch in (half1, half2):
            self._add_channel(ch)
        if app not in self.app_sessions:
            # Stasis() fails for an unregistered app; the dialplan hangs up, the app never hears of it.
            self.log.append(f"inbound call {half2.id}: Stasis app '{app}' not registered")
            for ch in (half2, half1):
                self._destroy(ch, causes.NORMAL_CLEARING, emit=False)
            return half2.id
        assert self._clock is not None
        leg.clock_token = self._clock.add(leg.tick)
        half2.apps = {app}
        half2.stasis_app = app
        half2.stasis_args = app_args
        self.emit(ev.stasis_start(half2, app_args), half2.apps)
        return half2.id

    async def caller_hangup(self, channel_id: str, cause: int = causes.UNKNOWN) -> None:
        """The far end hangs up. For an inbound call ``channel_id`` is the ``;2`` channel the app sees
        (the ``;1`` id works too). ``cause`` 0 = CLI ``channel request hangup``, 16 = dialplan Hangup()."""
        ch = self.channels.get(channel_id)
        if ch is not None and ch.kind is Kind.CALLER and ch.partner_id:
            ch = self.channels.get(ch.partner_id)
        if ch is None:
            raise KeyError(f"no live channel {channel_id}")
        if ch.kind is Kind.INBOUND:
            self._hangup_inbound(ch, [{"cause": cause}])
        elif ch.kind is Kind.OUTBOUND:
            self._callee_hangup(ch, cause or causes.NORMAL_CLEARING)
        elif ch.kind is Kind.EXTMEDIA:
            self._hangup_extmedia(ch, {"cause": cause or 16}, cause or 16)
        else:
            raise KeyError(f"channel {channel_id} has no far end")

    async def press_dtmf(
        self, channel_id: str, digits: str, duration_ms: int = 100, interval_s: float = 0.25
    ) -> None:
        """The far end sends DTMF: ARI ``ChannelDtmfReceived`` on the app's channel and ``DTMF_END``
        on every external media channel bridged with it."""
        for i, digit in enumerate(digits):
            if i:
                await asyncio.sleep(interval_s)
            ch = self.channels.get(channel_id)
            if ch is None:
                return
            if ch.leg is not None:
                ch.leg.dtmf_sent.append(digit)
            if ch.stasis_app is not None or ch.apps:
                self.emit(ev.dtmf_received(ch, digit, duration_ms), ch.apps)
            for peer in self._bridge_peers(ch):
                if peer.kind is Kind.EXTMEDIA and isinstance(peer.media, ExtMediaSession) and peer.media.connected:
                    peer.media.send_text(peer.media.driver.dtmf_end(digit))

    async def caller_say(self, channel_id: str, ulaw: bytes, *, wait: bool = False, timeout: float = 60.0) -> None:
        """Queue audio (µ-law) that the far end streams as 160-byte frames every 20 ms."""
        leg = self.caller(channel_id)
        leg.say(ulaw)
        if wait:
            await self.wait_for(lambda: not leg.speaking or leg.hung_up, timeout)

    def set_caller_echo(self, channel_id: str, on: bool | EchoPath = True) -> None:
        """Echo() on the far end (True), off (False), or an echo with a delay and a gain."""
        self.caller(channel_id).echo = on

    def set_line_noise(self, channel_id: str, noise: LineNoise | None) -> None:
        """Line noise on the far end's stream (``LineNoise(level_dbfs)`` or ``LineNoise.at_snr(15)``);
        None: a clean line."""
        self.caller(channel_id).set_noise(noise)

    def noise_burst(self, channel_id: str, duration_s: float = 0.4, level_dbfs: float = -20.0,
                    kind: str = "babble") -> None:
        """A burst of noise on the far end's stream from the next tick: "vowels" (speech to a VAD, no
        words), "babble" (a harmonic buzz) or "white"."""
        self.caller(channel_id).noise_burst(duration_s, level_dbfs, kind)

    def media_tick(self) -> int:
        """The media clock's current 20 ms tick."""
        return self._clock.tick_index if self._clock is not None else 0

    # ------------------------------------------------------------------ restart
    async def restart(self, downtime_s: float = 1.0, drop_delay_s: float | None = None) -> None:
        """``core restart now``: soft hangups (cause 4) -> StasisEnd for every channel, media sockets
        closed with 1000, then the ARI event sockets are dropped without a close frame, the port
        refuses connections for ``downtime_s``, and Asterisk comes back empty."""
        for ch in sorted(self.channels.values(), key=lambda c: c.data.get("seq", 0)):
            if ch.destroyed or ch.hanging_up:
                continue
            if ch.kind is Kind.INBOUND:
                self._hangup_inbound(ch, [{"cause": causes.SOFTHANGUP_SHUTDOWN, "soft": True}, {"cause": 0}])
            elif ch.kind is Kind.EXTMEDIA:
                self._hangup_extmedia(ch, {"cause": causes.SOFTHANGUP_SHUTDOWN, "soft": True}, causes.NORMAL_CLEARING)
            elif ch.kind is Kind.OUTBOUND:
                self._hangup_outbound(ch, {"cause": causes.SOFTHANGUP_SHUTDOWN, "soft": True}, causes.NORMAL_CLEARING)
        await asyncio.sleep(self.restart_drop_delay_s if drop_delay_s is None else drop_delay_s)
        self._down = True
        self._rest_unhung.set()
        for sess in list(self.event_sessions):
            sess.ws.abort()
        media = [c.media for c in self.all_channels.values() if isinstance(c.media, ExtMediaSession)]
        if self._http is not None:
            await self._http.stop(abort=True)
        for sess_media in media:
            await sess_media.shutdown()
        current = asyncio.current_task()
        tasks = [t for t in self._tasks if t is not current]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        if self._clock is not None:
            await self._clock.stop()
        self.channels.clear()
        self.bridges.clear()
        self.app_sessions.clear()
        self.event_sessions.clear()
        self.known_apps.clear()
        for cfg in self.ws_clients.values():
            cfg.uri_params = ""
        self.ids = IdFactory()
        await asyncio.sleep(downtime_s)
        self._clock = MediaClock(self.tick_interval)
        self._http = HttpServer(self, self.host, self._port)
        await self._http.start()
        self._started_wall = time.time()
        self._down = False

    # ================================================================== event dispatch
    def emit(self, event: dict[str, Any], apps: Iterable[str]) -> None:
        self._state_version += 1
        t = self.now()
        for app in sorted(set(apps)):
            out = dict(event)
            out["asterisk_id"] = self.asterisk_id
            out["application"] = app
            sess = self.app_sessions.get(app)
            delivered = False
            if sess is not None and not self._silent:
                delivered = sess.ws.send_text(json.dumps(out, separators=(",", ":"), ensure_ascii=False))
            self.events.append(EventRecord(t, app, out, delivered))

    # ================================================================== channels
    def _add_channel(self, ch: Channel) -> None:
        ch.data["seq"] = len(self.all_channels)
        self.channels[ch.id] = ch
        self.all_channels[ch.id] = ch

    def _id_in_use(self, channel_id: str | None) -> bool:
        return bool(channel_id) and channel_id in self.channels

    def _destroy(self, ch: Channel, cause: int, tech_cause: int | None = None, *, emit: bool = True) -> None:
        if ch.destroyed:
            return
        ch.destroyed = True
        ch.hangup_cause = cause
        self.channels.pop(ch.id, None)
        if ch.bridge_id:
            bridge = self.bridges.get(ch.bridge_id)
            if bridge is not None and ch.id in bridge.channels:
                bridge.channels.remove(ch.id)
            ch.bridge_id = None
        if emit and ch.apps:
            self.emit(ev.destroyed(ch, cause, tech_cause), ch.apps)
        ch.apps = set()
        if ch.leg is not None:
            ch.leg.hung_up = True
            if self._clock is not None:
                self._clock.remove(ch.leg.clock_token)
        if isinstance(ch.media, ExtMediaSession) and self._clock is not None:
            self._clock.remove(ch.media.clock_token)
        self._state_version += 1

    def _end_stasis(self, ch: Channel) -> None:
        if ch.stasis_app is None:
            return
        self.emit(ev.stasis_end(ch), ch.apps)
        ch.stasis_app = None

    # ------------------------------------------------------------------ media path
    def channel_read(self, channel_id: str, frame: bytes) -> None:
        """``frame`` comes out of ``channel_id`` into the core: the bridge forwards it to the peers."""
        ch = self.channels.get(channel_id)
        if ch is None:
            return
        for peer in self._bridge_peers(ch):
            self.channel_write(peer, convert(frame, ch.fmt, peer.fmt))

    def channel_write(self, ch: Channel, frame: bytes) -> None:
        """The core writes ``frame`` to ``ch``."""
        if ch.kind is Kind.EXTMEDIA:
            sess = ch.media
            if isinstance(sess, ExtMediaSession) and sess.connected and sess.driver.direction is not Direction.OUT:
                sess.send_binary(frame)
        elif ch.leg is not None:
            ch.leg.hear(frame)

    # ------------------------------------------------------------------ inbound
    def _hangup_inbound(self, ch: Channel, requests: list[dict[str, Any]]) -> None:
        if ch.hanging_up or ch.destroyed:
            return
        ch.hanging_up = True
        self.emit(ev.hangup_request(ch, **requests[0]), ch.apps)
        self._leave_bridge(ch)
        for extra in requests[1:]:
            self.emit(ev.hangup_request(ch, **extra), ch.apps)
        self._end_stasis(ch)
        # No ChannelDestroyed reaches the app for the inbound Local ;2 channel (traced).
        self._destroy(ch, ch.hangup_cause, emit=False)
        partner = self.channels.get(ch.partner_id or "")
        if partner is not None:
            self._destroy(partner, ch.hangup_cause, emit=False)

    def answer_channel(self, ch: Channel) -> None:
        if ch.state == "Up":
            return
        ch.state = "Up"
        self.emit(ev.state_change(ch), ch.apps)
        partner = self.channels.get(ch.partner_id or "")
        if partner is not None:
            partner.state = "Up"
        if ch.leg is not None:
            ch.leg.active = True

    # ------------------------------------------------------------------ external media

    # ------------------------------------------------------------------ outbound

    # ------------------------------------------------------------------ app-requested hangup
    def hangup_channel(self, channel_id: str, reason_code: str | None, reason: str | None) -> None:
        ch = self.channels.get(channel_id)
        if ch is None:
            raise AriError(404, "Not Found", "Channel not found")
        if reason and reason_code:
            raise AriError(400, "Bad Request", "The reason and reason_code can't both be specified")
        cause = causes.NORMAL_CLEARING
        if reason_code:
            try:
                cause = int(reason_code.strip())
            except ValueError:
                raise AriError(400, "Invalid Reason Code", "Invalid reason for hangup reason code provided") from None
        elif reason:
            if reason not in causes.HANGUP_REASONS:
                raise AriError(400, "Invalid Reason", "Invalid reason for hangup reason provided")
            cause = causes.HANGUP_REASONS[reason]
        ch.hangup_cause = cause
        explicit = {"cause": causes.SOFTHANGUP_EXPLICIT, "soft": True}
        if ch.kind is Kind.INBOUND:
            self._hangup_inbound(ch, [explicit])
        elif ch.kind is Kind.EXTMEDIA:
            self._hangup_extmedia(ch, explicit, cause)
        elif ch.kind is Kind.OUTBOUND:
            self._hangup_outbound(ch, explicit, cause)
        elif ch.kind is Kind.CALLER:
            partner = self.channels.get(ch.partner_id or "")
            if partner is not None:
                self._hangup_inbound(partner, [{"cause": 0}])
            self._destroy(ch, cause, emit=False)
        else:  # CALLEE
            partner = self.channels.get(ch.partner_id or "")
            if partner is not None:
                self._callee_hangup(partner, cause)

    # ------------------------------------------------------------------ stasis control helpers
    def find_control(self, channel_id: str) -> Channel:
        ch = self.channels.get(channel_id)
        if ch is None:
            raise AriError(404, "Not Found", "Channel not found")
        if ch.stasis_app is None:
            raise AriError(409, "Conflict", "Channel not in Stasis application")
        return ch

    @staticmethod
    def check_state(ch: Channel) -> None:
        if ch.state in ("Down", "Reserved", "Ringing"):
            raise AriError(412, "Precondition Failed", "Channel in invalid state")

    def answer(self, channel_id: str) -> None:
        ch = self.find_control(channel_id)
        self.check_state(ch)
        if ch.kind is Kind.EXTMEDIA:
            self._answer_extmedia(ch)
        else:
            self.answer_channel(ch)

    def continue_in_dialplan(
        self, channel_id: str, context: str | None, extension: str | None, priority: str | None, label: str | None
    ) -> None:
        ch = self.find_control(channel_id)
        self.check_state(ch)
        if context:
            ctx, exten = context, extension or "s"
        else:
            ctx, exten = ch.context, extension or ch.exten
        if label:
            try:
                prio = int(label)
            except ValueError:
                prio = 1
        elif priority:
            prio = int(priority)
        elif not context and not extension:
            prio = ch.priority + 1
        else:
            prio = 1
        self.continues.append(ContinueRecord(ch.id, ctx, exten, prio))
        ch.continued_to = (ctx, exten, prio)
        self._leave_bridge(ch)
        self._end_stasis(ch)
        ch.context, ch.exten, ch.priority = ctx, exten, prio
        ch.apps = set()

    def set_variable(self, channel_id: str, variable: str, value: str) -> None:
        ch = self.find_control(channel_id)
        ch.set_var(variable, value)
        self.emit(ev.varset(ch, variable, value), ch.apps)

    def get_variable(self, channel_id: str, variable: str) -> str:
        ch = self.channels.get(channel_id)
        if ch is None:
            raise AriError(404, "Channel Not Found", "Provided channel was not found")
        functions = {
            "CALLERID(num)": ch.caller_number,
            "CALLERID(name)": ch.caller_name,
            "CALLERID(all)": f'"{ch.caller_name}" <{ch.caller_number}>',
            "CHANNEL(name)": ch.name,
            "CHANNEL(uniqueid)": ch.id,
            "UNIQUEID": ch.id,
            "CHANNEL": ch.name,
            "EXTEN": ch.exten,
            "CONTEXT": ch.context,
        }
        if variable in functions:
            return functions[variable]
        if variable.endswith(")"):
            raise AriError(500, "Error With Function", "Unable to read provided function")
        if variable in ch.variables:
            return ch.variables[variable]
        if variable in self.global_vars:
            return self.global_vars[variable]
        raise AriError(404, "Variable Not Found", "Provided variable was not found")

    # ------------------------------------------------------------------ bridges

    # ------------------------------------------------------------------ applications
    def app_is_known(self, name: str) -> bool:
        if name in self.app_sessions:
            return True
        if name not in self.known_apps:
            return False
        return bool(self.app_channel_ids(name) or self.app_bridge_ids(name))

    def app_channel_ids(self, name: str) -> list[str]:
        return [c.id for c in self.channels.values() if name in c.apps]

    def app_bridge_ids(self, name: str) -> list[str]:
        return [b.id for b in self.bridges.values() if name in b.apps]

    def application_json(self, name: str) -> dict[str, Any]:
        return {
            "name": name,
            "channel_ids": self.app_channel_ids(name),
            "bridge_ids": self.app_bridge_ids(name),
            "endpoint_ids": [],
            "device_names": [],
            "events_allowed": [],
            "events_disallowed": [],
        }

    async def run_event_session(self, ws: ServerWebSocket, apps: list[str], user: str, subscribe_all: bool) -> None:
        sess = EventSession(ws, list(dict.fromkeys(apps)), user, subscribe_all)
        ws.silent = self._silent
        self.event_sessions.append(sess)
        for app in sess.apps:
            old = self.app_sessions.get(app)
            if old is not None and old is not sess:
                replaced = ev.application_replaced(app)
                replaced["asterisk_id"] = self.asterisk_id
                old.ws.send_text(json.dumps(replaced, separators=(",", ":")))
                if app in old.apps:
                    old.apps.remove(app)
            self.app_sessions[app] = sess
            self.known_apps.add(app)
        self._state_version += 1
        try:
            await ws.run(lambda message: None)
        finally:
            if sess in self.event_sessions:
                self.event_sessions.remove(sess)
            for app in sess.apps:
                if self.app_sessions.get(app) is sess:
                    del self.app_sessions[app]
            self._state_version += 1

    # ------------------------------------------------------------------ misc info
    def asterisk_info(self) -> dict[str, Any]:
        started = ari_timestamp(self._started_wall)
        return {
            "build": {
                "os": "Linux",
                "kernel": "6.18.44-fc-v657",
                "machine": "x86_64",
                "options": "OPTIONAL_API",
                "date": "2026-11-27 13:02:43 UTC",
                "user": "root",
            },
            "system": {"version": VERSION, "entity_id": self.asterisk_id},
            "config": {"name": "", "default_language": "en", "setid": {"user": "", "group": ""}},
            "status": {"startup_time": started, "last_reload_time": started},
        }

    def module_json(self, name: str) -> dict[str, Any]:
        description, use_count, support = MODULE_INFO.get(name, (name.removesuffix(".so"), 0, "core"))
        return {"name": name, "description": description, "use_count": use_count, "status": "Running",
                "support_level": support}

    # ================================================================== HTTP entry point
    async def handle(self, request: HttpRequest) -> HttpResponse | WsAccept:
        from . import ari, control

        if request.path.startswith("/_fake"):
            return await control.handle(self, request)
        if request.path.startswith("/media/") and request.is_websocket_upgrade:
            return self._media_upgrade(request)
        if request.path == "/ari" or request.path.startswith("/ari/"):
            return await ari.handle(self, request)
        body = (
            '<!DOCTYPE HTML PUBLIC "-//IETF//DTD HTML 2.0//EN">\r\n<html><head>\r\n<title>404 Not Found</title>\r\n'
            "</head><body>\r\n<h1>Not Found</h1>\r\n<p>The requested URL was not found on this server.</p>\r\n"
            f"<hr />\r\n<address>Asterisk/{VERSION}</address>\r\n</body></html>\r\n"
        )
        return HttpResponse(404, "Not Found", body.encode(), "text/html")

    def encode_audio_b64(self, data: bytes) -> str:  # convenience for the control surface
        return base64.b64encode(data).decode()

    @staticmethod
    def get_format(name: str) -> MediaFormat | None:
        return get_format(name)
