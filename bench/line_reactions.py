"""How fast the voice agent reacts on a bad line (issue 11): barge-in on an echoing line, and the
resume after a false interruption.

    python bench/line_reactions.py                       # 10 trials per condition
    python bench/line_reactions.py --trials 20 --conditions talk-over/-12dB burst/clean

The real stack over loopback, one call at a time: our app (uvicorn, the embedded agent runtime:
silero VAD, WebRTC AEC3 echo canceller and gate, Whisper tiny.en, hibari TTS) on the front-desk
script (`agent.samples.front_desk`), and the fake Asterisk whose caller can echo the agent back
(`EchoPath(delay, gain)`) and send noise bursts (tests/e2e/harness.py, as the e2e tests).

- talk-over (no echo, 0 dB / 40 ms, -6 dB / 40 ms, -12 dB / 40 ms): the caller starts a phrase
  (tests/fixtures/callers 00, 01, 04, 06, 08 in turn) 1.5-3.5 s into the greeting. Reaction = the
  fake receiving FLUSH_MEDIA − the caller's speech onset (the first frame above -40 dBFS the fake
  sent). A miss: no FLUSH_MEDIA within `--timeout` s. A self-interruption: FLUSH_MEDIA before the
  caller spoke (the echo taken for the caller).
- burst (clean line, -12 dB / 40 ms echo): a 0.3 s "vowels" burst at -20 dBFS (speech to the VAD,
  no words) 1.5-3.5 s into the greeting. Reaction = the first frame above -40 dBFS the caller hears
  after the flush − the end of the burst. A miss: the burst did not barge in, or the agent did
  not come back within `--timeout` s; `other reply`: it came back with something else than the
  cut sentence (the burst was taken for words).

Also recorded per trial (JSON): the app's own view from the run events (`barge_in.gate`,
`barge_in.decided_ms`: VAD onset → decision, `flush_ms`). Prints p50/p90/max per condition.
Timings are wall-clock on whatever machine runs it: say if it was shared. Not a test.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from _common import machine, percentile, write_result

from agent.runtime import AgentRuntime
from agent.samples import front_desk
from media.g711 import ulaw_to_pcm16
from tests.e2e.harness import Stack, stack
from tests.fake_asterisk.line import EchoPath
from tests.fake_asterisk.media import MediaConnectionRecord
from tests.fixtures import caller_ulaw

ECHO = 0.04
LINES: dict[str, EchoPath | None] = {"none": None, "0dB": EchoPath(ECHO, 0.0), "-6dB": EchoPath(ECHO, -6.0),
                                     "-12dB": EchoPath(ECHO, -12.0)}
CONDITIONS = ["talk-over/none", "talk-over/0dB", "talk-over/-6dB", "talk-over/-12dB", "burst/clean", "burst/-12dB"]
PHRASES = [0, 1, 4, 6, 8]
BURST_S, BURST_DBFS = 0.3, -20.0
FLUSH_LIMIT_S, RESUME_LIMIT_S = 0.3, 1.0


@dataclass
class Trial:
    condition: str
    start_s: float
    """When the caller spoke (or the burst came), seconds into the greeting's playout."""
    phrase: int | None
    reaction_s: float | None
    outcome: str  # "ok" | "miss" | "self-interrupted" | "no barge-in" | "not resumed" | "other reply"
    gate: str | None = None
    decided_ms: int | None = None
    app_flush_ms: int | None = None
    greeting: str | None = None
    """What the run recorded of the greeting (the part the caller heard when it was cut)."""
    agent_next: str | None = None
    """The agent's next line after the greeting, if any by the hang-up."""
    caller: list[str] | None = None
    """What the app took for the caller's words."""


def loud(frame: bytes) -> bool:
    """A frame above -40 dBFS."""
    pcm = np.frombuffer(ulaw_to_pcm16(frame), dtype=np.int16).astype(np.float64) / 32768
    return bool(len(pcm)) and float(np.sqrt(np.mean(pcm**2))) > 0.01


def flushes(media: MediaConnectionRecord) -> list[float]:
    return [t for t, text in media.texts_from_app if text == "FLUSH_MEDIA"]


async def runner(runtime: AgentRuntime) -> Any:
    async def run(session, definition, context, on_event):  # type: ignore[no-untyped-def]
        return await runtime.run(session, definition, context, on_event)

    return run


