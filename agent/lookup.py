"""The pre-call lookup: before the agent speaks, ask the user's system about the caller.

    "pre_call": {"url": "https://crm.example.com/switchboard/lookup", "timeout_s": 2,
                 "headers": [{"name": "Authorization", "value": "Bearer …", "secret": true}]}

Switchboard POSTs `{"caller_number", "called_number", "direction", "workflow_id", "run_id"}` through
the outbound policy and expects a JSON object of variables, e.g. `{"first_name": "Ada", "vip":
true, "balance": 42.5}`: names of letters, digits and `_`; values text (cut at 500 characters),
numbers or true/false. Other entries (nested objects, lists, null, bad names, beyond 50) are
dropped and named in the result. The body may be at most 16 KB. Any failure — timeout, refused
host, HTTP error, not a JSON object — gives no variables, an `error_id` and a message saying
why: the call always goes on. The variables then fill `{{name}}` in the greeting and prompt.
"""
from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from agent.errors import OutboundError, ToolSecretUnreadable
from agent.fields import IDENTIFIER, FieldCheck
from agent.hosts import HostPolicy
from agent.outbound_http import Limits, OutboundClient
from agent.text import format_value
from agent.tool_definition import PLACEHOLDER, Header, header_value, parse_headers, reveal_secret, url_template
from agent.tool_schema import Scalar

log = logging.getLogger("switchboard.agent.lookup")

DEFAULT_TIMEOUT_S = 2.0
MAX_RESPONSE_BYTES = 16 * 1024
MAX_VARIABLES = 50
MAX_VALUE_CHARS = 500


@dataclass(frozen=True)
class PreCallLookup:
    url: str
    timeout_s: float = DEFAULT_TIMEOUT_S
    headers: tuple[Header, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"url": self.url, "timeout_s": self.timeout_s, "headers": [h.to_json() for h in self.headers]}


@dataclass(frozen=True)
class CallFacts:
    caller_number: str | None
    called_number: str | None
    direction: str
    workflow_id: int | None = None
    run_id: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {"caller_number": self.caller_number, "called_number": self.called_number,
                "direction": self.direction, "workflow_id": self.workflow_id, "run_id": self.run_id}


@dataclass(frozen=True)
class LookupResult:
    variables: Mapping[str, Scalar] = field(default_factory=dict)
    error_id: str | None = None
    message: str = ""  # why there are no (or fewer) variables
    dropped: tuple[str, ...] = ()
    elapsed_ms: int = 0


def parse_pre_call(raw: object, path: str = "definition.pre_call") -> tuple[PreCallLookup | None, dict[str, str]]:
    errors: dict[str, str] = {}
    if raw is None:
        return None, errors
    fields = FieldCheck(path, errors)
    section = fields.obj(raw)
    if section is None:
        return None, errors
    fields.only(section, {"url", "timeout_s", "headers"})
    lookup = PreCallLookup(url=url_template(fields.at("url"), section.get("url")),
                           timeout_s=fields.number(section, "timeout_s", DEFAULT_TIMEOUT_S, 0.5, 10),
                           headers=parse_headers(fields.at("headers"), section.get("headers")))
    return (None, errors) if errors else (lookup, errors)


def variables_from(data: object) -> tuple[dict[str, Scalar], tuple[str, ...]]:
    """The usable variables of a lookup answer and the names of the entries dropped."""
    if not isinstance(data, dict):
        return {}, ()
    kept: dict[str, Scalar] = {}
    dropped: list[str] = []
    for name, value in data.items():
        usable = isinstance(value, (str, bool, int)) or (isinstance(value, float) and math.isfinite(value))
        if not IDENTIFIER.match(name) or not usable or len(kept) >= MAX_VARIABLES:
            dropped.append(name[:64])
            continue
        kept[name] = value[:MAX_VALUE_CHARS] if isinstance(value, str) else value
    return kept, tuple(dropped)


async def look_up(lookup: PreCallLookup, call: CallFacts, client: OutboundClient, hosts: HostPolicy, *,
                  decrypt: Callable[[str], str] = lambda value: value, log_context: str = "") -> LookupResult:
    """Never raises for the user's system: a failure is a result without variables."""
    started = time.monotonic()
    facts = call.to_json()
    url = PLACEHOLDER.sub(lambda m: quote(format_value(facts.get(m.group(1)) or ""), safe=""), lookup.url)
    try:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        headers |= {h.name: header_value(reveal_secret(h, decrypt) if h.secret else h.value) for h in lookup.headers}
        response = await client.request(
            "POST", url, hosts=hosts, headers=headers, content=json.dumps(facts).encode(),
            limits=Limits(connect_s=min(2.0, lookup.timeout_s), read_s=lookup.timeout_s, total_s=lookup.timeout_s,
                          max_response_bytes=MAX_RESPONSE_BYTES))
    except (OutboundError, ToolSecretUnreadable) as exc:
        return _failed(exc.error_id, str(exc.args[0]) if exc.args else "", started, log_context)
    except Exception:  # the call goes on whatever happens here
        log.exception("pre-call lookup failed error_id=lookup-error %s", log_context)
        return _failed("lookup-error", "an unexpected error", started, log_context)
    if not response.ok:
        return _failed("lookup-http-error", f"the lookup answered HTTP {response.status}", started, log_context)
    if not response.body.strip():
        return LookupResult(elapsed_ms=_ms(started))
    try:
        data = json.loads(response.text())
    except (json.JSONDecodeError, RecursionError):
        data = None
    if not isinstance(data, dict):
        return _failed("lookup-bad-response", "the lookup did not answer a JSON object", started, log_context)
    variables, dropped = variables_from(data)
    message = f"dropped {', '.join(dropped)}: only names of letters, digits and _ with text, number or true/false " \
              f"values, at most {MAX_VARIABLES}" if dropped else ""
    log.info("pre-call lookup variables=%d dropped=%d ms=%d %s", len(variables), len(dropped), _ms(started),
             log_context)
    return LookupResult(variables, None, message, dropped, _ms(started))


def _failed(error_id: str, reason: str, started: float, log_context: str) -> LookupResult:
    message = f"pre-call lookup failed ({reason}); the call goes on without its variables"
    log.warning("pre-call lookup failed error_id=%s %s: %s", error_id, log_context, reason)
    return LookupResult({}, error_id, message, (), _ms(started))


def _ms(started: float) -> int:
    return round((time.monotonic() - started) * 1000)
