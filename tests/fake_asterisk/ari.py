"""ARI REST routing and handlers (``/ari/...``) plus the ``/ari/events`` WebSocket upgrade."""
from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from .core import RestRecord
from .errors import AriError, alloc_failed
from .httpserver import SERVER_HEADER, HttpRequest, HttpResponse, WsAccept
from .model import ari_timestamp
from .wsserver import ServerWebSocket

if TYPE_CHECKING:
    from .core import FakeAsterisk

AUTH_HEADERS = [("WWW-Authenticate", 'Basic realm="Asterisk REST Interface"')]


class Call:
    """Everything a handler needs about one REST request."""

    def __init__(self, fake: FakeAsterisk, request: HttpRequest, path_vars: dict[str, str]) -> None:
        self.fake = fake
        self.request = request
        self.path_vars = path_vars
        self.params: dict[str, str] = {}
        self.multi: dict[str, list[str]] = {}
        self.variables: dict[str, str] = {}
        self.body: Any = None

    def parse(self) -> None:
        for key, value in [*self.request.query, *self.request.form_body()]:
            self.params[key] = value
            self.multi.setdefault(key, []).append(value)
        try:
            self.body = self.request.json_body()
        except ValueError:
            raise AriError(400, "Bad Request", "Error parsing request body") from None
        if isinstance(self.body, dict):
            for key, value in self.body.items():
                if key == "variables":
                    continue
                if isinstance(value, list):
                    self.multi[key] = [str(v) for v in value]
                    self.params[key] = ",".join(str(v) for v in value)
                elif isinstance(value, bool):
                    self.params[key] = "true" if value else "false"
                elif value is not None:
                    self.params[key] = str(value)
                    self.multi[key] = [str(value)]
            raw_vars = self.body.get("variables")
            if isinstance(raw_vars, dict):
                for key, value in raw_vars.items():
                    if isinstance(value, dict) and isinstance(value.get("value"), str):
                        value = value["value"]
                    if not isinstance(value, str):
                        raise AriError(400, "Bad Request", "Only string values in the 'variables' object allowed")
                    self.variables[key] = value

    def get(self, name: str) -> str | None:
        return self.params.get(name)

    def list(self, name: str) -> list[str]:
        out: list[str] = []
        for value in self.multi.get(name, []):
            out += [v.strip() for v in value.split(",") if v.strip()]
        return out


Handler = Callable[[Call], Awaitable[HttpResponse] | HttpResponse]


def ok(obj: Any) -> HttpResponse:
    return HttpResponse.json(200, "OK", obj)


def no_content() -> HttpResponse:
    return HttpResponse.no_content()


# ---------------------------------------------------------------------- asterisk
def get_info(call: Call) -> HttpResponse:
    info = call.fake.asterisk_info()
    only = call.list("only")
    if only:
        info = {k: v for k, v in info.items() if k in only}
    return ok(info)


def ping(call: Call) -> HttpResponse:
    return ok({"ping": "pong", "timestamp": ari_timestamp(), "asterisk_id": call.fake.asterisk_id})


def list_modules(call: Call) -> HttpResponse:
    return ok([call.fake.module_json(m) for m in sorted(call.fake.modules)])


def get_module(call: Call) -> HttpResponse:
    name = call.path_vars["moduleName"]
    if not name.endswith(".so"):
        raise AriError(409, "Conflict", "Module information could not be retrieved")
    if name not in call.fake.modules:
        raise AriError(404, "Not Found", "Module could not be found in running modules")
    return ok(call.fake.module_json(name))


def load_module(call: Call) -> HttpResponse:
    name = call.path_vars["moduleName"]
    if name in call.fake.modules or not name.endswith(".so"):
        raise AriError(409, "Conflict", "Module could not be loaded")
    call.fake.load_module(name)
    return no_content()


def unload_module(call: Call) -> HttpResponse:
    name = call.path_vars["moduleName"]
    if name not in call.fake.modules:
        raise AriError(404, "Not Found", "Module not found in running modules")
    call.fake.unload_module(name)
    return no_content()


def reload_module(call: Call) -> HttpResponse:
    if call.path_vars["moduleName"] not in call.fake.modules:
        raise AriError(404, "Not Found", "Module not found in running modules")
    return no_content()  # a reload keeps the sticky v() params (traced)


