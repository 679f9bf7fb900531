"""Post-call webhooks: the definition section, the payload, the signature, one delivery attempt.

    "webhooks": [{"url": "https://crm.example.com/hooks/calls", "secret": "whsec_…"}]

When a call ends, each target gets one POST (queued in the delivery log, retried by
`agent.webhook_worker`) with a JSON body (`build_payload`): event, run id, workflow id, direction,
numbers, status, reason, error id, times, duration, transcript, variables, tool calls.

Headers: `Content-Type: application/json`, `X-Switchboard-Event: call.ended`,
`X-Switchboard-Delivery: <id>` (the same on every retry: deliveries are at least once, so a
receiver keeps the ids it has processed) and
`X-Switchboard-Signature: t=<unix seconds>,v1=<hex>`, where
`hex = HMAC-SHA256(key = the workflow's secret, message = "<t>." + the raw body bytes)`.

A receiver verifies (`verify_signature` does exactly this):
1. split the header on "," into `t=` and one or more `v1=` values;
2. compute the HMAC over `f"{t}.".encode() + raw_body` (the bytes received, before any JSON
   parsing) with the shared secret, hex-encoded;
3. compare it with each `v1` in constant time (`hmac.compare_digest`);
4. refuse when `t` is more than 5 minutes from its own clock (a replayed old request).
Each attempt is signed anew with its own `t`.

Retries (`RetryPolicy`): network errors, timeouts, 408, 429 and 5xx are retried with exponential
backoff and jitter (10 s, 20 s, 40 s … capped at an hour, each between half and all of that;
`Retry-After` in seconds is honoured up to the cap), 10 attempts in all. Other 4xx, a redirect
(none is followed), a refused host or a bad URL are final at once.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from agent.errors import BadResponse, OutboundError, OutboundTimeout, OutboundUnreachable
from agent.fields import FieldCheck
from agent.hosts import HostPolicy
from agent.outbound_http import Limits, OutboundClient
from agent.tool_definition import PLACEHOLDER, SECRET_MASK, url_template

EVENT = "call.ended"
SIGNATURE_HEADER = "X-Switchboard-Signature"
MAX_TARGETS = 5
MAX_BODY_BYTES = 256 * 1024
TOLERANCE_S = 300
LIMITS = Limits(connect_s=5, read_s=10, total_s=15, max_response_bytes=2048, max_redirects=0, cut_oversize=True)
_RETRYABLE_ERRORS = (OutboundTimeout, OutboundUnreachable, BadResponse)


@dataclass(frozen=True)
class WebhookTarget:
    url: str
    secret: str = field(default="", repr=False)
    """Encrypted at rest like the definition's other secrets; '' until the web layer generates one."""

    def to_json(self) -> dict[str, Any]:
        return {"url": self.url, "secret": self.secret}


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def parse_webhooks(raw: object, path: str = "definition.webhooks") -> tuple[tuple[WebhookTarget, ...], dict[str, str]]:
    errors: dict[str, str] = {}
    if raw is None:
        return (), errors
    fields = FieldCheck(path, errors)
    if not isinstance(raw, list):
        fields.fail("must be a list of {url, secret}")
        return (), errors
    if len(raw) > MAX_TARGETS:
        fields.fail(f"at most {MAX_TARGETS} webhooks")
    targets: list[WebhookTarget] = []
    for index, item in enumerate(raw[:MAX_TARGETS]):
        target_fields = fields.at(index)
        section = target_fields.obj(item)
        if section is None:
            continue
        target_fields.only(section, {"url", "secret"})
        url = url_template(target_fields.at("url"), section.get("url"))
        if PLACEHOLDER.search(url):
            target_fields.at("url").fail("a webhook URL has no {{placeholders}}")
        elif url and url in (target.url for target in targets):
            target_fields.at("url").fail("another webhook has this URL")
        secret = target_fields.text(section, "secret", limit=200)
        if secret.strip() and secret != SECRET_MASK and len(secret) < 16:
            target_fields.at("secret").fail("at least 16 characters (or leave it blank: Switchboard generates one)")
        targets.append(WebhookTarget(url, secret))
    return (tuple(targets), errors) if not errors else ((), errors)


