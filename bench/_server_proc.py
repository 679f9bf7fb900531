"""Switchboard as its own process for the benchmarks: the real app (`create_app`, production
timings, one uvicorn worker) with a built-in agent that speaks continuously, so only the media
plane is measured, plus a read-only `/_bench/...` surface for what only this process can see.

    GET /_bench/stats[?reset=1]   live sessions, MediaStats summed, frames the agent received,
                                  event-loop lag since the last reset
    GET /_bench/setup             per inbound call, inside this process: StasisStart received →
                                  both channels in the bridge (addChannel answered), or → refused

The agent: a 440 Hz tone, pre-rendered as µ-law, queued one second at a time with a mark after
each second; the next second is queued when the mark before the previous one comes back, so one to
two seconds always wait in our session and the pacer never runs dry for want of audio.

    python bench/_server_proc.py --db PATH --port P
"""
from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import math
import sys
import time
from collections import deque
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import uvicorn  # noqa: E402
from starlette.requests import Request  # noqa: E402
from starlette.responses import JSONResponse  # noqa: E402
from starlette.routing import Route  # noqa: E402

from app import create_app  # noqa: E402
from ari.calls import CallControl  # noqa: E402
from ari.events import StasisStart  # noqa: E402
from ari.rest import AriRestClient  # noqa: E402
from bench._common import SECRET, summary  # noqa: E402
from media.g711 import pcm16_to_ulaw  # noqa: E402
from media.session import AudioIn, Closed, MediaSession, MediaStats  # noqa: E402
from web.settings import Settings  # noqa: E402


def tone(seconds: float = 1.0, hz: float = 440.0, level: float = 0.25) -> bytes:
    t = np.arange(int(8000 * seconds)) / 8000
    pcm = (np.sin(2 * math.pi * hz * t) * level * 32767).astype("<i2")
    return pcm16_to_ulaw(pcm.tobytes())


TONE = tone()


@dataclass
class Outcome:
    status: str
    reason: str


class ToneAgent:
    def __init__(self) -> None:
        self.live: dict[int, MediaSession] = {}
        self.received: dict[int, int] = {}  # run → caller frames the agent got
        self.ended = MediaStats()
        self.ended_received = 0
        self.calls = 0

    async def __call__(self, session: MediaSession, definition: dict[str, Any], context: dict[str, Any],
                       on_event: Any) -> Outcome:
        self.calls += 1
        self.live[session.run_id] = session
        self.received[session.run_id] = 0
        drain = asyncio.create_task(self._drain(session))
        try:
            marks: deque[asyncio.Future[bool]] = deque()
            n = 0
            while not session.closed:
                session.play(TONE)
                marks.append(session.mark(f"t{n}"))
                n += 1
                if len(marks) >= 2 and not await marks.popleft():
                    break
            return Outcome("completed", "bench call ended")
        finally:
            drain.cancel()
            self.live.pop(session.run_id, None)
            for key, value in asdict(session.stats).items():
                setattr(self.ended, key, getattr(self.ended, key) + value)
            self.ended_received += self.received.pop(session.run_id, 0)

    async def _drain(self, session: MediaSession) -> None:
        run = session.run_id
        while True:
            event = await session.events.get()
            if isinstance(event, AudioIn):
                self.received[run] = self.received.get(run, 0) + 1
            elif isinstance(event, Closed):
                return

    def stats(self) -> dict[str, Any]:
        live = MediaStats()
        for session in list(self.live.values()):
            for key, value in asdict(session.stats).items():
                setattr(live, key, getattr(live, key) + value)
        return {"calls": self.calls, "live_sessions": len(self.live), "live": asdict(live), "ended": asdict(self.ended),
                "agent_received_live": sum(self.received.values()), "agent_received_ended": self.ended_received}


class LoopLag:
    """How late a 10 ms sleep wakes up: the event loop's own saturation."""

    def __init__(self) -> None:
        self.samples: list[float] = []

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            t0 = loop.time()
            await asyncio.sleep(0.010)
            self.samples.append((loop.time() - t0 - 0.010) * 1000)
            if len(self.samples) > 200_000:
                del self.samples[:100_000]


class GcPauses:
    """Duration of each garbage collection in this process, by generation (gc.callbacks)."""

    def __init__(self) -> None:
        self.pauses: dict[int, list[float]] = {0: [], 1: [], 2: []}
        self._t0 = 0.0
        gc.callbacks.append(self._callback)

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._t0 = time.perf_counter()
        else:
            self.pauses[info["generation"]].append((time.perf_counter() - self._t0) * 1000)

    def report(self) -> dict[str, Any]:
        return {f"gen{g}": summary(v, 3) for g, v in self.pauses.items()}

    def reset(self) -> None:
        for v in self.pauses.values():
            v.clear()


