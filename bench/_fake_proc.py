"""The fake Asterisk as its own process for the benchmarks, with a few bench endpoints on top of its
`/_fake` control surface (the fake itself is unchanged):

    POST /_bench/place   {n, rate, hold_s, exten}   place n inbound calls at `rate` per second; each
                         caller streams µ-law at 50 frames/s (a looped recording) and, if hold_s > 0,
                         hangs up hold_s after it was placed
    GET  /_bench/progress                           placed / bridged / media connected / live
    POST /_bench/window/start                       forget media history; measure from now
    POST /_bench/window/stop                        playout, underruns, jitter, drops over the window
    POST /_bench/hangup_all                         every caller hangs up
    GET  /_bench/setup                              per call: StasisStart → both channels bridged, refusals
    GET  /_bench/totals                             caller frames sent to our media sockets, ever

Outside a window the per-frame histories are trimmed every second, so a long run stays small.

    python bench/_fake_proc.py --port P --ws-client ws://127.0.0.1:Q/api/v1/telephony/ws/ari
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
from array import array
import json
import signal
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import APP, PASSWORD, WS_CLIENT  # noqa: E402
from tests.fake_asterisk import FakeAsterisk  # noqa: E402
from tests.fake_asterisk.httpserver import HttpRequest, HttpResponse  # noqa: E402
from tests.fake_asterisk.media import ExtMediaSession  # noqa: E402
from tests.fixtures import CALLERS_DIR  # noqa: E402

FRAME = 160
TICK = 0.020


def caller_audio() -> bytes:
    """About 20 s of recorded callers, looped by `_Loop`."""
    files = sorted(CALLERS_DIR.glob("*.ul"))
    data = b"".join(p.read_bytes() for p in files) or b"\x7f" * 8000
    return data[: len(data) // FRAME * FRAME]


class _Loop:
    """Stands in for a caller's frame queue: never empty, no per-call copy of the audio."""

    def __init__(self, audio: bytes, offset: int) -> None:
        self.audio, self.pos = audio, (offset * FRAME) % len(audio)

    def __bool__(self) -> bool:
        return True

    def __len__(self) -> int:
        return 1

    def popleft(self) -> bytes:
        frame = self.audio[self.pos:self.pos + FRAME]
        self.pos = (self.pos + FRAME) % len(self.audio)
        return frame

    def append(self, frame: bytes) -> None:
        pass

    def clear(self) -> None:
        pass


class Counter:
    """Stands in for a far end's `heard` / `said` list: counts, keeps nothing."""

    def __init__(self) -> None:
        self.n = 0

    def append(self, _item: object) -> None:
        self.n += 1

    def clear(self) -> None:
        self.n = 0

    def __len__(self) -> int:
        return self.n

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(())


class PlayoutMeter:
    """Stands in for a media record's `played` list: counts frames and the timeslots in which the
    queue was empty between two played frames (underruns), without keeping a frame."""

    def __init__(self) -> None:
        self.clear()

    def clear(self) -> None:
        self.n, self.missed, self.longest, self.last_tick = 0, 0, 0, None

    def append(self, frame: object) -> None:
        tick = frame.tick  # type: ignore[attr-defined]
        if self.last_tick is not None and tick - self.last_tick > 1:
            gap = tick - self.last_tick - 1
            self.missed += gap
            self.longest = max(self.longest, gap)
        self.last_tick = tick
        self.n += 1

    def __len__(self) -> int:
        return self.n

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(())


