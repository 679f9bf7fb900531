"""Voice-to-voice latency of the embedded stack: end of caller speech → first audible agent audio.

    python bench/voice_latency.py [--turns 20] [--calls 1,4,8,12,16,20,24] [--turns-per-call 6]
                                  [--end-of-speech-ms 500] [--budget-s 420]

Each simulated call runs the real runtime (silero VAD, Whisper tiny.en, the script engine,
hibari TTS) on an in-memory call that plays agent audio in real time; the caller speaks the
recorded phrases in tests/fixtures/callers in real time, waiting
for each reply to finish. The end of caller speech is taken from the recording (last frame above
-40 dBFS), so the latency includes the end-of-speech silence wait. Prints p50/p95 for one call,
then p50/p90 per number of simultaneous calls and the largest number keeping p90 ≤ 1 s.
Bounded: stops at the time budget or at the first level whose p90 exceeds 1 s. Not a test.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from agent.audio import ulaw_to_float  # noqa: E402
from agent.definition import validate_definition  # noqa: E402
from agent.runtime import AgentRuntime  # noqa: E402
from tests.fixtures import CALLERS_DIR  # noqa: E402
from tests.support.loopback import LoopbackCall  # noqa: E402

CALLERS = CALLERS_DIR
P90_LIMIT_S = 1.0
STT_MS: list[float] = []


def speech_end_s(ulaw: bytes) -> float:
    samples = ulaw_to_float(ulaw)
    frames = samples[: len(samples) // 160 * 160].reshape(-1, 160)
    loud = np.flatnonzero(np.sqrt((frames ** 2).mean(axis=1)) > 0.01)
    return float(loud[-1] + 1) * 0.02


def workflow(end_of_speech_ms: int) -> dict[str, Any]:
    raw = {"greeting": "Hi.", "end_of_speech_ms": end_of_speech_ms, "no_input_reprompt_s": 120,
           "no_input_hangup_s": 300, "farewell": "Bye.",
           "script": {"states": {"main": {"intents": [], "fallback": "Okay, noted."}}}}
    clean, errors = validate_definition(raw)
    assert clean is not None, errors
    return clean


async def one_call(runtime: AgentRuntime, definition: dict[str, Any], phrases: list[bytes], turns: int,
                   offset: int, stagger_s: float) -> list[float]:
    await asyncio.sleep(stagger_s)
    call, replies = LoopbackCall(), [0]

    async def sink(kind: str, role: str | None, text: str | None, data: dict[str, Any]) -> None:
        if kind == "transcript" and role == "agent":
            replies[0] += 1
        if kind == "latency":
            STT_MS.append(data["stt_ms"])

    task = asyncio.create_task(runtime.run(call, definition, {"call_id": f"bench-{offset}"}, sink))
    latencies: list[float] = []
    try:
        try:
            await call.until(lambda: replies[0] >= 1, 15)
        except TimeoutError:
            return latencies  # never greeted: every turn counts as unanswered
        for turn in range(turns):
            audio = phrases[(offset + turn) % len(phrases)]
            before = replies[0]
            started = await call.say(audio)
            ended = started + speech_end_s(audio)
            try:
                await call.until(lambda: replies[0] > before, 15)
            except TimeoutError:
                continue  # not understood (no reply): counted as missing
            first = call.first_audio_after(ended, audible=True)
            if first is not None:
                latencies.append(first - ended)
            await asyncio.sleep(0.3)  # the caller takes a breath
        await call.hang_up_by_caller()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(task, 5)
    finally:
        task.cancel()
        await call.aclose()
    return latencies


async def loop_lag(stop: asyncio.Event, lags: list[float]) -> None:
    while not stop.is_set():
        before = time.perf_counter()
        await asyncio.sleep(0.01)
        lags.append(time.perf_counter() - before - 0.01)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


async def level(runtime: AgentRuntime, definition: dict[str, Any], phrases: list[bytes], calls: int,
                turns: int) -> tuple[list[float], list[float], int]:
    stop, lags = asyncio.Event(), list[float]()
    lagger = asyncio.create_task(loop_lag(stop, lags))
    results = await asyncio.gather(*(one_call(runtime, definition, phrases, turns, i, i * 0.37)
                                     for i in range(calls)))
    stop.set()
    await lagger
    latencies = [x for r in results for x in r]
    return latencies, lags, calls * turns - len(latencies)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--turns", type=int, default=20, help="turns for the single-call run")
    parser.add_argument("--calls", default="1,4,8,12,16,20,24", help="simultaneous-call levels")
    parser.add_argument("--turns-per-call", type=int, default=6)
    parser.add_argument("--end-of-speech-ms", type=int, default=500)
    parser.add_argument("--budget-s", type=float, default=420)
    args = parser.parse_args()
    deadline = time.monotonic() + args.budget_s
    # the short one-word phrases ("Yes.", "No.") are the hardest for Whisper; keep them in
    phrases = [(CALLERS / f"{n:02d}.ul").read_bytes() for n in range(10)]
    definition = workflow(args.end_of_speech_ms)
    loaded = time.perf_counter()
    runtime = AgentRuntime.load()
    print(f"models loaded in {time.perf_counter() - loaded:.2f} s; {runtime.workers} workers; "
          f"end of speech after {args.end_of_speech_ms} ms of silence (included below)")
    try:
        latencies, lags, missing = await level(runtime, definition, phrases, 1, args.turns)
        print(f"1 call, {len(latencies)} turns ({missing} unanswered): voice-to-voice "
              f"p50 {1000 * statistics.median(latencies):.0f} ms, p95 {1000 * pct(latencies, 0.95):.0f} ms "
              f"(Whisper p50 {statistics.median(STT_MS):.0f} ms); event-loop lag p99 {1000 * pct(lags, 0.99):.1f} ms")
        best = 0
        for calls in (int(c) for c in args.calls.split(",")):
            if time.monotonic() > deadline:
                print("time budget spent; stopping")
                break
            STT_MS.clear()
            latencies, lags, missing = await level(runtime, definition, phrases, calls, args.turns_per_call)
            if not latencies:
                print(f"{calls} calls: no answered turns")
                break
            p90 = pct(latencies, 0.90)
            print(f"{calls:3d} calls: p50 {1000 * statistics.median(latencies):5.0f} ms, p90 {1000 * p90:5.0f} ms, "
                  f"Whisper p50/p90 {statistics.median(STT_MS):.0f}/{pct(STT_MS, 0.9):.0f} ms, "
                  f"{missing} unanswered, event-loop lag p99 {1000 * pct(lags, 0.99):.1f} ms")
            if p90 > P90_LIMIT_S:
                break
            best = calls
        print(f"simultaneous calls keeping p90 <= {P90_LIMIT_S:.0f} s: {best}"
              + (" (the largest level tried)" if best == max(int(c) for c in args.calls.split(",")) else ""))
    finally:
        await runtime.close()


if __name__ == "__main__":
    asyncio.run(main())