class SetupClock:
    """StasisStart of an inbound channel → addChannel answered (or → refused with congestion), in
    this process's monotonic clock. Wraps two methods at class level: measurement only."""

    def __init__(self) -> None:
        self.started: dict[str, float] = {}
        self.bridged: dict[str, float] = {}
        self.refused: dict[str, float] = {}
        self.steps: dict[str, list[float]] = {}

    def _timed(self, owner: Any, name: str, label: str) -> None:
        """Wrap `owner.name` (a coroutine method) to record how long each call takes, under `label`."""
        original = getattr(owner, name)
        samples = self.steps.setdefault(label, [])

        async def timed(*args: Any, **kwargs: Any) -> Any:
            t0 = time.monotonic()
            try:
                return await original(*args, **kwargs)
            finally:
                samples.append((time.monotonic() - t0) * 1000)

        setattr(owner, name, timed)

    def install(self) -> None:
        from data.runs import Runs

        clock = self
        for owner, name, label in ((Runs, "create_within_quota", "db: quota check + run (write)"),
                                   (Runs, "set_status", "db: run answered (write)"),
                                   (AriRestClient, "answer", "ari: answer"),
                                   (AriRestClient, "external_media", "ari: externalMedia"),
                                   (AriRestClient, "create_bridge", "ari: create bridge")):
            self._timed(owner, name, label)
        on_event, add_to_bridge, hangup = CallControl.on_event, AriRestClient.add_to_bridge, AriRestClient.hangup

        async def timed_on_event(control: CallControl, event: Any) -> None:
            if isinstance(event, StasisStart) and not control.knows(event.channel.id):
                clock.started.setdefault(event.channel.id, time.monotonic())
            await on_event(control, event)

        async def timed_add_to_bridge(rest: AriRestClient, bridge_id: str, channels: Any) -> None:
            await add_to_bridge(rest, bridge_id, channels)
            for channel in ([channels] if isinstance(channels, str) else channels):
                if channel in clock.started:
                    clock.bridged[channel] = time.monotonic()

        async def timed_hangup(rest: AriRestClient, channel_id: str, reason: str = "normal") -> bool:
            try:
                return await hangup(rest, channel_id, reason)
            finally:  # also when the events of this very hang-up cancel the call's task first
                if reason == "congestion" and channel_id in clock.started:
                    clock.refused.setdefault(channel_id, time.monotonic())

        CallControl.on_event = timed_on_event  # type: ignore[method-assign]
        AriRestClient.add_to_bridge = timed_add_to_bridge  # type: ignore[method-assign]
        AriRestClient.hangup = timed_hangup  # type: ignore[method-assign]

    def report(self) -> dict[str, Any]:
        calls = []
        for channel, t0 in self.started.items():
            calls.append({"channel": channel,
                          "bridged_ms": round((self.bridged[channel] - t0) * 1000, 3) if channel in self.bridged else None,
                          "refused_ms": round((self.refused[channel] - t0) * 1000, 3) if channel in self.refused else None})
        return {"calls": calls, "steps_ms": {k: summary(v) for k, v in self.steps.items()}}

    def reset_steps(self) -> None:
        for v in self.steps.values():
            v.clear()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--log-level", default="WARNING")
    parser.add_argument("--gc-freeze", action="store_true",
                        help="gc.freeze() once started, so collections skip everything loaded at start-up")
    parser.add_argument("--lead", type=float, default=None,
                        help="override MediaSession's playout lead (seconds) to see its effect")
    args = parser.parse_args(argv)
    if args.lead is not None:
        MediaSession.__init__.__kwdefaults__["lead_s"] = args.lead  # type: ignore[index]
    logging.basicConfig(level=args.log_level, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    agent = ToneAgent()
    lag = LoopLag()
    pauses = GcPauses()
    setup = SetupClock()
    setup.install()

    async def agent_factory() -> Any:
        return agent

    async def stats(request: Request) -> JSONResponse:
        body = agent.stats() | {"loop_lag_ms": summary(lag.samples, 3), "gc_pause_ms": pauses.report(),
                                "gc_tracked_objects": len(gc.get_objects())}
        if request.query_params.get("reset"):
            lag.samples.clear()
            pauses.reset()
        return JSONResponse(body)

    async def setup_report(request: Request) -> JSONResponse:
        report = setup.report()
        if request.query_params.get("reset"):
            setup.reset_steps()
        return JSONResponse(report)

    settings = Settings(db_path=Path(args.db), secret_key=SECRET, port=args.port)
    app = create_app(settings, agent_factory=agent_factory)
    app.router.routes.insert(0, Route("/_bench/stats", stats))
    app.router.routes.insert(0, Route("/_bench/setup", setup_report))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=args.port, log_level="warning",
                                           lifespan="on", ws_max_size=1 << 20, backlog=4096))

    async def serve() -> None:
        task = asyncio.create_task(server.serve())
        lag_task = asyncio.create_task(lag.run())
        while not server.started and not task.done():
            await asyncio.sleep(0.01)
        if args.gc_freeze:
            gc.collect()
            gc.freeze()
        print("ready", flush=True)
        await task
        lag_task.cancel()

    asyncio.run(serve())
    return 0


if __name__ == "__main__":
    sys.exit(main())
