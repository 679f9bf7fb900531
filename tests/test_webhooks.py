"""Post-call webhooks without the network: the definition section, the payload, the signature a
receiver verifies, the retry schedule."""
from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.tool_definition import SECRET_MASK
from agent.tools import ToolFailure, ToolResult, tool_event
from agent.webhooks import (
    MAX_BODY_BYTES,
    RetryPolicy,
    WebhookTarget,
    build_payload,
    encode_body,
    map_webhook_secrets,
    new_secret,
    parse_webhooks,
    restore_webhook_secrets,
    signature_header,
    verify_signature,
)
from data.models import RunEvent, WorkflowRun

SECRET = "whsec_test_secret_0123456789"
NOW = 1_772_445_600  # 2026-03-02T10:00:00Z


def hmac_sha256_by_hand(key: bytes, message: bytes) -> str:
    """RFC 2104 written out, to check the signature independently of the hmac module."""
    block = key.ljust(64, b"\0") if len(key) <= 64 else hashlib.sha256(key).digest().ljust(64, b"\0")
    inner = hashlib.sha256(bytes(b ^ 0x36 for b in block) + message).digest()
    return hashlib.sha256(bytes(b ^ 0x5C for b in block) + inner).hexdigest()


def test_the_signature_is_hmac_sha256_over_timestamp_and_body() -> None:
    body = b'{"event":"call.ended","run_id":7}'
    header = signature_header(SECRET, body, NOW)
    assert header == f"t={NOW},v1={hmac_sha256_by_hand(SECRET.encode(), f'{NOW}.'.encode() + body)}"


def test_what_a_receiver_accepts() -> None:
    body = b'{"run_id":7}'
    header = signature_header(SECRET, body, NOW)
    assert verify_signature(SECRET, header, body, now=NOW + 10)
    assert verify_signature(SECRET, f"t={NOW},v1=00,v1={header.split('v1=')[1]}", body, now=NOW)  # rotation
    refused = {
        "another body": (SECRET, header, b'{"run_id":8}', NOW),
        "another secret": ("whsec_other_secret_000000", header, body, NOW),
        "replayed later": (SECRET, header, body, NOW + 301),
        "from the future": (SECRET, header, body, NOW - 301),
        "no signature": (SECRET, f"t={NOW}", body, NOW),
        "no timestamp": (SECRET, header.split(",")[1], body, NOW),
        "garbage": (SECRET, "nonsense", body, NOW),
    }
    for case, (secret, sent, received, now) in refused.items():
        assert not verify_signature(secret, sent, received, now=now), case


def run(**changes: Any) -> WorkflowRun:
    fields: dict[str, Any] = dict(
        id=7, organization_id=1, workflow_id=3, telephony_configuration_id=1, phone_number_id=1, direction="inbound",
        status="completed", reason="caller hung up", error_id=None, call_id="c1", caller_number="+441632960000",
        called_number="7000", context={}, hangup_cause=None, created_at="2026-03-02T10:00:00.000Z",
        answered_at="2026-03-02T10:00:01.000Z", ended_at="2026-03-02T10:01:01.000Z", duration_s=60.0)
    return WorkflowRun(**(fields | changes))


EVENTS = [
    RunEvent(1, 7, "2026-03-02T10:00:01.500Z", "transcript", "agent", "Hello, when would you like to come?",
             {"interrupted": False}),
    RunEvent(2, 7, "2026-03-02T10:00:04.000Z", "transcript", "caller", "Next Tuesday for four", {}),
    RunEvent(3, 7, "2026-03-02T10:00:05.000Z", "tool", "agent", None, {
        "name": "book_table", "arguments": {"date": "2026-03-10", "party": 4}, "status": 201, "error_id": None,
        "elapsed_ms": 80, "result": '{"booked":true}'}),
    RunEvent(4, 7, "2026-03-02T10:00:06.000Z", "dtmf", "caller", "1", {}),
    RunEvent(5, 7, "2026-03-02T10:00:07.000Z", "latency", None, None, {"ms": 700}),
    RunEvent(6, 7, "2026-03-02T10:00:08.000Z", "action", "agent", "hang up", {"action": "hang_up"}),
]


