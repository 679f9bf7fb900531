"""`GET /metrics`: Prometheus text exposition format 0.0.4, written by hand (no client library
at runtime). Counters count since this process started; Prometheus handles the reset a restart
causes. Unauthenticated like /healthz: it holds counts and configuration ids, no names or
numbers; keep the port private or filter the path at the proxy if that matters.

    switchboard_calls_started_total{direction}        calls handled (refused ones included)
    switchboard_calls_ended_total{status}             calls ended, by the run's final status
    switchboard_active_calls                          calls live now
    switchboard_ari_link_up{configuration}            1 when the ARI events link is connected
    switchboard_ari_reconnects_total{configuration}   reconnect attempts of the current link
    switchboard_media_frames_in_total / _out_total    caller frames received / agent frames sent
    switchboard_media_late_frames_total               agent audio that waited while Asterisk ran dry
    switchboard_media_xoff_total                      MEDIA_XOFF received
    switchboard_turn_latency_seconds                  end of caller speech → first agent audio
"""
from __future__ import annotations

from collections.abc import Iterable

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ari.stats import Snapshot
from web.state import app_state

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(labels: dict[str, str]) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items()) + "}"


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


class _Writer:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def family(self, name: str, kind: str, help_text: str,
               samples: Iterable[tuple[str, dict[str, str], float]]) -> None:
        # In the classic text format a counter's family is named with its `_total` (as
        # prometheus_client's own exposition does); histogram samples add their suffixes.
        family = name + "_total" if kind == "counter" else name
        self.lines.append(f"# HELP {family} {help_text}")
        self.lines.append(f"# TYPE {family} {kind}")
        for suffix, labels, value in samples:
            self.lines.append(f"{name}{suffix}{_labels(labels)} {_number(value)}")

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


def render(snapshot: Snapshot) -> str:
    w = _Writer()
    directions = {"inbound": 0, "outbound": 0, **snapshot.started}
    w.family("switchboard_calls_started", "counter", "Calls handled, by direction (refused calls included).",
             (("_total", {"direction": d}, n) for d, n in sorted(directions.items())))
    statuses = {"completed": 0, "failed": 0, **snapshot.ended}
    w.family("switchboard_calls_ended", "counter", "Calls ended, by the final status of their run.",
             (("_total", {"status": s}, n) for s, n in sorted(statuses.items())))
    w.family("switchboard_active_calls", "gauge", "Calls live now.", [("", {}, snapshot.active_calls)])
    w.family("switchboard_ari_link_up", "gauge", "1 when the configuration's ARI events link is connected.",
             (("", {"configuration": str(link.config_id)}, int(link.up)) for link in snapshot.links))
    w.family("switchboard_ari_reconnects", "counter", "Reconnect attempts of the configuration's ARI link.",
             (("_total", {"configuration": str(link.config_id)}, link.reconnects) for link in snapshot.links))
    media = snapshot.media
    for name, value, help_text in (
        ("switchboard_media_frames_in", media.frames_in, "Caller audio frames received on media sockets."),
        ("switchboard_media_frames_out", media.frames_out, "Agent audio frames sent on media sockets."),
        ("switchboard_media_late_frames", media.late_frames,
         "Agent audio that was waiting while Asterisk's queue ran dry."),
        ("switchboard_media_xoff", media.xoff_count, "MEDIA_XOFF messages received (Asterisk's queue full)."),
    ):
        w.family(name, "counter", help_text, [("_total", {}, value)])
    histogram = snapshot.latency
    w.family("switchboard_turn_latency_seconds", "histogram",
             "Per-turn latency: end of the caller's speech to the agent's first audio.",
             [*(("_bucket", {"le": le}, n) for le, n in histogram.cumulative()),
              ("_sum", {}, histogram.total), ("_count", {}, histogram.count)])
    return w.text()


async def metrics(request: Request) -> Response:
    return Response(render(app_state(request).telephony.snapshot()), media_type=CONTENT_TYPE)


routes = [Route("/metrics", metrics, name="metrics")]
