"""ARI REST client against a real loopback HTTP server (h11 over asyncio), no network mocks."""
from __future__ import annotations

import asyncio
import base64
import json
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import h11
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ari.errors import (
    AriAuthFailed,
    AriBadRequest,
    AriError,
    AriNotFound,
    AriServerError,
    AriTimeout,
    AriUnreachable,
)
from ari.rest import AriRestClient, ari_base_url, asterisk_message, build_transport_data

USER = "dograh"
PASSWORD = "secret123"
INFO = {"system": {"version": "GIT-master-f0c1c1a7b7", "entity_id": "02:fc:00:00:00:01"}}


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    raw_path: str = ""

    def param(self, name: str) -> str:
        (value,) = self.query[name]
        return value


class AriHttp:
    """A tiny ARI REST stand-in: scripted (status, body) per (method, path), Basic auth checked."""

    def __init__(self, username: str = USER, password: str = PASSWORD) -> None:
        self.credentials = (username, password)
        self.routes: dict[tuple[str, str], tuple[int, Any]] = {("GET", "/ari/asterisk/info"): (200, INFO)}
        self.seen: list[Seen] = []
        self.release = asyncio.Event()  # a route with status 0 hangs until this is set
        self.port = 0
        self._server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def __aenter__(self) -> AriHttp:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.release.set()
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    def _authorized(self, headers: dict[str, str]) -> bool:
        value = headers.get("authorization", "")
        if not value.startswith("Basic "):
            return False
        user, _, password = base64.b64decode(value[6:]).decode("utf-8").partition(":")
        return (user, password) == self.credentials

    async def _respond(self, seen: Seen) -> tuple[int, bytes]:
        if not self._authorized(seen.headers):
            return 401, b'{"message":"Authentication required"}'
        status, body = self.routes.get((seen.method, seen.path), (404, {"message": "Resource not found"}))
        if status == 0:
            await self.release.wait()
            status = 200
        if body is None:
            return status, b""
        return status, body if isinstance(body, bytes) else json.dumps(body).encode()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = h11.Connection(h11.SERVER)

        async def next_event() -> Any:
            while True:
                event = conn.next_event()
                if event is not h11.NEED_DATA:
                    return event
                conn.receive_data(await reader.read(65536))

        try:
            while True:
                request = await next_event()
                if not isinstance(request, h11.Request):
                    break
                body = b""
                while not isinstance(event := await next_event(), h11.EndOfMessage):
                    body += event.data
                target = urlsplit(request.target.decode())
                headers = {k.decode().lower(): v.decode("latin-1") for k, v in request.headers}
                seen = Seen(request.method.decode(), unquote(target.path),
                            parse_qs(target.query, keep_blank_values=True), headers, body, target.path)
                self.seen.append(seen)
                status, payload = await self._respond(seen)
                out = [("content-length", str(len(payload)))]
                if payload:
                    out.append(("content-type", "application/json"))
                writer.write(conn.send(h11.Response(status_code=status, headers=out)))
                writer.write(conn.send(h11.Data(data=payload)) if payload else b"")
                writer.write(conn.send(h11.EndOfMessage()))
                await writer.drain()
                if conn.our_state is h11.MUST_CLOSE:
                    break
                conn.start_next_cycle()
        except (ConnectionError, h11.RemoteProtocolError):
            pass
        finally:
            writer.close()


@pytest.fixture
async def ari() -> AsyncIterator[AriHttp]:
    async with AriHttp() as server:
        yield server


@pytest.fixture
async def client(ari: AriHttp) -> AsyncIterator[AriRestClient]:
    async with AriRestClient(ari.url, USER, PASSWORD, timeout=2.0) as rest:
        yield rest


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- auth ---------------------------------------------------------------------------------


