"""Counters of the calls this process handled, for `/metrics` (rendered by `web.metrics`).

One `CallStats` lives on the `AriService` and is shared by every configuration's `CallControl`,
so the counts survive a link being rebuilt. Media counters add each session's `MediaStats` when
its call ends; `Snapshot` adds the live sessions on top, so a scrape never goes backwards.
"""
from __future__ import annotations

import bisect
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

# Seconds from the end of the caller's speech to the agent's first audio.
LATENCY_BUCKETS_S = (0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0)


@dataclass
class Histogram:
    bounds: tuple[float, ...] = LATENCY_BUCKETS_S
    counts: list[int] = field(default_factory=list)  # per bucket, not cumulative; the last is +Inf
    total: float = 0.0
    count: int = 0

    def __post_init__(self) -> None:
        if not self.counts:
            self.counts = [0] * (len(self.bounds) + 1)

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.total += value
        self.count += 1

    def cumulative(self) -> list[tuple[str, int]]:
        """(`le` label, count of observations ≤ it), ending with "+Inf"."""
        out, running = [], 0
        for bound, n in zip((*(f"{b:g}" for b in self.bounds), "+Inf"), self.counts, strict=True):
            running += n
            out.append((bound, running))
        return out


@dataclass
class MediaTotals:
    frames_in: int = 0
    frames_out: int = 0
    late_frames: int = 0
    xoff_count: int = 0

    def add(self, stats: Any) -> None:
        """Add a `media.session.MediaStats`."""
        self.frames_in += stats.frames_in
        self.frames_out += stats.frames_out
        self.late_frames += stats.late_frames
        self.xoff_count += stats.xoff_count


@dataclass
class CallStats:
    started: Counter[str] = field(default_factory=Counter)  # by direction
    ended: Counter[str] = field(default_factory=Counter)  # by final status
    media: MediaTotals = field(default_factory=MediaTotals)  # of ended calls
    latency: Histogram = field(default_factory=Histogram)

    def call_started(self, direction: str) -> None:
        self.started[direction] += 1

    def call_ended(self, status: str, media_stats: Any | None) -> None:
        self.ended[status] += 1
        if media_stats is not None:
            self.media.add(media_stats)

    def observe_latency(self, data: dict[str, Any]) -> None:
        """A run event of kind `latency`: `{"ms": …}` or the runtime's `{"voice_to_voice_ms": …}`."""
        ms = data.get("ms", data.get("voice_to_voice_ms"))
        if isinstance(ms, (int, float)) and not isinstance(ms, bool) and 0 <= ms < 3_600_000:
            self.latency.observe(ms / 1000.0)


@dataclass(frozen=True)
class LinkSample:
    config_id: int
    up: bool
    reconnects: int
    state: str


@dataclass(frozen=True)
class Snapshot:
    """Everything `/metrics` shows, taken at one moment."""

    started: dict[str, int]
    ended: dict[str, int]
    active_calls: int
    media: MediaTotals
    latency: Histogram
    links: tuple[LinkSample, ...] = ()

    @classmethod
    def empty(cls) -> Snapshot:
        return cls({}, {}, 0, MediaTotals(), Histogram())