async def answered_call(s: Stack, line: EchoPath | None, n: int) -> tuple[str, MediaConnectionRecord]:
    known = len(s.fake.media_connections)
    channel = await s.fake.place_inbound_call(f"+1555020{n:04d}", "8000", echo=line or False)
    media = await s.wait(lambda: next((m for m in s.fake.media_connections[known:] if m.connected), None), 10)
    return channel, media


async def run_events(s: Stack, channel: str) -> list[Any]:
    runs = [r for r in await s.store.runs.list(s.org_id, limit=5) if r.call_id == channel]
    return list(await s.store.runs.events(runs[0].id)) if runs else []


async def agent_lines(s: Stack, channel: str, count: int, timeout: float) -> list[Any]:
    """The run's first `count` agent lines, or as many as there are after `timeout` s. (A hang-up
    at once after a barge-in can cancel the call before its interrupted line is recorded.)"""
    async def enough() -> list[Any] | None:
        lines = [e for e in await run_events(s, channel) if e.kind == "transcript" and e.role == "agent"]
        return lines if len(lines) >= count else None

    with contextlib.suppress(TimeoutError):
        return list(await s.wait_for_value(enough, timeout=timeout))
    return [e for e in await run_events(s, channel) if e.kind == "transcript" and e.role == "agent"]


async def hang_up(s: Stack, channel: str) -> None:
    with contextlib.suppress(KeyError):
        await s.fake.caller_hangup(channel)
    with contextlib.suppress(TimeoutError):
        await s.wait(lambda: not s.leftovers(), timeout=10)


async def app_view(s: Stack, channel: str, trial: Trial, lines: list[Any]) -> Trial:
    """The app's own record of the trial, from the run events (before the hang-up)."""
    data = dict(lines[0].data) if lines else {}
    cause = data.get("barge_in") or {}
    trial.gate, trial.decided_ms, trial.app_flush_ms = cause.get("gate"), cause.get("decided_ms"), data.get("flush_ms")
    trial.greeting = lines[0].text if lines else None
    trial.agent_next = lines[1].text if len(lines) > 1 else None
    trial.caller = [e.text or "" for e in await run_events(s, channel) if e.kind == "transcript" and e.role == "caller"]
    return trial


async def talk_over(s: Stack, condition: str, start_s: float, phrase: int, n: int, timeout: float) -> Trial:
    channel, media = await answered_call(s, LINES[condition.split("/")[1]], n)
    await s.wait(lambda: len(media.played) >= round(start_s / 0.02), timeout=10)
    leg = s.fake.caller(channel)
    said_before = len(leg.said)
    await s.fake.caller_say(channel, caller_ulaw(phrase))
    onset = await s.wait(lambda: next((f.t for f in leg.said[said_before:] if loud(f.data)), None), 5)
    trial = Trial(condition, start_s, phrase, None, "miss")
    try:
        flushed = await s.wait(lambda: next((t for t in flushes(media) if t > onset - 0.1), None), timeout)
        trial.reaction_s, trial.outcome = flushed - onset, "ok"
    except TimeoutError:
        pass
    if any(t <= onset - 0.1 for t in flushes(media)):
        trial.outcome = "self-interrupted"
    await app_view(s, channel, trial, await agent_lines(s, channel, 1, 8.0))
    await hang_up(s, channel)
    return trial


async def burst(s: Stack, condition: str, start_s: float, n: int, timeout: float) -> Trial:
    channel, media = await answered_call(s, None if condition.endswith("clean") else LINES["-12dB"], n)
    await s.wait(lambda: len(media.played) >= round(start_s / 0.02), timeout=10)
    leg = s.fake.caller(channel)
    sent_before, asked = len(leg.sent), s.fake.now()
    s.fake.noise_burst(channel, BURST_S, BURST_DBFS, kind="vowels")
    frames = round(BURST_S / 0.02)
    burst_end = await s.wait(lambda: (lambda fs: fs[frames - 1].t + 0.02 if len(fs) >= frames else None)(
        [f for f in leg.sent[sent_before:] if f.t >= asked]), 5)
    trial = Trial(condition, start_s, None, None, "no barge-in")
    try:
        flushed = await s.wait(lambda: next(iter(flushes(media)), None), timeout)
        trial.outcome = "not resumed"
        resumed = await s.wait(lambda: next((f.t for f in leg.heard if f.t > flushed and loud(f.data)), None),
                               timeout)
        trial.reaction_s, trial.outcome = resumed - burst_end, "ok"
    except TimeoutError:
        pass
    lines = await agent_lines(s, channel, 2, 5.0)
    if trial.outcome == "ok" and (len(lines) < 2 or not lines[1].data.get("resumed")):
        trial.outcome = "other reply"
    await app_view(s, channel, trial, lines)
    await hang_up(s, channel)
    return trial


