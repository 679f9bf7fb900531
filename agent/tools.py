"""Running a user-defined HTTP tool (`agent.tool_definition`) for the LLM or a script step.

`ToolRunner.call(name, arguments)` validates the arguments against the tool's parameters, builds
the request and sends it through the outbound policy (`agent.outbound_http`) with the tool's
timeout as connect/read/total limit and 64 KB as the response limit. It never raises for a
tool's own failure: it returns a `ToolResult` (any HTTP status; JSON parsed, short text for the
LLM) or a `ToolFailure` (stable `error_id`: tool-bad-arguments, tool-timeout, ...).

The request:
- URL: each `{{name}}` in the path and query is the argument of that name, else the call
  variable, else empty; percent-encoded with nothing kept (`/`, `?`, `&`, `#` included), so a
  value can never change the path, add query parameters or reach another host.
- Arguments not used in the URL: the JSON body of POST/PUT/PATCH (always an object), or query
  parameters of GET/DELETE.
- Headers: secret values are passed through `decrypt` as the request is made; others may use
  `{{name}}` (arguments, then variables; control characters removed).

`with_filler` lets a dialog say a filler while a slow tool runs (see its docstring).
"""
from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

from agent.dialog import Say
from agent.errors import OutboundError, ToolArgumentsError, ToolSecretUnreadable
from agent.hosts import HostPolicy
from agent.outbound_http import Limits, OutboundClient, OutboundResponse
from agent.text import format_value, render
from agent.tool_definition import PLACEHOLDER, ToolDefinition, header_value, reveal_secret
from agent.tool_schema import Scalar

log = logging.getLogger("switchboard.agent.tools")

MAX_RESPONSE_BYTES = 64 * 1024
MAX_RESULT_CHARS = 1500
_BODY_METHODS = ("POST", "PUT", "PATCH")


@dataclass(frozen=True)
class ToolResult:
    """The user's system answered (any status)."""
    tool: str
    status: int
    data: Any  # the parsed JSON body, or None
    text: str  # compact JSON or whitespace-collapsed text, cut to MAX_RESULT_CHARS
    elapsed_ms: int

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def failed(self) -> bool:
        """No usable answer: the caller hears the tool's apology."""
        return self.status >= 500

    def for_llm(self) -> str:
        return f"HTTP {self.status}: {self.text}" if self.text else f"HTTP {self.status} (no content)"


@dataclass(frozen=True)
class ToolFailure:
    """No answer: bad arguments, host not allowed, timeout, unreachable, too large..."""
    tool: str
    error_id: str
    message: str
    elapsed_ms: int = 0
    ok = False
    failed = True

    def for_llm(self) -> str:
        return f"error {self.error_id}: {self.message}"


ToolOutcome = ToolResult | ToolFailure


def tool_event(outcome: ToolOutcome, arguments: Mapping[str, Any] | str | None) -> dict[str, Any]:
    """The data of the run event (kind "tool") that records a call: the call page, the API and the
    post-call webhook's `tool_calls` read it."""
    recorded: Any = arguments
    if isinstance(arguments, str):
        try:
            recorded = json.loads(arguments)
        except (json.JSONDecodeError, RecursionError):
            recorded = {"_raw": arguments[:500]}
    common = {"name": outcome.tool, "arguments": recorded, "elapsed_ms": outcome.elapsed_ms}
    if isinstance(outcome, ToolFailure):
        return common | {"status": None, "error_id": outcome.error_id, "result": outcome.message}
    return common | {"status": outcome.status, "error_id": None, "result": outcome.text}


@dataclass(frozen=True)
class PreparedRequest:
    method: str
    url: str
    headers: dict[str, str]
    body: bytes | None


def _plain(value: str) -> str:
    return value


def prepare_request(tool: ToolDefinition, arguments: Mapping[str, Scalar], variables: Mapping[str, Any],
                    decrypt: Callable[[str], str] = _plain) -> PreparedRequest:
    """The HTTP request for validated `arguments` (pure; `decrypt` may raise ValueError)."""
    used = {m.group(1) for m in PLACEHOLDER.finditer(tool.url)}
    values = {**variables, **arguments}

    def encoded(match: Any) -> str:
        value = values.get(match.group(1))
        return "" if value is None else quote(format_value(value), safe="")
    url = PLACEHOLDER.sub(encoded, tool.url)
    rest = {name: value for name, value in arguments.items() if name not in used}
    headers = {"Accept": "application/json, text/plain;q=0.9, */*;q=0.1"}
    for header in tool.headers:
        value = reveal_secret(header, decrypt) if header.secret else render(header.value, values, missing="")
        headers[header.name] = header_value(value)
    body: bytes | None = None
    if tool.method in _BODY_METHODS:
        body = json.dumps(rest, ensure_ascii=False, separators=(",", ":")).encode()
        headers["Content-Type"] = "application/json"
    elif rest:
        url = str(httpx.URL(url).copy_merge_params({k: format_value(v) for k, v in rest.items()}))
    return PreparedRequest(tool.method, url, headers, body)