def test_the_payload() -> None:
    payload = build_payload(run(), EVENTS, {"first_name": "Ada", "day": "2026-03-10"})
    assert {k: payload[k] for k in ("event", "run_id", "workflow_id", "direction", "caller_number", "called_number",
                                    "status", "reason", "duration_s")} == {
        "event": "call.ended", "run_id": 7, "workflow_id": 3, "direction": "inbound",
        "caller_number": "+441632960000", "called_number": "7000", "status": "completed",
        "reason": "caller hung up", "duration_s": 60.0}
    assert [(t["kind"], t["role"], t["text"]) for t in payload["transcript"]] == [
        ("speech", "agent", "Hello, when would you like to come?"), ("speech", "caller", "Next Tuesday for four"),
        ("dtmf", "caller", "1"), ("action", "agent", "hang up")]
    assert payload["tool_calls"] == [{"at": "2026-03-02T10:00:05.000Z", "name": "book_table",
                                      "arguments": {"date": "2026-03-10", "party": 4}, "status": 201,
                                      "error_id": None, "elapsed_ms": 80, "result": '{"booked":true}'}]
    assert payload["variables"] == {"first_name": "Ada", "day": "2026-03-10"}
    assert json.loads(encode_body(payload)) == payload


def test_a_huge_transcript_is_cut_to_fit() -> None:
    said = [RunEvent(i, 7, "2026-03-02T10:00:00.000Z", "transcript", "caller", "word " * 200, {}) for i in range(400)]
    body = encode_body(build_payload(run(), said, {}))
    decoded = json.loads(body)
    assert len(body) <= MAX_BODY_BYTES and decoded["transcript_truncated"] is True
    assert 0 < len(decoded["transcript"]) < 400 and decoded["transcript"][0]["text"].startswith("word")


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 30), st.floats(0, 1))
def test_backoff_grows_and_stays_within_its_bounds(attempts: int, jitter: float) -> None:
    policy = RetryPolicy()
    full = min(policy.cap_s, policy.base_s * 2 ** (attempts - 1))
    assert full / 2 <= policy.delay(attempts, jitter) <= full
    assert policy.delay(attempts + 1, 0) >= policy.delay(attempts, 0)


def test_the_definition_section() -> None:
    secret = new_secret()
    assert secret.startswith("whsec_") and len(secret) > 30
    targets, errors = parse_webhooks([{"url": "https://crm.example.com/hooks", "secret": secret}])
    assert (targets, errors) == ((WebhookTarget("https://crm.example.com/hooks", secret),), {})
    assert parse_webhooks(None) == ((), {})
    _, errors = parse_webhooks([{"url": "https://crm.example.com/{{run}}", "secret": "short"},
                                {"url": "ftp://x"}, "x"] + [{}] * 3)
    assert errors == {
        "definition.webhooks": "at most 5 webhooks",
        "definition.webhooks.0.url": "a webhook URL has no {{placeholders}}",
        "definition.webhooks.0.secret": "at least 16 characters (or leave it blank: Switchboard generates one)",
        "definition.webhooks.1.url": "must be an http:// or https:// URL with a fixed host ({{name}} may appear only "
                                     "in the path and query; no spaces, user:password@ or #)",
        "definition.webhooks.2": "must be an object",
        "definition.webhooks.3.url": "required: an http:// or https:// URL",
        "definition.webhooks.4.url": "required: an http:// or https:// URL",
    }


def test_webhook_secrets_are_masked_and_restored() -> None:
    stored = map_webhook_secrets([{"url": "https://a.example/h", "secret": SECRET}], lambda s: "enc:" + s)
    shown = map_webhook_secrets(stored, lambda _: SECRET_MASK)
    assert SECRET not in json.dumps(shown)
    assert restore_webhook_secrets(shown, stored) == stored
    moved = [{"url": "https://b.example/h", "secret": SECRET_MASK}]
    assert restore_webhook_secrets(moved, stored) == [{"url": "https://b.example/h", "secret": ""}]


@pytest.mark.parametrize("raw", [None, 5, "x", [1, None, {"url": 5, "secret": SECRET_MASK}], {"a": 1}])
def test_secret_helpers_take_anything(raw: Any) -> None:
    restore_webhook_secrets(raw, raw)
    map_webhook_secrets(raw, str.upper)


def test_tool_events_become_tool_calls() -> None:
    booked = ToolResult("book_table", 201, {"booked": True}, '{"booked":true}', 80)
    timed_out = ToolFailure("book_table", "tool-timeout", "crm.example.com did not answer within 5 s", 5003)
    events = [RunEvent(1, 7, "2026-03-02T10:00:05.000Z", "tool", "agent", "book_table",
                       tool_event(booked, '{"date": "2026-03-10", "party": 4}')),
              RunEvent(2, 7, "2026-03-02T10:00:11.000Z", "tool", "agent", "book_table",
                       tool_event(timed_out, {"date": "2026-03-10", "party": 4}))]
    calls = build_payload(run(), events, {})["tool_calls"]
    assert [(c["status"], c["error_id"], c["result"], c["arguments"]["party"]) for c in calls] == [
        (201, None, '{"booked":true}', 4), (None, "tool-timeout", "crm.example.com did not answer within 5 s", 4)]