def get_global_var(call: Call) -> HttpResponse:
    variable = call.get("variable")
    if not variable:
        raise AriError(400, "Bad Request", "Variable name is required")
    return ok({"value": call.fake.global_vars.get(variable, "")})


def set_global_var(call: Call) -> HttpResponse:
    variable = call.get("variable")
    if not variable:
        raise AriError(400, "Bad Request", "Variable name is required")
    call.fake.global_vars[variable] = call.get("value") or ""
    return no_content()


# ---------------------------------------------------------------------- applications
def list_applications(call: Call) -> HttpResponse:
    fake = call.fake
    names = sorted(n for n in fake.known_apps | set(fake.app_sessions) if fake.app_is_known(n))
    return ok([fake.application_json(n) for n in names])


def get_application(call: Call) -> HttpResponse:
    name = call.path_vars["applicationName"]
    if not call.fake.app_is_known(name):
        raise AriError(404, "Not Found", "Application not found")
    return ok(call.fake.application_json(name))


# ---------------------------------------------------------------------- channels
def list_channels(call: Call) -> HttpResponse:
    return ok([c.snapshot() for c in call.fake.channels.values()])


def originate(call: Call) -> HttpResponse:
    return ok(call.fake.originate(call.params, call.variables))


def originate_with_id(call: Call) -> HttpResponse:
    return ok(call.fake.originate(call.params, call.variables, channel_id=call.path_vars["channelId"]))


def create_channel(call: Call) -> HttpResponse:
    raise AriError(501, "Not Implemented", "POST /channels/create is not implemented by the fake")


def get_channel(call: Call) -> HttpResponse:
    ch = call.fake.channels.get(call.path_vars["channelId"])
    if ch is None:
        raise AriError(404, "Not Found", "Channel not found")
    return ok(ch.snapshot())


def hangup(call: Call) -> HttpResponse:
    call.fake.hangup_channel(call.path_vars["channelId"], call.get("reason_code"), call.get("reason"))
    return no_content()


def answer(call: Call) -> HttpResponse:
    call.fake.answer(call.path_vars["channelId"])
    return no_content()


def continue_in_dialplan(call: Call) -> HttpResponse:
    call.fake.continue_in_dialplan(
        call.path_vars["channelId"], call.get("context"), call.get("extension"), call.get("priority"), call.get("label")
    )
    return no_content()


def get_variable(call: Call) -> HttpResponse:
    variable = call.get("variable")
    if not variable:
        raise AriError(400, "Bad Request", "Variable name is required")
    return ok({"value": call.fake.get_variable(call.path_vars["channelId"], variable)})


def set_variable(call: Call) -> HttpResponse:
    variable = call.get("variable")
    if not variable:
        raise AriError(400, "Bad Request", "Variable name is required")
    call.fake.set_variable(call.path_vars["channelId"], variable, call.get("value") or "")
    return no_content()


def control_noop(call: Call) -> HttpResponse:
    """ring/progress/mute/hold/moh/silence: validated like Asterisk, no effect in the fake."""
    ch = call.fake.find_control(call.path_vars["channelId"])
    call.fake.check_state(ch)
    return no_content()


def send_dtmf(call: Call) -> HttpResponse:
    ch = call.fake.find_control(call.path_vars["channelId"])
    call.fake.check_state(ch)
    dtmf = call.get("dtmf")
    if not dtmf:
        raise AriError(400, "Bad Request", "DTMF is required")
    ch.data.setdefault("dtmf_sent_by_app", []).append(dtmf)
    return no_content()


def play(call: Call) -> HttpResponse:
    ch = call.fake.find_control(call.path_vars["channelId"])
    call.fake.check_state(ch)
    raise AriError(501, "Not Implemented", "Playback is not implemented by the fake")


def external_media(call: Call) -> HttpResponse:
    return ok(call.fake.create_external_media(call.params, call.variables))


# ---------------------------------------------------------------------- bridges
def list_bridges(call: Call) -> HttpResponse:
    return ok([b.snapshot() for b in call.fake.bridges.values()])


def create_bridge(call: Call) -> HttpResponse:
    bridge = call.fake.create_bridge(call.get("type"), call.get("name"), call.get("bridgeId"))
    return ok(bridge.snapshot())


def create_bridge_with_id(call: Call) -> HttpResponse:
    bridge = call.fake.create_bridge(call.get("type"), call.get("name"), call.path_vars["bridgeId"])
    return ok(bridge.snapshot())