async def test_credentials_with_reserved_and_unicode_characters_reach_the_server() -> None:
    user, password = "dógráh &#%@+x", "p&#:%@ ä€ß/?=,;"
    async with AriHttp(user, password) as server, AriRestClient(server.url, user, password) as rest:
        info = await rest.info()
    assert info["system"]["version"] == "GIT-master-f0c1c1a7b7"
    token = server.seen[0].headers["authorization"].removeprefix("Basic ")
    assert base64.b64decode(token).decode("utf-8") == f"{user}:{password}"
    assert server.seen[0].path == "/ari/asterisk/info"


async def test_wrong_password_is_auth_failed_with_a_fix(ari: AriHttp) -> None:
    async with AriRestClient(ari.url, USER, "wrong") as rest:
        with pytest.raises(AriAuthFailed) as caught:
            await rest.ping()
    assert caught.value.error_id == "ari-auth-failed"
    assert "ari.conf" in caught.value.fix and "ari reload" in caught.value.fix
    assert caught.value.as_dict()["error_id"] == "ari-auth-failed"


# --- error mapping ----------------------------------------------------------------------------


async def test_404_on_get_is_not_found_with_asterisk_message(ari: AriHttp, client: AriRestClient) -> None:
    ari.routes[("GET", "/ari/channels/gone")] = (404, {"message": "Channel not found"})
    with pytest.raises(AriNotFound) as caught:
        await client.get_channel("gone")
    assert caught.value.status_code == 404
    assert caught.value.asterisk_message == "Channel not found"
    assert str(caught.value).startswith("ari-not-found: ")


async def test_hangup_and_delete_bridge_treat_404_as_done(ari: AriHttp, client: AriRestClient) -> None:
    ari.routes[("DELETE", "/ari/channels/c1")] = (204, None)
    ari.routes[("DELETE", "/ari/channels/c2")] = (404, {"message": "Channel not found"})
    ari.routes[("DELETE", "/ari/bridges/b1")] = (204, None)
    ari.routes[("DELETE", "/ari/bridges/b2")] = (404, {"message": "Bridge not found"})
    assert await client.hangup("c1", reason="busy") is True
    assert await client.hangup("c2") is False
    assert await client.delete_bridge("b1") is True
    assert await client.delete_bridge("b2") is False
    assert [(s.method, s.path) for s in ari.seen] == [
        ("DELETE", "/ari/channels/c1"), ("DELETE", "/ari/channels/c2"),
        ("DELETE", "/ari/bridges/b1"), ("DELETE", "/ari/bridges/b2"),
    ]
    assert ari.seen[0].param("reason") == "busy"
    assert ari.seen[1].param("reason") == "normal"


@pytest.mark.parametrize("status", [400, 409, 422])
async def test_client_errors_are_bad_request_keeping_asterisk_message(
    ari: AriHttp, client: AriRestClient, status: int
) -> None:
    text = "external_host must be a valid websocket_client connection id."
    ari.routes[("POST", "/ari/channels/externalMedia")] = (status, {"message": text})
    with pytest.raises(AriBadRequest) as caught:
        await client.external_media(channel_id="e1", app="dograh", external_host="nope",
                                    transport_data=build_transport_data({"a": "1"}))
    assert caught.value.error_id == "ari-bad-request"
    assert caught.value.status_code == status
    assert caught.value.asterisk_message == text
    assert text in caught.value.message


async def test_originate_500_keeps_the_error_key(ari: AriHttp, client: AriRestClient) -> None:
    ari.routes[("POST", "/ari/channels")] = (500, {"error": "Allocation failed"})
    with pytest.raises(AriServerError) as caught:
        await client.originate(endpoint="Bogus/123", app="dograh", app_args="outbound")
    assert caught.value.error_id == "ari-server-error"
    assert caught.value.asterisk_message == "Allocation failed"
    assert "Allocation failed" in str(caught.value)


