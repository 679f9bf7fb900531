"""/metrics, /healthz, /readyz and the structured log formats, in process (no Asterisk: the
counters that move with real calls are checked in tests/e2e/test_operations.py)."""
from __future__ import annotations

import json
import logging

import httpx
from prometheus_client.parser import text_string_to_metric_families
from starlette.applications import Starlette

from ari.stats import CallStats, LinkSample, Snapshot
from data.configs import ConfigFields
from data.store import Store
from tests.conftest import Tenant
from web.logs import JsonFormatter, TextFormatter, fields_of
from web.metrics import render

FAMILIES = {
    "switchboard_calls_started": "counter", "switchboard_calls_ended": "counter",
    "switchboard_active_calls": "gauge", "switchboard_ari_link_up": "gauge",
    "switchboard_ari_reconnects": "counter", "switchboard_media_frames_in": "counter",
    "switchboard_media_frames_out": "counter", "switchboard_media_late_frames": "counter",
    "switchboard_media_xoff": "counter", "switchboard_turn_latency_seconds": "histogram",
}


async def test_metrics_page_parses_with_the_prometheus_parser(client: httpx.AsyncClient) -> None:
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    families = {f.name: f for f in text_string_to_metric_families(response.text)}
    assert {name: f.type for name, f in families.items()} == FAMILIES
    values = {(s.name, tuple(sorted(s.labels.items()))): s.value
              for f in families.values() for s in f.samples}
    assert values[("switchboard_calls_started_total", (("direction", "inbound"),))] == 0
    assert values[("switchboard_active_calls", ())] == 0
    assert values[("switchboard_turn_latency_seconds_bucket", (("le", "+Inf"),))] == 0


def test_rendered_counters_histogram_and_labels() -> None:
    stats = CallStats()
    for direction in ("inbound", "inbound", "outbound"):
        stats.call_started(direction)
    stats.call_ended("completed", None)
    stats.call_ended("no-answer", None)
    for data in ({"ms": 200}, {"voice_to_voice_ms": 900}, {"ms": 20_000}, {"ms": "fast"}, {"ms": True}, {}):
        stats.observe_latency(data)
    snapshot = Snapshot(dict(stats.started), dict(stats.ended), 1, stats.media, stats.latency,
                        (LinkSample(3, True, 0, "connected"), LinkSample(7, False, 4, "unreachable")))
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for f in text_string_to_metric_families(render(snapshot)) for s in f.samples}
    assert samples[("switchboard_calls_started_total", (("direction", "inbound"),))] == 2
    assert samples[("switchboard_calls_ended_total", (("status", "no-answer"),))] == 1
    assert samples[("switchboard_ari_link_up", (("configuration", "7"),))] == 0
    assert samples[("switchboard_ari_reconnects_total", (("configuration", "7"),))] == 4
    buckets = [(le, samples[("switchboard_turn_latency_seconds_bucket", (("le", le),))])
               for le in ("0.25", "1", "10", "+Inf")]
    assert buckets == [("0.25", 1), ("1", 2), ("10", 2), ("+Inf", 3)]
    assert samples[("switchboard_turn_latency_seconds_count", ())] == 3
    assert abs(samples[("switchboard_turn_latency_seconds_sum", ())] - 21.1) < 1e-9


async def test_healthz_and_readyz(client: httpx.AsyncClient, tenant: Tenant, store: Store, app: Starlette) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200 and ready.json() == {"status": "ready", "database": {"ok": True}, "ari_links": []}
    assert await store.db.fetch_value("SELECT count(*) FROM heartbeat") == 1

    fields = ConfigFields("PBX", "http://127.0.0.1:9", "app1", None, "pw", "ws", (), "PJSIP/{number}",
                          "from-internal", True)
    config = await store.configs.create(tenant.org_id, fields)
    await store.configs.create(tenant.org_id, ConfigFields(**{**fields.__dict__, "stasis_app_name": "off",
                                                               "enabled": False}))
    not_ready = await client.get("/readyz")
    assert not_ready.status_code == 503  # an enabled configuration without a connected link
    assert not_ready.json()["ari_links"] == [{"configuration_id": config.id, "state": "stopped", "ok": False}]

    await store.db.close()  # the database goes away: not ready, and says why
    broken = await client.get("/readyz")
    assert broken.status_code == 503 and broken.json()["database"]["error_id"] == "db-unavailable"
    assert (await client.get("/healthz")).status_code == 200


def _record(message: str, *args: object, exc: bool = False) -> logging.LogRecord:
    exc_info = None
    if exc:
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            import sys
            exc_info = sys.exc_info()
    return logging.LogRecord("switchboard.ari.calls", logging.WARNING, __file__, 1, message, args, exc_info)


def test_log_lines_are_one_line_key_value_or_json() -> None:
    record = _record("call failed error_id=%s %s: %s", "media-no-socket", "config=2 channel=c-1 run=17",
                     'no "media" socket', exc=True)
    text = TextFormatter().format(record)
    assert "\n" not in text
    assert text.startswith("ts=") and " level=warning logger=switchboard.ari.calls msg=\"call failed" in text
    assert 'exc="Traceback' in text

    entry = json.loads(JsonFormatter().format(record))
    assert "\n" not in JsonFormatter().format(record)
    assert entry["level"] == "warning" and entry["logger"] == "switchboard.ari.calls"
    assert (entry["config"], entry["channel"], entry["run"], entry["error_id"]) == ("2", "c-1", "17", "media-no-socket")
    assert entry["msg"].startswith("call failed error_id=media-no-socket") and "RuntimeError: boom" in entry["exc"]
    assert fields_of("call ended config=1 channel=x;2 run=5 status=completed reason=caller hung up") == {
        "config": "1", "channel": "x", "run": "5", "status": "completed", "reason": "caller"}
