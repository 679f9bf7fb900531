"""External media channels (chan_websocket): ARI validation, the dial/connect, playout and hangups."""
from __future__ import annotations

import asyncio
import uuid
from typing import TYPE_CHECKING, Any

from . import causes
from . import events as ev
from .chanws import Action, ChanWebSocket, ControlFormat, Direction
from .codecs import get_format
from .errors import AriError, alloc_failed, internal_error
from .httpserver import HttpRequest, HttpResponse, WsAccept
from .media import ExtMediaSession, MediaConnectionRecord, PlayedFrame
from .model import Channel, Kind
from .options import OptionParseError, parse_app_options, uri_params_to_query, validate_uri_params
from .wsserver import ServerWebSocket

if TYPE_CHECKING:
    from .core import FakeAsterisk


class ExternalMediaMixin:
    def create_external_media(self: FakeAsterisk, params: dict[str, str], variables: dict[str, str]) -> dict[str, Any]:
        app = params.get("app") or ""
        if not app:
            raise AriError(400, "Bad Request", "app cannot be empty")
        transport = params.get("transport") or "udp"
        encapsulation = params.get("encapsulation") or "rtp"
        if transport == "websocket" and encapsulation != "none":
            raise AriError(400, "Bad Request", "encapsulation must be 'none' for websocket transport")
        if encapsulation == "rtp" and transport != "udp":
            raise AriError(400, "Bad Request", "transport must be 'udp' for rtp encapsulation")
        if encapsulation == "audiosocket" and transport != "tcp":
            raise AriError(400, "Bad Request", "transport must be 'tcp' for audiosocket encapsulation")
        connection_type = params.get("connection_type") or "client"
        if transport != "websocket" and connection_type == "server":
            raise AriError(400, "Bad Request", "'server' connection_type can only be used with the websocket transport")
        external_host = params.get("external_host") or ""
        if not external_host:
            if connection_type == "client":
                raise AriError(400, "Bad Request", "external_host is required for all but websocket server connections")
            external_host = "INCOMING"
        if transport == "websocket":
            if connection_type == "client":
                if "res_websocket_client.so" not in self.modules or external_host not in self.ws_clients:
                    raise AriError(400, "Bad Request", "external_host must be a valid websocket_client connection id.")
        else:
            host, _, port = external_host.rpartition(":")
            if not host or not port.isdigit():
                raise AriError(400, "Bad Request", "external_host must be <host>:<port> for all transports other than websocket")
        fmt_name = params.get("format") or ""
        if not fmt_name:
            raise AriError(400, "Bad Request", "format cannot be empty")
        direction = params.get("direction")
        if direction and direction not in ("both", "in", "out"):
            raise AriError(400, "Bad Request", "Invalid direction specified")
        if not (encapsulation == "none" and transport == "websocket"):
            raise AriError(501, "Not Implemented", "The encapsulation and/or transport is not supported")
        transport_data = params.get("transport_data")
        dial_data = external_host
        if transport_data:
            dial_data += "/" + transport_data
        elif direction:
            dial_data += "/"
        if direction:
            dial_data += f"d({direction})"
        try:
            ch = self._request_websocket_channel(dial_data, fmt_name, params.get("channelId"), app, variables)
        except AriError:
            raise internal_error() from None
        app_args = [a for a in (params.get("data") or "").split(",") if a] if params.get("data") else []
        ch.stasis_args = app_args
        body = ch.snapshot(with_vars=True)
        assert isinstance(ch.media, ExtMediaSession)
        if ch.media.record.mode == "client":
            ch.media.connect_task = self.spawn(self._dial_websocket(ch), name=f"dial-{ch.id}")
        else:
            self.emit(ev.dial(ch, "", ch.media.dialstring), ch.apps)
        return body

    def _request_websocket_channel(
        self: FakeAsterisk,
        dial_data: str,
        fmt_name: str,
        channel_id: str | None,
        app: str,
        variables: dict[str, str],
    ) -> Channel:
        """webchan_request + originate prerun; AriError means 'the channel could not be allocated'."""
        if "chan_websocket.so" not in self.modules:
            raise alloc_failed()
        if channel_id and len(channel_id) > 128:
            raise AriError(400, "Bad Request", "Uniqueid length exceeds maximum of 128")
        if self._id_in_use(channel_id):
            raise AriError(409, "Conflict", "Channel with given unique ID already exists")
        fmt = get_format(fmt_name)
        if fmt is None:
            raise AriError(400, "Bad Request", f"Provided format ({fmt_name}) was not found")
        connection_id, _, opt_string = dial_data.partition("/")
        if not connection_id:
            raise alloc_failed()
        try:
            opts = parse_app_options(opt_string) if opt_string else {}
        except OptionParseError:
            raise alloc_failed() from None
        if opts.get("c"):
            codec = get_format(opts["c"])
            if codec is None:
                raise alloc_failed()
            fmt = codec
        server_mode = connection_id == "INCOMING"
        if not server_mode and connection_id not in self.ws_clients:
            raise alloc_failed()
        direction = Direction.BOTH
        if "d" in opts:
            try:
                direction = Direction(opts["d"] or "")
            except ValueError:
                raise alloc_failed() from None
        uri_params = ""
        if opts.get("v"):
            if server_mode or not validate_uri_params(opts["v"] or ""):
                raise alloc_failed()
            uri_params = uri_params_to_query(opts["v"] or "")
        control = self.control_message_format
        if "f" in opts:
            control = ControlFormat.JSON if (opts["f"] or "").lower() == "json" else ControlFormat.PLAIN
        instance_id = connection_id
        if server_mode:
            instance_id = str(uuid.uuid4())
        ch = Channel(
            id=channel_id or self.ids.channel_id(),
            name=f"WebSocket/{connection_id}/{self.ids.pointer()}",
            kind=Kind.EXTMEDIA,
            state="Down",
            app_name="AppDial2",
            app_data="(Outgoing Line)",
            fmt=fmt,
        )
        driver = ChanWebSocket(ch.id, fmt, control_format=control, direction=direction, passthrough="p" in opts)
        ch.set_var("MEDIA_WEBSOCKET_OPTIMAL_FRAME_SIZE", str(driver.optimal_frame_size))
        ch.set_var("MEDIA_WEBSOCKET_CONNECTION_ID", instance_id)
        for name, value in variables.items():
            ch.set_var(name, value)
        record = MediaConnectionRecord(channel_id=ch.id, client=instance_id, mode="server" if server_mode else "client")
        ch.media = ExtMediaSession(
            self, ch.id, driver, record, no_auto_answer="n" in opts, uri_params=uri_params, dialstring=dial_data
        )
        ch.data["connection_id"] = instance_id
        ch.apps = {app}
        ch.data["app"] = app
        self._add_channel(ch)
        self.media_connections.append(record)
        return ch

    async def _dial_websocket(self: FakeAsterisk, ch: Channel) -> None:
        """webchan_call on the dial thread: connect (with retries), MEDIA_START, then answer."""
        sess = ch.media
        assert isinstance(sess, ExtMediaSession)
        client = self.ws_clients[sess.record.client]
        if sess.uri_params:
            client.uri_params = sess.uri_params  # ast_websocket_client_add_uri_params: shared + sticky
        if self._swap_window:
            await asyncio.sleep(self._swap_window)
        url = client.url()
        protocols = [p.strip() for p in client.protocols.split(",") if p.strip()]
        attempts = max(1, client.reconnect_attempts)
        for attempt in range(attempts):
            if ch.hanging_up or ch.destroyed:
                return
            if await sess.connect_once(url, protocols, client.connection_timeout):
                break
            if attempt < attempts - 1:
                await asyncio.sleep(client.reconnect_interval)
        else:
            sess.record.failed = True
            self.log.append(f"Websocket connection to {client.uri} failed after {attempts} tries")
            if not ch.hanging_up:
                ch.hanging_up = True
                self._destroy(ch, causes.NO_ROUTE_DESTINATION)
            return
        if ch.hanging_up or ch.destroyed:
            sess.close(1000)
            return
        sess.start_reader()
        self._media_started(ch)

    def _media_started(self: FakeAsterisk, ch: Channel) -> None:
        sess = ch.media
        assert isinstance(sess, ExtMediaSession)
        start = sess.driver.media_start(ch.data["connection_id"], ch.name, ch.channelvars())
        sess.record.media_start = start
        sess.send_text(start)
        if sess.record.mode == "client":
            self.emit(ev.dial(ch, "", sess.dialstring), ch.apps)
        if sess.driver.direction is not Direction.IN:
            self._start_playout(ch)
        if not sess.no_auto_answer:
            self._answer_extmedia(ch)

    def _answer_extmedia(self: FakeAsterisk, ch: Channel) -> None:
        if ch.state == "Up" or ch.hanging_up:
            return
        sess = ch.media
        assert isinstance(sess, ExtMediaSession)
        ch.state = "Up"
        self.emit(ev.state_change(ch), ch.apps)
        self.emit(ev.dial(ch, "ANSWER", sess.dialstring), ch.apps)
        app = ch.data["app"]
        ch.app_name = "Stasis"
        ch.app_data = ",".join([app, *ch.stasis_args])
        ch.set_var("STASISSTATUS", "")
        self.emit(ev.varset(ch, "STASISSTATUS", ""), ch.apps)
        ch.stasis_app = app
        self.emit(ev.stasis_start(ch, ch.stasis_args), ch.apps)

    def _start_playout(self: FakeAsterisk, ch: Channel) -> None:
        sess = ch.media
        assert isinstance(sess, ExtMediaSession) and self._clock is not None
        if sess.clock_token is None:
            sess.timer_running = True
            sess.clock_token = self._clock.add(lambda i, now, c=ch: self._playout_tick(c, i, now))

    def _stop_playout(self: FakeAsterisk, ch: Channel) -> None:
        sess = ch.media
        assert isinstance(sess, ExtMediaSession)
        if self._clock is not None:
            self._clock.remove(sess.clock_token)
        sess.clock_token = None
        sess.timer_running = False

    def _playout_tick(self: FakeAsterisk, ch: Channel, index: int, now: float) -> None:
        sess = ch.media
        if ch.destroyed or not isinstance(sess, ExtMediaSession) or not sess.connected:
            return
        res = sess.driver.tick()
        for text in res.texts:
            sess.send_text(text)
        if res.frame is not None:
            sess.record.played.append(PlayedFrame(now, index, res.frame))
            self.channel_read(ch.id, res.frame)

    # MediaHost callbacks ---------------------------------------------------------

    def media_text_from_app(self: FakeAsterisk, session: ExtMediaSession, text: str) -> None:
        session.record.texts_from_app.append((self.now(), text))
        ch = self.channels.get(session.channel_id)
        if ch is None or ch.hanging_up:
            return
        res = session.driver.on_text(text)
        for reply in res.texts:
            session.send_text(reply)
        for action in res.actions:
            if action is Action.ANSWER:
                self._answer_extmedia(ch)
            elif action is Action.HANGUP:
                self._hangup_extmedia(ch, {"cause": 16, "tech_cause": 1000}, 16, tech_cause=1000)
            elif action is Action.TIMER_START:
                self._start_playout(ch)
            elif action is Action.TIMER_STOP:
                self._stop_playout(ch)

    def media_binary_from_app(self: FakeAsterisk, session: ExtMediaSession, data: bytes) -> None:
        session.record.binary_from_app.append((self.now(), len(data)))
        ch = self.channels.get(session.channel_id)
        if ch is None or ch.hanging_up:
            return
        for reply in session.driver.on_binary(data).texts:
            session.send_text(reply)

    def media_connection_lost(self: FakeAsterisk, session: ExtMediaSession, app_close_code: int | None) -> None:
        ch = self.channels.get(session.channel_id)
        if ch is None or ch.hanging_up:
            return
        if app_close_code is not None:
            # The app closed the socket: AST_CAUSE_NORMAL, tech cause GOING_AWAY (1001).
            self._hangup_extmedia(ch, {"cause": 16, "tech_cause": 1001}, 16, tech_cause=1001, close=False)
        else:
            # Read error: AST_CAUSE_NETWORK_OUT_OF_ORDER, tech cause 1001.
            self._hangup_extmedia(ch, {"cause": 38, "tech_cause": 1001}, 38, tech_cause=1001, close=False)

    def _hangup_extmedia(
        self: FakeAsterisk,
        ch: Channel,
        request: dict[str, Any],
        cause: int,
        *,
        tech_cause: int | None = None,
        close: bool = True,
    ) -> None:
        if ch.hanging_up or ch.destroyed:
            return
        ch.hanging_up = True
        sess = ch.media
        assert isinstance(sess, ExtMediaSession)
        self.emit(ev.hangup_request(ch, **request), ch.apps)
        self._stop_playout(ch)
        if ch.state != "Up" and ch.stasis_app is None:
            if sess.connect_task is not None and not sess.connect_task.done():
                sess.connect_task.cancel()
            if sess.record.mode == "server" or sess.record.connected:
                self.emit(ev.dial(ch, "NOANSWER" if sess.record.mode == "server" else "CANCEL", sess.dialstring), ch.apps)
            if close:
                sess.close(1000)
            self._destroy(ch, cause, tech_cause)
            return
        self._leave_bridge(ch)
        self._end_stasis(ch)
        ch.set_var("STASISSTATUS", "SUCCESS")
        self.emit(ev.varset(ch, "STASISSTATUS", "SUCCESS"), ch.apps)
        ch.app_name, ch.app_data = "AppDial2", "(Outgoing Line)"
        if close:
            sess.close(tech_cause or 1000)
        self._destroy(ch, cause, tech_cause)

    # server mode (connection_type=server): the app connects to /media/<connection_id>

    async def _media_server_ws(self: FakeAsterisk, ws: ServerWebSocket, ch: Channel) -> None:
        sess = ch.media
        assert isinstance(sess, ExtMediaSession)
        sess.server_ws = ws
        sess.record.connected = True
        sess.record.subprotocol = ws.protocol.subprotocol if hasattr(ws.protocol, "subprotocol") else None
        self._media_started(ch)

        def on_message(message: str | bytes) -> None:
            if isinstance(message, str):
                self.media_text_from_app(sess, message)
            else:
                self.media_binary_from_app(sess, message)

        await ws.run(on_message)
        sess.server_closed(ws.close_code_received)

    def _media_upgrade(self: FakeAsterisk, request: HttpRequest) -> HttpResponse | WsAccept:
        connection_id = request.path[len("/media/") :]
        for ch in self.channels.values():
            if ch.kind is Kind.EXTMEDIA and ch.data.get("connection_id") == connection_id:
                sess = ch.media
                if isinstance(sess, ExtMediaSession) and sess.record.mode == "server":
                    if sess.record.connected:
                        return HttpResponse(409, "Conflict", b"Another websocket connection exists for this connection id", "text/html")

                    async def handler(ws: ServerWebSocket, req: HttpRequest, c: Channel = ch) -> None:
                        s = c.media
                        assert isinstance(s, ExtMediaSession)
                        s.record.path = req.target
                        s.record.request_headers = list(req.headers.items())
                        await self._media_server_ws(ws, c)

                    return WsAccept(handler, subprotocols=["media"])
        return HttpResponse(404, "Not found", b"WebSocket instance not found", "text/html")