async def test_module_adds_so_and_409_is_bad_request(ari: AriHttp, client: AriRestClient) -> None:
    module = {"name": "chan_websocket.so", "status": "Running"}
    ari.routes[("GET", "/ari/asterisk/modules/chan_websocket.so")] = (200, module)
    ari.routes[("GET", "/ari/asterisk/modules/x")] = (409, {"message": "Module information could not be retrieved"})
    assert (await client.module("chan_websocket"))["status"] == "Running"
    assert (await client.module("chan_websocket.so"))["status"] == "Running"
    with pytest.raises(AriBadRequest):
        await client.request("GET", "/asterisk/modules/x")
    assert ari.seen[0].path == ari.seen[1].path == "/ari/asterisk/modules/chan_websocket.so"


async def test_timeout_is_ari_timeout(ari: AriHttp) -> None:
    ari.routes[("GET", "/ari/asterisk/ping")] = (0, {"ping": "pong"})
    async with AriRestClient(ari.url, USER, PASSWORD, timeout=0.2) as rest:
        with pytest.raises(AriTimeout) as caught:
            await rest.ping()
    assert caught.value.error_id == "ari-timeout"


async def test_refused_connection_is_unreachable_with_fix() -> None:
    async with AriRestClient(f"http://127.0.0.1:{free_port()}", USER, PASSWORD) as rest:
        with pytest.raises(AriUnreachable) as caught:
            await rest.info()
    assert caught.value.error_id == "ari-unreachable"
    assert "bindport" in caught.value.fix and "module show like res_ari" in caught.value.fix
    assert isinstance(caught.value, AriError)


# --- requests the product makes ---------------------------------------------------------------


async def test_external_media_sends_every_parameter(ari: AriHttp, client: AriRestClient) -> None:
    ari.routes[("POST", "/ari/channels/externalMedia")] = (200, {"id": "ext-1", "state": "Down"})
    data = build_transport_data({"workflow_id": "1", "user_id": "2", "workflow_run_id": "a b,c"})
    channel = await client.external_media(
        channel_id="ext-1", app="dograh", external_host="dograh", transport_data=data,
        variables={"DOGRAH_RUN": "3"})
    assert channel["id"] == "ext-1"
    (seen,) = ari.seen
    assert {k: v[0] for k, v in seen.query.items()} == {
        "channelId": "ext-1", "app": "dograh", "external_host": "dograh", "transport": "websocket",
        "encapsulation": "none", "connection_type": "client", "format": "ulaw", "direction": "both",
        "transport_data": "v(workflow_id=1,user_id=2,workflow_run_id=a%20b%2Cc)",
    }
    assert json.loads(seen.body) == {"variables": {"DOGRAH_RUN": "3"}}


async def test_originate_encodes_query_values(ari: AriHttp, client: AriRestClient) -> None:
    ari.routes[("POST", "/ari/channels")] = (200, {"id": "out-1", "state": "Down"})
    await client.originate(endpoint="PJSIP/6001", app="dograh", app_args=["outbound", "run=5&x"],
                           caller_id="Dograh <1000>", timeout=30, channel_id="out-1")
    seen = ari.seen[0]
    assert seen.param("endpoint") == "PJSIP/6001"
    assert seen.param("appArgs") == "outbound,run=5&x"
    assert seen.param("callerId") == "Dograh <1000>"
    assert seen.param("timeout") == "30" and seen.param("channelId") == "out-1"
    assert seen.body == b""