class ArrivalMeter:
    """Stands in for `binary_from_app`: inter-arrival jitter of our media messages (|Δt − 20 ms ×
    frames in the previous message|, in ms, kept in a flat array) and partial-frame bytes."""

    def __init__(self) -> None:
        self.clear()

    def clear(self) -> None:
        self.jitter_ms = array("d")
        self.n, self.bytes, self.partial, self.prev = 0, 0, 0, None

    def append(self, item: tuple[float, int]) -> None:
        t, size = item
        if self.prev is not None:
            t0, size0 = self.prev
            self.jitter_ms.append(abs((t - t0) - TICK * (size0 // FRAME)) * 1000)
        self.prev = item
        self.n += 1
        self.bytes += size
        self.partial += size % FRAME

    def __len__(self) -> int:
        return self.n

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter([(0.0, self.bytes)])  # MediaConnectionRecord.bytes_from_app sums these


class BenchFake(FakeAsterisk):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.audio = caller_audio()
        self.placed: dict[str, float] = {}  # caller channel → loop time placed
        self.window_open = False
        self.window_t0 = 0.0
        self._dropped_at_start: dict[str, int] = {}
        self._to_app_at_start: dict[str, int] = {}
        self._trimmer: asyncio.Task[None] | None = None
        self.lag_ms = array("d")

    async def start(self) -> BenchFake:
        await super().start()
        self._trimmer = asyncio.get_running_loop().create_task(self._trim())
        self._lagger = asyncio.get_running_loop().create_task(self._lag())
        return self

    async def stop(self) -> None:
        if self._trimmer is not None:
            self._trimmer.cancel()
            self._lagger.cancel()
        await super().stop()

    async def handle(self, request: HttpRequest) -> Any:
        if request.path.startswith("/_bench/"):
            body = request.json_body() or {}
            result = await self._bench(request.method, request.path[len("/_bench/"):], body)
            return HttpResponse(200, "OK", json.dumps(result, default=str).encode(), "application/json")
        return await super().handle(request)

    async def _bench(self, method: str, what: str, body: dict[str, Any]) -> Any:
        if what == "place":
            self.spawn(self._place(int(body["n"]), float(body.get("rate", 100)), float(body.get("hold_s", 0)),
                                   str(body.get("exten", "8000"))), name="bench-place")
            return {"placing": int(body["n"])}
        if what == "progress":
            return self._progress()
        if what == "window/start":
            return self._window_start()
        if what == "window/stop":
            return self._window_stop()
        if what == "hangup_all":
            for channel_id in list(self.placed):
                with contextlib.suppress(KeyError):
                    await self.caller_hangup(channel_id)
            return {"ok": True}
        if what == "setup":
            return self._setup()
        if what == "totals":
            records = [c.media.record for c in self.all_channels.values() if isinstance(c.media, ExtMediaSession)]
            return {"frames_to_app": sum(r.frames_to_app for r in records), "connections": len(records)}
        raise KeyError(what)

    # --- calls ----------------------------------------------------------------------------------
    async def _place(self, n: int, rate: float, hold_s: float, exten: str) -> None:
        loop = asyncio.get_running_loop()
        start = loop.time()
        for i in range(n):
            due = start + i / rate
            if due > loop.time():
                await asyncio.sleep(due - loop.time())
            channel = await self.place_inbound_call(f"+1555{i:06d}", exten)
            self.placed[channel] = loop.time()
            ch = self.all_channels.get(channel)
            if ch is not None and ch.leg is not None:
                ch.leg._queue = _Loop(self.audio, i * 7)  # type: ignore[assignment]
            if hold_s > 0:
                loop.call_later(hold_s, lambda c=channel: self.spawn(self._hangup_quietly(c)))

    async def _hangup_quietly(self, channel: str) -> None:
        with contextlib.suppress(KeyError):
            await self.caller_hangup(channel)

    def _media(self) -> list[ExtMediaSession]:
        return [c.media for c in self.channels.values() if isinstance(c.media, ExtMediaSession)]

    def _progress(self) -> dict[str, Any]:
        bridged = sum(1 for b in self.bridges.values() if len(b.channels) == 2)
        media = self._media()
        return {"placed": len(self.placed), "live_callers": sum(1 for c in self.placed if c in self.channels),
                "bridged": bridged, "media_connected": sum(1 for m in media if m.connected),
                "registered": APP in self.registered_apps}

    # --- the measurement window -----------------------------------------------------------------
    async def _trim(self) -> None:
        """Every 0.2 s: put meters in place of the per-frame lists of new calls (so nothing grows
        and the garbage collector has little to walk), and drop the text logs outside a window."""
        while True:
            await asyncio.sleep(0.2)
            for ch in self.all_channels.values():
                if isinstance(ch.media, ExtMediaSession):
                    rec = ch.media.record
                    if not isinstance(rec.played, PlayoutMeter):
                        rec.played = PlayoutMeter()  # type: ignore[assignment]
                        rec.binary_from_app = ArrivalMeter()  # type: ignore[assignment]
                    if not self.window_open:
                        rec.texts_from_app.clear()
                        rec.texts_to_app.clear()
                if ch.leg is not None and not isinstance(ch.leg.heard, Counter):
                    ch.leg.heard = Counter()  # type: ignore[assignment]
                    ch.leg.said = Counter()  # type: ignore[assignment]

    async def _lag(self) -> None:
        """How late a 10 ms sleep wakes up in this process (kept during a window only)."""
        loop = asyncio.get_running_loop()
        while True:
            t0 = loop.time()
            await asyncio.sleep(0.010)
            if self.window_open:
                self.lag_ms.append((loop.time() - t0 - 0.010) * 1000)

    def _measured(self) -> list[ExtMediaSession]:
        return [m for m in self._media() if isinstance(m.record.played, PlayoutMeter)]

    def _window_start(self) -> dict[str, Any]:
        for ch in self.all_channels.values():
            if ch.leg is not None:
                ch.leg.said.clear()
        for sess in self._measured():
            sess.record.played.clear()
            sess.record.binary_from_app.clear()
            self._dropped_at_start[sess.channel_id] = sess.driver.frames_dropped_whole_messages
            self._to_app_at_start[sess.channel_id] = sess.record.frames_to_app
        self.lag_ms = array("d")
        self.window_open = True
        self.window_t0 = self.now()
        return {"connections": len(self._dropped_at_start), "t0": self.window_t0}

    def _window_stop(self) -> dict[str, Any]:
        self.window_open = False
        elapsed = self.now() - self.window_t0
        underrun_frames, with_underruns, played, partial_bytes, dropped, to_app, longest = 0, 0, 0, 0, 0, 0, 0
        jitter = array("d")
        measured = 0
        for sess in self._measured():
            if sess.channel_id not in self._dropped_at_start:
                continue  # connected during the window
            measured += 1
            meter, arrivals = sess.record.played, sess.record.binary_from_app
            played += meter.n
            underrun_frames += meter.missed
            with_underruns += bool(meter.missed)
            longest = max(longest, meter.longest)
            jitter.extend(arrivals.jitter_ms)
            partial_bytes += arrivals.partial
            dropped += sess.driver.frames_dropped_whole_messages - self._dropped_at_start[sess.channel_id]
            to_app += sess.record.frames_to_app - self._to_app_at_start[sess.channel_id]
        said = sum(len(ch.leg.said) for ch in self.channels.values() if ch.leg is not None)
        self._dropped_at_start.clear()
        self._to_app_at_start.clear()
        ordered = sorted(jitter)

        def pct(p: float) -> float | None:
            if not ordered:
                return None
            return round(ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))], 3)

        return {
            "window_s": round(elapsed, 3), "connections": measured, "frames_played": played,
            "expected_frames": int(measured * elapsed / TICK),
            "underrun_frames": underrun_frames, "connections_with_underruns": with_underruns,
            "longest_gap_frames": longest,
            "jitter_ms": {"n": len(ordered), "p50": pct(50), "p99": pct(99),
                          "max": round(ordered[-1], 3) if ordered else None},
            "dropped_messages_queue_full": dropped, "partial_frame_bytes_dropped": partial_bytes,
            "caller_frames_said": said, "caller_frames_sent_to_app": to_app,
            "gc_collections": [g["collections"] for g in gc.get_stats()],
            "fake_loop_lag_ms": {"p99": round(sorted(self.lag_ms)[int(0.99 * (len(self.lag_ms) - 1))], 3)
                                 if self.lag_ms else None, "max": round(max(self.lag_ms), 3) if self.lag_ms else None},
        }

    def _setup(self) -> dict[str, Any]:
        """From the fake's event log: StasisStart → second ChannelEnteredBridge, and refusals."""
        start: dict[str, float] = {}
        entered: dict[str, list[float]] = {}
        bridge_of: dict[str, str] = {}
        for rec in self.events:
            e = rec.event
            kind = e.get("type")
            cid = (e.get("channel") or {}).get("id")
            if kind == "StasisStart" and cid in self.placed:
                start[cid] = rec.t
            elif kind == "ChannelEnteredBridge" and cid:
                bid = (e.get("bridge") or {}).get("id", "")
                entered.setdefault(bid, []).append(rec.t)
                bridge_of[cid] = bid
        refused: dict[str, float] = {}
        for req in self.requests:
            if req.method == "DELETE" and ("reason", "congestion") in req.query:
                cid = req.path.rsplit("/", 1)[-1]
                if cid in start:
                    refused.setdefault(cid, req.t)
        calls = []
        for cid, t0 in start.items():
            bid = bridge_of.get(cid)
            times = entered.get(bid or "", [])
            bridged = max(times[:2]) if len(times) >= 2 else None
            calls.append({"channel": cid, "bridged_ms": None if bridged is None else round((bridged - t0) * 1000, 3),
                          "refused_ms": round((refused[cid] - t0) * 1000, 3) if cid in refused else None})
        return {"calls": calls}


async def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--ws-client", required=True, help="the media uri of our server")
    args = parser.parse_args(argv)
    fake = BenchFake(port=args.port, users={APP: PASSWORD}, websocket_clients={WS_CLIENT: {
        "uri": args.ws_client, "reconnect_attempts": 4, "reconnect_interval": 0.5, "connection_timeout": 2.0}})
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with fake:
        print("ready", flush=True)
        await stop.wait()


if __name__ == "__main__":
    asyncio.run(main())