def summarise(trials: list[Trial]) -> dict[str, Any]:
    values = [t.reaction_s * 1000 for t in trials if t.outcome == "ok" and t.reaction_s is not None]
    outcomes: dict[str, int] = {}
    for t in trials:
        outcomes[t.outcome] = outcomes.get(t.outcome, 0) + 1

    def ms(p: float) -> float | None:
        v = percentile(values, p)
        return None if v is None else round(v)

    return {"n": len(trials), "ok": len(values), "p50_ms": ms(50), "p90_ms": ms(90),
            "max_ms": round(max(values)) if values else None, "outcomes": outcomes,
            "decided_ms_p50": percentile([float(t.decided_ms) for t in trials if t.decided_ms is not None], 50)}


async def run(args: argparse.Namespace) -> dict[str, Any]:
    runtime = AgentRuntime.load(workers=2)
    rng = np.random.default_rng(args.seed)
    trials: list[Trial] = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            async with stack(Path(tmp), agent=await runner(runtime), definition=front_desk(),
                             max_calls=4) as s:
                n = 0
                for condition in args.conditions:
                    for i in range(args.trials):
                        start_s = round(float(rng.uniform(1.5, 3.5)), 2)
                        n += 1
                        if condition.startswith("talk-over"):
                            trial = await talk_over(s, condition, start_s, PHRASES[i % len(PHRASES)], n, args.timeout)
                        else:
                            trial = await burst(s, condition, start_s, n, args.timeout)
                        trials.append(trial)
                        shown = "-" if trial.reaction_s is None else f"{trial.reaction_s * 1000:.0f} ms"
                        print(f"  {condition:16} start {start_s:.2f} s  {shown:>8}  {trial.outcome:11}"
                              f" gate={trial.gate} decided={trial.decided_ms} caller={trial.caller}"
                              f" next={trial.agent_next!r}", flush=True)
    finally:
        await runtime.close()
    return {condition: [t for t in trials if t.condition == condition] for condition in args.conditions}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=10, help="per condition")
    parser.add_argument("--conditions", nargs="*", default=CONDITIONS, choices=CONDITIONS)
    parser.add_argument("--timeout", type=float, default=3.0, help="seconds to wait for a flush or a resume")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--note", default="", help="recorded with the result (e.g. the machine was shared)")
    args = parser.parse_args()
    began = time.monotonic()
    by_condition = asyncio.run(run(args))
    summaries = {c: summarise(t) for c, t in by_condition.items()}
    print(f"\n{'condition':18} {'n':>3} {'ok':>3} {'p50':>7} {'p90':>7} {'max':>7}  target  other outcomes")
    for condition, sm in summaries.items():
        limit = FLUSH_LIMIT_S if condition.startswith("talk-over") else RESUME_LIMIT_S
        others = {k: v for k, v in sm["outcomes"].items() if k != "ok"}
        print(f"{condition:18} {sm['n']:>3} {sm['ok']:>3} {_ms(sm['p50_ms'])} {_ms(sm['p90_ms'])} {_ms(sm['max_ms'])}"
              f"  p90 ≤ {limit * 1000:.0f}  {others or ''}")
    path = write_result("line_reactions", {
        "machine": machine(), "args": vars(args), "seconds": round(time.monotonic() - began, 1),
        "summary": summaries, "trials": {c: [asdict(t) for t in ts] for c, ts in by_condition.items()}})
    print(f"wrote {path}")


def _ms(value: float | None) -> str:
    return f"{'-' if value is None else f'{value:.0f}'} ms".rjust(7)


if __name__ == "__main__":
    main()
