"""A run's events as the call page shows them: who said what and when, interruptions, key
presses, tool actions, per-turn latency and errors (pure: events in, lines out).

The agent runtime writes these kinds (`agent.runtime`): `transcript` (role caller|agent; agent
turns carry `interrupted`, `heard_s`), `dtmf`, `action` (`{"action": "transfer"|"hang_up"}`),
`latency` (`{"ms"}` or `{"voice_to_voice_ms", "stt_ms", "reply_ms"}`), `error` (`{"error_id"}`),
`lookup` (the pre-call lookup), `tool` (`agent.tools.tool_event`), `variables`, `capture`;
outbound call set-up adds `progress`.
"""
from __future__ import annotations

import json
import statistics
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from data.models import RunEvent, WorkflowRun

_WHO = {"caller": "Caller", "user": "Caller", "agent": "Agent", "assistant": "Agent"}


@dataclass(frozen=True)
class Line:
    id: int
    kind: str
    offset: str  # "+12.3 s" from the start of the call
    clock: str  # "10:00:01.234" UTC
    who: str
    text: str
    note: str = ""
    interrupted: bool = False


@dataclass(frozen=True)
class LatencySummary:
    turns: int
    median_ms: int
    max_ms: int


def _time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _ms(data: dict[str, Any]) -> float | None:
    value = data.get("ms", data.get("voice_to_voice_ms"))
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _describe(event: RunEvent) -> tuple[str, str, str, bool]:
    """(who, text, note, interrupted) of one event."""
    data, text = event.data or {}, event.text or ""
    who = _WHO.get(event.role or "", (event.role or "").capitalize())
    if event.kind == "transcript":
        if data.get("interrupted"):
            heard = data.get("heard_s")
            note = f"interrupted after {heard:.1f} s" if isinstance(heard, (int, float)) else "interrupted"
            return who, text, note, True
        return who, text, "", False
    if event.kind == "dtmf":
        digit = text or str(data.get("digit", ""))
        return who or "Caller", f"pressed {digit}", "", False
    if event.kind == "action":
        return who or "Agent", text or str(data.get("action", "action")), "", False
    if event.kind == "latency":
        ms = _ms(data)
        parts = [f"{label} {data[key]:.0f} ms" for key, label in (("stt_ms", "speech-to-text"), ("reply_ms", "reply"))
                 if isinstance(data.get(key), (int, float))]
        return "", "end of speech → first agent audio", (f"{ms:.0f} ms" if ms is not None else "") + (
            f" ({', '.join(parts)})" if parts else ""), False
    if event.kind == "error":
        return "", text, str(data.get("error_id", "")), False
    if event.kind in _ACTS:
        return _ACTS[event.kind](text, data)
    return who, text, "", False


def _tool(text: str, data: dict[str, Any]) -> tuple[str, str, str, bool]:
    arguments = json.dumps(data.get("arguments"), ensure_ascii=False, separators=(", ", ": "))
    status = f"HTTP {data['status']}" if data.get("status") is not None else "no answer"
    call = f"{data.get('name') or text}({arguments[:300]}) → {status}: {str(data.get('result') or '')[:300]}"
    note = " ".join(str(part) for part in (data.get("error_id") or "", f"{data.get('elapsed_ms', 0)} ms") if part)
    return "Tool", call, note, False


def _lookup(text: str, data: dict[str, Any]) -> tuple[str, str, str, bool]:
    note = " ".join(str(part) for part in (data.get("error_id") or "", f"{data.get('elapsed_ms', 0)} ms") if part)
    return "Lookup", text, note, False


def _variables(text: str, data: dict[str, Any]) -> tuple[str, str, str, bool]:
    return "Set", text, str(data.get("source") or ""), False


def _capture(text: str, data: dict[str, Any]) -> tuple[str, str, str, bool]:
    return "Capture", text, "gave up" if data.get("gave_up") else f"attempt {data.get('attempt', '')}", False


_ACTS = {"tool": _tool, "lookup": _lookup, "variables": _variables, "capture": _capture}


def timeline(run: WorkflowRun, events: list[RunEvent]) -> list[Line]:
    start = _time(run.created_at)
    lines = []
    for event in events:
        at = _time(event.at)
        offset = f"+{(at - start).total_seconds():.1f} s" if at and start else ""
        who, text, note, interrupted = _describe(event)
        lines.append(Line(event.id, event.kind, offset, event.at[11:23], who, text, note, interrupted))
    return lines


def latency_summary(events: list[RunEvent]) -> LatencySummary | None:
    values = [ms for e in events if e.kind == "latency" and (ms := _ms(e.data or {})) is not None]
    if not values:
        return None
    return LatencySummary(len(values), round(statistics.median(values)), round(max(values)))


def elapsed_s(run: WorkflowRun, now: datetime) -> float | None:
    """Seconds since answer of a live call (for the list); the stored duration once it ended."""
    if not run.live:
        return run.duration_s
    answered = _time(run.answered_at)
    return None if answered is None else max(0.0, (now - answered).total_seconds())