def get_bridge(call: Call) -> HttpResponse:
    bridge = call.fake.bridges.get(call.path_vars["bridgeId"])
    if bridge is None:
        raise AriError(404, "Not Found", "Bridge not found")
    return ok(bridge.snapshot())


def destroy_bridge(call: Call) -> HttpResponse:
    call.fake.destroy_bridge(call.path_vars["bridgeId"])
    return no_content()


def add_channel(call: Call) -> HttpResponse:
    call.fake.add_to_bridge(call.path_vars["bridgeId"], call.list("channel"))
    return no_content()


def remove_channel(call: Call) -> HttpResponse:
    call.fake.remove_from_bridge(call.path_vars["bridgeId"], call.list("channel"))
    return no_content()


def empty_list(call: Call) -> HttpResponse:
    return ok([])


ROUTES: list[tuple[str, dict[str, Handler]]] = [
    ("/asterisk/info", {"GET": get_info}),
    ("/asterisk/ping", {"GET": ping}),
    ("/asterisk/modules", {"GET": list_modules}),
    ("/asterisk/modules/{moduleName}", {"GET": get_module, "POST": load_module, "DELETE": unload_module, "PUT": reload_module}),
    ("/asterisk/variable", {"GET": get_global_var, "POST": set_global_var}),
    ("/applications", {"GET": list_applications}),
    ("/applications/{applicationName}", {"GET": get_application}),
    ("/channels", {"GET": list_channels, "POST": originate}),
    ("/channels/externalMedia", {"POST": external_media}),
    ("/channels/create", {"POST": create_channel}),
    ("/channels/{channelId}", {"GET": get_channel, "POST": originate_with_id, "DELETE": hangup}),
    ("/channels/{channelId}/answer", {"POST": answer}),
    ("/channels/{channelId}/continue", {"POST": continue_in_dialplan}),
    ("/channels/{channelId}/variable", {"GET": get_variable, "POST": set_variable}),
    ("/channels/{channelId}/ring", {"POST": control_noop, "DELETE": control_noop}),
    ("/channels/{channelId}/progress", {"POST": control_noop}),
    ("/channels/{channelId}/mute", {"POST": control_noop, "DELETE": control_noop}),
    ("/channels/{channelId}/hold", {"POST": control_noop, "DELETE": control_noop}),
    ("/channels/{channelId}/moh", {"POST": control_noop, "DELETE": control_noop}),
    ("/channels/{channelId}/silence", {"POST": control_noop, "DELETE": control_noop}),
    ("/channels/{channelId}/dtmf", {"POST": send_dtmf}),
    ("/channels/{channelId}/play", {"POST": play}),
    ("/bridges", {"GET": list_bridges, "POST": create_bridge}),
    ("/bridges/{bridgeId}", {"GET": get_bridge, "POST": create_bridge_with_id, "DELETE": destroy_bridge}),
    ("/bridges/{bridgeId}/addChannel", {"POST": add_channel}),
    ("/bridges/{bridgeId}/removeChannel", {"POST": remove_channel}),
    ("/endpoints", {"GET": empty_list}),
    ("/deviceStates", {"GET": empty_list}),
    ("/sounds", {"GET": empty_list}),
    ("/recordings/stored", {"GET": empty_list}),
    ("/events", {"GET": empty_list}),  # non-upgrade GET is answered in handle()
]


class _Node:
    def __init__(self) -> None:
        self.children: dict[str, _Node] = {}
        self.wildcard: tuple[str, _Node] | None = None
        self.methods: dict[str, Handler] | None = None


def _build() -> _Node:
    root = _Node()
    for pattern, methods in ROUTES:
        node = root
        for seg in pattern.strip("/").split("/"):
            if seg.startswith("{"):
                if node.wildcard is None:
                    node.wildcard = (seg[1:-1], _Node())
                node = node.wildcard[1]
            else:
                node = node.children.setdefault(seg, _Node())
        node.methods = methods
    return root


_ROOT = _build()


def route(path: str) -> tuple[dict[str, Handler] | None, dict[str, str]]:
    node = _ROOT
    path_vars: dict[str, str] = {}
    for seg in path.strip("/").split("/"):
        if seg in node.children:
            node = node.children[seg]
        elif node.wildcard is not None:
            path_vars[node.wildcard[0]] = seg
            node = node.wildcard[1]
        else:
            return None, {}
    return node.methods, path_vars