def summarise(tool: str, response: OutboundResponse, max_chars: int = MAX_RESULT_CHARS) -> ToolResult:
    """The response as a short result: JSON parsed and re-serialised compactly, or plain text."""
    body = response.text()
    data: Any = None
    if response.content_type.endswith("json") or body.lstrip()[:1] in ("{", "["):
        try:
            data = json.loads(body)
        except (json.JSONDecodeError, RecursionError):
            data = None
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":")) if data is not None else " ".join(body.split())
    if len(text) > max_chars:
        text = text[:max_chars] + " …(truncated)"
    return ToolResult(tool, response.status, data, text, round(response.elapsed_s * 1000))


class ToolRunner:
    """A call's tools. `variables` is read at each call (captures and lookups may add to it)."""

    def __init__(self, tools: Sequence[ToolDefinition], client: OutboundClient, hosts: HostPolicy, *,
                 variables: Mapping[str, Any] | None = None, decrypt: Callable[[str], str] = _plain,
                 log_context: str = "") -> None:
        self.tools = {tool.name: tool for tool in tools}
        self.client, self.hosts, self.decrypt = client, hosts, decrypt
        self.variables: Mapping[str, Any] = variables if variables is not None else {}
        self.log_context = log_context

    def function_tools(self) -> list[dict[str, Any]]:
        return [tool.function_tool() for tool in self.tools.values()]

    def get(self, name: str) -> ToolDefinition | None:
        return self.tools.get(name)

    async def call(self, name: str, arguments: str | Mapping[str, Any] | None) -> ToolOutcome:
        started = time.monotonic()
        tool = self.tools.get(name)
        if tool is None:
            return ToolFailure(name, "tool-unknown", f"no tool named {name!r}")
        try:
            args = tool.parameters.validate(arguments)
            request = prepare_request(tool, args, self.variables, self.decrypt)
            response = await self.client.request(
                request.method, request.url, hosts=self.hosts, headers=request.headers, content=request.body,
                limits=Limits(connect_s=min(3.0, tool.timeout_s), read_s=tool.timeout_s, total_s=tool.timeout_s,
                              max_response_bytes=MAX_RESPONSE_BYTES))
        except (ToolArgumentsError, ToolSecretUnreadable, OutboundError) as exc:
            failure = ToolFailure(name, exc.error_id, str(exc.args[0]) if exc.args else "", _ms(started))
            log.warning("tool call failed tool=%s error_id=%s %s: %s", name, failure.error_id, self.log_context,
                        failure.message)
            return failure
        except Exception:  # a bug here must not leave the caller in silence: the flow goes on
            log.exception("tool call failed tool=%s error_id=tool-error %s", name, self.log_context)
            return ToolFailure(name, "tool-error", "the tool call failed unexpectedly", _ms(started))
        result = summarise(name, response)
        log.info("tool call tool=%s status=%d ms=%d %s", name, result.status, result.elapsed_ms, self.log_context)
        return result


def _ms(started: float) -> int:
    return round((time.monotonic() - started) * 1000)


async def with_filler(outcome: Awaitable[ToolOutcome], filler: str, *,
                      after_s: float = 0.4) -> AsyncGenerator[Say | ToolOutcome, None]:
    """Run a tool call the caller cannot interrupt (barge-in would cancel a request half sent):
    first yield an empty non-interruptible `Say` (the voice session then ignores caller speech
    as a barge-in; it is heard as the next turn); if the call has not finished after `after_s`,
    `Say(filler)` (spoken while the call goes on); then the outcome. Closing the generator
    (hang-up) cancels the call."""
    task = asyncio.ensure_future(outcome)
    try:
        yield Say("", interruptible=False)
        done, _ = await asyncio.wait({task}, timeout=after_s)
        if not done and filler.strip():
            yield Say(filler, interruptible=False)
        yield await task
    finally:
        if not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