def map_webhook_secrets(raw: Any, transform: Callable[[str], str]) -> Any:
    """A copy of a raw `webhooks` list with `transform` (encrypt, decrypt, mask) applied to each secret."""
    if not isinstance(raw, list):
        return raw
    return [{**item, "secret": transform(item["secret"])} if isinstance(item, dict) and isinstance(
        item.get("secret"), str) and item["secret"] else item for item in raw]


def restore_webhook_secrets(submitted: Any, stored: Any) -> Any:
    """Masked secrets replaced by the stored secret of the webhook with the same URL."""
    old = {item["url"]: item.get("secret") for item in stored if isinstance(item, dict)
           and isinstance(item.get("url"), str)} if isinstance(stored, list) else {}
    if not isinstance(submitted, list):
        return submitted
    restored: list[Any] = []
    for item in submitted:
        if isinstance(item, dict) and item.get("secret") == SECRET_MASK:
            kept = old.get(item["url"]) if isinstance(item.get("url"), str) else None
            item = {**item, "secret": kept if isinstance(kept, str) else ""}
        restored.append(item)
    return restored


# --- payload ---------------------------------------------------------------------------------------

class RunLike(Protocol):
    """What the payload needs of a finished run (`data.models.WorkflowRun` has it)."""
    @property
    def id(self) -> int: ...
    @property
    def workflow_id(self) -> int | None: ...
    @property
    def direction(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def reason(self) -> str | None: ...
    @property
    def error_id(self) -> str | None: ...
    @property
    def caller_number(self) -> str | None: ...
    @property
    def called_number(self) -> str | None: ...
    @property
    def created_at(self) -> str: ...
    @property
    def answered_at(self) -> str | None: ...
    @property
    def ended_at(self) -> str | None: ...
    @property
    def duration_s(self) -> float | None: ...


class EventLike(Protocol):
    """One run event (`data.models.RunEvent`): transcript, dtmf, action, error, tool."""
    @property
    def at(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def role(self) -> str | None: ...
    @property
    def text(self) -> str | None: ...
    @property
    def data(self) -> dict[str, Any]: ...


def build_payload(run: RunLike, events: Iterable[EventLike], variables: Mapping[str, Any]) -> dict[str, Any]:
    """The webhook body. Tool calls come from `tool` events (data: name, arguments, status, error_id,
    elapsed_ms, result); the transcript from transcript/dtmf/action/error events."""
    transcript: list[dict[str, Any]] = []
    events = list(events)
    for event in events:
        data = event.data or {}
        if event.kind in ("transcript", "dtmf", "action", "error"):
            entry: dict[str, Any] = {"at": event.at, "kind": "speech" if event.kind == "transcript" else event.kind,
                                     "role": event.role, "text": event.text or ""}
            for key in ("interrupted", "error_id", "action", "extension"):
                if key in data:
                    entry[key] = data[key]
            transcript.append(entry)
    return {
        "event": EVENT, "run_id": run.id, "workflow_id": run.workflow_id, "direction": run.direction,
        "caller_number": run.caller_number, "called_number": run.called_number, "status": run.status,
        "reason": run.reason, "error_id": run.error_id, "started_at": run.created_at,
        "answered_at": run.answered_at, "ended_at": run.ended_at, "duration_s": run.duration_s,
        "transcript": transcript, "variables": dict(variables), "tool_calls": tool_calls(events),
    }


def tool_calls(events: Iterable[EventLike]) -> list[dict[str, Any]]:
    """The call's tool calls from its "tool" events (data: name, arguments, status, error_id,
    elapsed_ms, result)."""
    keys = ("name", "arguments", "status", "error_id", "elapsed_ms", "result")
    return [{"at": event.at, **{key: (event.data or {}).get(key) for key in keys}}
            for event in events if event.kind == "tool"]


def call_variables(events: Iterable[EventLike]) -> dict[str, Any]:
    """The variables a call set, in order (a later value wins): the pre-call lookup's ("lookup"
    events), then captured answers and saved tool answers ("variables" events)."""
    variables: dict[str, Any] = {}
    for event in events:
        data = event.data or {}
        found = data.get("variables") if event.kind == "lookup" else data.get("values") \
            if event.kind == "variables" else None
        if isinstance(found, dict):
            variables.update(found)
    return variables


def encode_body(payload: Mapping[str, Any]) -> bytes:
    """Compact UTF-8 JSON; a transcript that would pass MAX_BODY_BYTES keeps its first entries and
    the payload says `"transcript_truncated": true`."""
    body = _dump(payload)
    transcript = payload.get("transcript")
    if len(body) <= MAX_BODY_BYTES or not isinstance(transcript, list):
        return body
    low, high = 0, len(transcript)
    while low < high:  # the most entries that fit
        middle = (low + high + 1) // 2
        if len(_dump({**payload, "transcript": transcript[:middle], "transcript_truncated": True})) <= MAX_BODY_BYTES:
            low = middle
        else:
            high = middle - 1
    return _dump({**payload, "transcript": transcript[:low], "transcript_truncated": True})


def _dump(payload: Mapping[str, Any]) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"), default=str).encode()


# --- signature -------------------------------------------------------------------------------------

def signature(secret: str, body: bytes, timestamp: int) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def signature_header(secret: str, body: bytes, timestamp: int) -> str:
    return f"t={timestamp},v1={signature(secret, body, timestamp)}"


def verify_signature(secret: str, header: str, body: bytes, *, now: float | None = None,
                     tolerance_s: float = TOLERANCE_S) -> bool:
    """What a receiver does (see the module docstring)."""
    timestamp, candidates = None, []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isdigit():
            timestamp = int(value)
        elif key == "v1":
            candidates.append(value)
    if timestamp is None or abs((time.time() if now is None else now) - timestamp) > tolerance_s:
        return False
    expected = signature(secret, body, timestamp)
    return any(hmac.compare_digest(expected, candidate) for candidate in candidates)


# --- one attempt -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 10
    base_s: float = 10.0
    cap_s: float = 3600.0

    def delay(self, attempts: int, jitter: float) -> float:
        """Wait after the `attempts`-th failure: between half and all of base·2^(attempts-1), capped."""
        full = min(self.cap_s, self.base_s * float(2 ** max(0, min(attempts - 1, 60))))
        return full / 2 + max(0.0, min(1.0, jitter)) * full / 2


@dataclass(frozen=True)
class Attempt:
    delivered: bool
    retryable: bool
    status_code: int | None
    error_id: str | None
    message: str
    duration_ms: int
    retry_after_s: float | None = None


async def send_webhook(client: OutboundClient, hosts: HostPolicy, *, url: str, secret: str, body: bytes,
                       delivery_id: int, now: float) -> Attempt:
    """POST one signed delivery; never raises for the receiver's failures."""
    started = time.monotonic()
    headers = {"Content-Type": "application/json", "X-Switchboard-Event": EVENT,
               "X-Switchboard-Delivery": str(delivery_id), SIGNATURE_HEADER: signature_header(secret, body, int(now))}
    try:
        response = await client.request("POST", url, hosts=hosts, headers=headers, content=body, limits=LIMITS)
    except OutboundError as exc:
        return Attempt(False, isinstance(exc, _RETRYABLE_ERRORS), None, exc.error_id,
                       str(exc.args[0]) if exc.args else "", _ms(started))
    except Exception as exc:  # counted as an attempt, so it cannot be retried for ever
        return Attempt(False, True, None, "webhook-error", f"unexpected error: {exc!r}"[:300], _ms(started))
    if response.ok:
        return Attempt(True, False, response.status, None, "", _ms(started))
    retryable = response.status in (408, 429) or response.status >= 500
    excerpt = " ".join(response.text().split())[:200]
    return Attempt(False, retryable, response.status, "webhook-http-error",
                   f"HTTP {response.status}" + (f": {excerpt}" if excerpt else ""), _ms(started),
                   _retry_after(response.headers.get("retry-after", "")))


def _retry_after(value: str) -> float | None:
    value = value.strip()
    return float(value) if value.isdigit() else None


def _ms(started: float) -> int:
    return round((time.monotonic() - started) * 1000)