# ---------------------------------------------------------------------- auth + entry
def authenticate(fake: FakeAsterisk, request: HttpRequest) -> str | None:
    if fake._reject_credentials:
        return None
    header = request.headers.get("authorization")
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            user, _, password = base64.b64decode(value.strip()).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return user if fake.users.get(user) == password and user in fake.users else None
    for key, value in request.query:
        if key == "api_key":
            user, sep, password = value.partition(":")
            if sep and user in fake.users and fake.users[user] == password:
                return user
            return None
    return None


def html_error(status: int, reason: str, text: str) -> HttpResponse:
    body = (
        '<!DOCTYPE HTML PUBLIC "-//IETF//DTD HTML 2.0//EN">\r\n<html><head>\r\n'
        f"<title>{status} {reason}</title>\r\n</head><body>\r\n<h1>{reason}</h1>\r\n<p>{text}</p>\r\n"
        f"<hr />\r\n<address>{SERVER_HEADER}</address>\r\n</body></html>\r\n"
    )
    return HttpResponse(status, reason, body.encode(), "text/html")


async def handle(fake: FakeAsterisk, request: HttpRequest) -> HttpResponse | WsAccept:
    sub = request.path[len("/ari") :]
    record = RestRecord(fake.now(), request.method, request.path, list(request.query), None)
    try:
        record.body = request.json_body()
    except ValueError:
        record.body = request.body.decode(errors="replace")
    fake.requests.append(record)
    response = await _handle(fake, request, sub)
    if isinstance(response, WsAccept):
        record.status, record.reason = 101, "Switching Protocols"
    else:
        record.status, record.reason = response.status, response.reason
        if response.body and response.content_type == "application/json":
            record.response = json.loads(response.body)
        elif response.body:
            record.response = response.body.decode(errors="replace")
    return response


async def _handle(fake: FakeAsterisk, request: HttpRequest, sub: str) -> HttpResponse | WsAccept:
    user = authenticate(fake, request)
    if user is None:
        return HttpResponse.json(401, "Unauthorized", {"message": "Authentication required"}, list(AUTH_HEADERS))
    if sub.endswith("/") and sub != "/":
        slashless = sub.strip("/")
        return AriError(404, "Not Found", f"ARI URLs do not end with a slash. Try /ari/{slashless}").response()
    if sub == "/events" and request.method == "GET":
        return _events_upgrade(fake, request, user)
    if not fake._rest_unhung.is_set():
        await fake._rest_unhung.wait()
    if fake._rest_fail is not None and sub.startswith(fake._rest_fail):
        return AriError(500, "Internal Server Error", "An internal error prevented this request from being handled").response()
    methods, path_vars = route(sub)
    if methods is None:
        return AriError(404, "Not Found", "Resource not found").response()
    handler = methods.get(request.method)
    if handler is None:
        resp = AriError(405, "Method Not Allowed", "Invalid method").response()
        resp.headers.append(("Allow", ",".join(sorted(methods))))
        return resp
    call = Call(fake, request, path_vars)
    try:
        call.parse()
        result = handler(call)
        if not isinstance(result, HttpResponse):
            result = await result
        return result
    except AriError as err:
        return err.response()


def _events_upgrade(fake: FakeAsterisk, request: HttpRequest, user: str) -> HttpResponse | WsAccept:
    apps: list[str] = []
    subscribe_all = False
    for key, value in request.query:
        if key == "app":
            apps += [a for a in value.split(",") if a]
        elif key == "subscribeAll":
            subscribe_all = value.strip().lower() in ("true", "yes", "1", "on")
    if not apps:
        return html_error(400, "Bad Request", "HTTP request is missing param: [app]")
    if not request.is_websocket_upgrade:
        return html_error(426, "Upgrade Required", "The requested resource requires a websocket upgrade")

    async def handler(ws: ServerWebSocket, _req: HttpRequest) -> None:
        await fake.run_event_session(ws, apps, user, subscribe_all)

    offered = [p.strip() for p in request.headers.get("sec-websocket-protocol", "").split(",") if p.strip()]
    return WsAccept(handler, subprotocols=["ari"] if "ari" in offered else None)


__all__ = ["handle", "route", "authenticate", "alloc_failed"]