async def test_channel_and_bridge_calls(ari: AriHttp, client: AriRestClient) -> None:
    ari.routes.update({
        ("POST", "/ari/channels/c1/answer"): (204, None),
        ("POST", "/ari/channels/c1/continue"): (204, None),
        ("POST", "/ari/channels/c1/variable"): (204, None),
        ("GET", "/ari/channels/c1/variable"): (200, {"value": "hello world"}),
        ("GET", "/ari/channels"): (200, [{"id": "c1"}]),
        ("POST", "/ari/bridges"): (200, {"id": "b1", "bridge_type": "mixing"}),
        ("POST", "/ari/bridges/b1/addChannel"): (204, None),
        ("POST", "/ari/bridges/b1/removeChannel"): (204, None),
        ("GET", "/ari/bridges"): (200, [{"id": "b1"}]),
        ("GET", "/ari/applications/dograh"): (200, {"name": "dograh"}),
    })
    await client.answer("c1")
    await client.continue_in_dialplan("c1", "transfer", "6001")
    await client.set_variable("c1", "X_TEST", "hello world")
    assert await client.get_variable("c1", "X_TEST") == "hello world"
    assert await client.list_channels() == [{"id": "c1"}]
    assert (await client.create_bridge("b1", name="call-c1"))["id"] == "b1"
    await client.add_to_bridge("b1", ["c1", "e1"])
    await client.remove_from_bridge("b1", "e1")
    assert await client.list_bridges() == [{"id": "b1"}]
    assert (await client.application("dograh"))["name"] == "dograh"
    by_path = {(s.method, s.path): s for s in ari.seen}
    assert by_path[("POST", "/ari/channels/c1/continue")].query == {
        "context": ["transfer"], "extension": ["6001"], "priority": ["1"]}
    assert by_path[("POST", "/ari/channels/c1/variable")].param("value") == "hello world"
    assert by_path[("POST", "/ari/bridges")].query == {
        "type": ["mixing"], "bridgeId": ["b1"], "name": ["call-c1"]}
    assert by_path[("POST", "/ari/bridges/b1/addChannel")].param("channel") == "c1,e1"
    assert by_path[("POST", "/ari/bridges/b1/removeChannel")].param("channel") == "e1"


async def test_ids_are_one_path_segment(ari: AriHttp, client: AriRestClient) -> None:
    ari.routes[("GET", "/ari/channels/a/b c")] = (200, {"id": "a/b c"})
    await client.get_channel("a/b c")
    assert ari.seen[0].raw_path == "/ari/channels/a%2Fb%20c"


# --- pure helpers -----------------------------------------------------------------------------


def test_base_url_normalisation() -> None:
    assert ari_base_url("http://pbx:8088") == "http://pbx:8088/ari"
    assert ari_base_url("http://pbx:8088/") == "http://pbx:8088/ari"
    assert ari_base_url("https://pbx/ari/") == "https://pbx/ari"
    assert ari_base_url(" http://pbx/asterisk ") == "http://pbx/asterisk/ari"
    with pytest.raises(ValueError):
        ari_base_url("pbx:8088")


def test_asterisk_message_from_json_and_html() -> None:
    assert asterisk_message(b'{"message":"Channel not found"}') == "Channel not found"
    assert asterisk_message(b'{"error":"Allocation failed"}') == "Allocation failed"
    html = b"<html><body><h1>Bad Request</h1>\r\n<p>HTTP request is missing param: [app]</p></body>"
    assert asterisk_message(html) == "HTTP request is missing param: [app]"


def test_transport_data_encodes_reserved_characters() -> None:
    data = build_transport_data({"workflow_id": "1", "note": "a b,c=d)e&f(g%"})
    assert data == "v(workflow_id=1,note=a%20b%2Cc%3Dd%29e%26f%28g%25)"
    assert build_transport_data({"k": "é"}, json_control=True) == "v(k=%C3%A9)f(json)"
    with pytest.raises(ValueError):
        build_transport_data({})


@given(st.dictionaries(st.text(min_size=1, max_size=10), st.text(max_size=20), min_size=1, max_size=5))
def test_transport_data_round_trips(params: dict[str, str]) -> None:
    data = build_transport_data(params)
    assert data.startswith("v(") and data.endswith(")")
    inner = data[2:-1]
    assert not set(inner) & set(" ()&\t\n"), data
    pairs = [item.split("=") for item in inner.split(",")]
    assert all(len(pair) == 2 for pair in pairs)
    assert {unquote(k): unquote(v) for k, v in pairs} == params
