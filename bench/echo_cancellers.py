"""Echo cancellers on 8 kHz telephone audio: which one keeps the agent from hearing itself.

    python bench/echo_cancellers.py                      # every installed candidate, every condition
    python bench/echo_cancellers.py --only webrtc-aec3 none --no-stt

A call is simulated sample-exactly: the agent (hibari, the real agent voice) talks for ~25 s; the
caller (the Piper caller phrases) is silent for the first 10 s, then talks over the agent three
times (double talk) and once after the agent has finished. The line echoes the agent back after
40 ms at 0, -6 or -12 dB, either as a pure delayed copy (Asterisk `Echo()` with a gain) or through
a "hybrid" path (300-3400 Hz band-pass, 6 ms dispersive tail, soft clipping, -60 dBFS line noise).
Everything crosses the line as µ-law, the reference is exactly what was sent.

Figures per candidate and condition:
- ERLE: echo power in / residual power out over single talk after 2 s (convergence excluded).
- residual vs caller: residual echo level minus the caller's active speech level (dB; < -20 is good).
- false starts: speech starts the project's VAD (silero + webrtcvad pre-gate) detects on the output
  while only the agent talks (each would be a false barge-in).
- double talk: the caller's phrases detected by the VAD within 400 ms (of 3), the output/caller
  power ratio while both talk (0 dB = the caller passes untouched), and Whisper's WER on them.
- CPU per 20 ms frame (process time, 1 thread), which is what counts on a shared box.

Every candidate runs inside agent.echo.EchoCanceller (reference placed by play time, caller frames
by arrival, engine idle while the agent is silent), and agent.echo.EchoGate judges every speech
start: "gated" figures are the starts it let through (at once or within 0.5 s). The candidate
"none" with the gate is "echo-aware gating alone".
"""
from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from _common import machine, write_result
from _speech import active_dbfs, agent_lines, caller_phrases

from agent.audio import LINE_RATE, Samples, float_to_ulaw, ulaw_to_float
from agent.echo import EchoCanceller, EchoGate
from agent.text import words
from agent.vad import Endpointer, PreGate, SpeechStarted, VadPool

FRAME = 160
DELAY_S = 0.040
SINGLE_TALK_S = 10.0
DOUBLE_TALK = [(10.5, 4), (15.5, 6), (20.5, 0)]  # (start s, caller phrase)


class Canceller(Protocol):
    def process(self, near: np.ndarray[Any, np.dtype[np.int16]],
                far: np.ndarray[Any, np.dtype[np.int16]]) -> np.ndarray[Any, np.dtype[np.int16]]: ...


# --- candidates ------------------------------------------------------------------------------
class Passthrough:
    def process(self, near: Any, far: Any) -> Any:
        return near


class WebrtcAec3:
    """pywebrtc-audio: WebRTC AEC3 (as in Chrome), 8 kHz in/out (resampled inside)."""

    def __init__(self, delay_ms: int = 0) -> None:
        from pywebrtc_audio import AudioProcessor
        self.apm = AudioProcessor(sample_rate=LINE_RATE, echo_cancellation=True, stream_delay_ms=delay_ms)

    def process(self, near: Any, far: Any) -> Any:
        return self.apm.process(near, far)


class LivekitApm:
    """livekit (rtc.AudioProcessingModule, WebRTC APM through the LiveKit FFI), 10 ms frames."""

    def __init__(self) -> None:
        from livekit.rtc import AudioFrame, AudioProcessingModule
        self.frame = AudioFrame
        self.apm = AudioProcessingModule(echo_cancellation=True)

    def process(self, near: Any, far: Any) -> Any:
        out = []
        for i in range(0, FRAME, 80):
            self.apm.process_reverse_stream(self.frame(far[i:i + 80].tobytes(), LINE_RATE, 1, 80))
            frame = self.frame(near[i:i + 80].tobytes(), LINE_RATE, 1, 80)
            self.apm.process_stream(frame)
            out.append(np.frombuffer(frame.data, np.int16).copy())
        return np.concatenate(out)


class Speex:
    """pyaec: speexdsp's MDF echo canceller (128 ms tail) with or without its residual suppressor."""

    def __init__(self, preprocess: bool) -> None:
        from pyaec import Aec
        self.aec = Aec(FRAME, 1024, LINE_RATE, preprocess)

    def process(self, near: Any, far: Any) -> Any:
        return np.asarray(self.aec.cancel_echo(near.tolist(), far.tolist()), np.int16)


class VoiceClean:
    """voiceclean: cross-correlation detection + spectral suppression, pure numpy."""

    def __init__(self) -> None:
        from voiceclean.aec import AEC
        self.aec = AEC(sample_rate=LINE_RATE)
        self.pending = bytearray()  # it answers in 40 ms chunks: 20 ms more latency

    def process(self, near: Any, far: Any) -> Any:
        self.aec.feed_reference(far.tobytes())
        self.pending += self.aec.process(near.tobytes())
        if len(self.pending) < 2 * FRAME:
            return np.zeros(FRAME, np.int16)
        got = np.frombuffer(bytes(self.pending[:2 * FRAME]), np.int16)
        del self.pending[:2 * FRAME]
        return got


CANDIDATES: dict[str, Callable[[], Canceller]] = {
    "none": Passthrough,
    "webrtc-aec3": WebrtcAec3,
    "livekit-apm": LivekitApm,
    "speexdsp": lambda: Speex(False),
    "speexdsp+pp": lambda: Speex(True),
    "voiceclean": VoiceClean,
}


# --- the simulated call ----------------------------------------------------------------------
@dataclass
class Scenario:
    near: Samples  # what arrives from the line (µ-law decoded)
    far: Samples  # what we sent (µ-law decoded), on the same sample clock
    echo: Samples  # the echo part of `near` alone
    caller: Samples  # the caller part of `near` alone
    phrases: list[tuple[float, float, str]]  # (start s, end s, text) of caller speech


def _fir_bandpass(taps: int = 63) -> Samples:
    n = np.arange(taps) - (taps - 1) / 2
    def low(fc: float) -> Any:
        return 2 * fc / LINE_RATE * np.sinc(2 * fc / LINE_RATE * n)
    h: Samples = ((low(3400) - low(300)) * np.hamming(taps)).astype(np.float32)
    return h


def echo_path(far: Samples, gain_db: float, kind: str, rng: np.random.Generator) -> Samples:
    delay = int(DELAY_S * LINE_RATE)
    gain = 10 ** (gain_db / 20)
    if kind == "pure":
        shaped = far * gain
    else:
        tail = rng.standard_normal(48) * np.exp(-np.arange(48) / 12.0)
        tail[0] = 4.0
        h = np.convolve(_fir_bandpass(), tail)
        shaped = np.convolve(far, h)[: len(far)]
        shaped *= gain * np.sqrt(np.mean(far**2) / max(np.mean(shaped**2), 1e-12))
        shaped = 0.5 * np.tanh(shaped / 0.5)  # soft clipping of a cheap hybrid/handset
        delay += 24  # 3 ms more in the hybrid
    out = np.zeros_like(far)
    out[delay:] = shaped[: len(far) - delay]
    return out.astype(np.float32)


def build(lines: list[Samples], phrases: list[tuple[str, Samples]], gain_db: float, kind: str) -> Scenario:
    rng = np.random.default_rng(7)
    gap = np.zeros(int(0.4 * LINE_RATE), np.float32)
    agent = np.concatenate([np.concatenate([line, gap]) for line in lines])
    total = len(agent) + int(4.5 * LINE_RATE)
    far = np.zeros(total, np.float32)
    far[: len(agent)] = agent
    far = ulaw_to_float(float_to_ulaw(far))
    caller = np.zeros(total, np.float32)
    spans: list[tuple[float, float, str]] = []
    for start_s, index in [*DOUBLE_TALK, (len(agent) / LINE_RATE + 1.0, 9)]:
        text, audio = phrases[index]
        start = int(start_s * LINE_RATE)
        caller[start:start + len(audio)] += audio[: total - start]
        spans.append((start_s, start_s + len(audio) / LINE_RATE, text))
    echo = echo_path(far, gain_db, kind, rng)
    noise = (rng.standard_normal(total) * 10 ** (-60 / 20)).astype(np.float32) if kind == "hybrid" else 0.0
    near = ulaw_to_float(float_to_ulaw(caller + echo + noise))
    return Scenario(near, far, echo, caller, spans)


# --- measuring -------------------------------------------------------------------------------
@dataclass
class Run:
    out: Samples
    cpu_us: float  # per 20 ms caller frame, averaged over every frame
    engine_share: float  # frames the engine actually ran on (the rest: agent silent for idle_s)
    starts: list[float]  # VAD speech starts (onset times)
    accepted: list[float]  # onsets the echo gate let through (at the start or within 0.5 s after)


def run_call(make: Callable[[], Canceller], sc: Scenario, pool: VadPool) -> Run:
    """The call as the voice session would run it: reference fed by play time, caller frames by
    arrival, each cleaned frame into the VAD, the gate asked at every speech start."""
    canceller = EchoCanceller(engine=make)
    gate = EchoGate()
    model = pool.acquire()
    far_ulaw, near_ulaw = float_to_ulaw(sc.far), float_to_ulaw(sc.near)
    ep = Endpointer(model, end_of_speech_ms=600, pregate=PreGate())
    out: list[Samples] = []
    starts: list[float] = []
    accepted: list[float] = []
    pending: float | None = None
    cpu = 0.0
    try:
        for k in range(len(near_ulaw) // FRAME):
            s = slice(k * FRAME, (k + 1) * FRAME)
            now = (k + 1) * FRAME / LINE_RATE
            began = time.process_time()
            canceller.agent(far_ulaw[s], k * FRAME / LINE_RATE)
            frame = canceller.cancel(near_ulaw[s], now)
            cpu += time.process_time() - began
            out.append(frame.samples)
            gate.observe(frame, caller_speaking=ep.in_speech)
            for event in ep.feed(frame.ulaw, now):
                if isinstance(event, SpeechStarted):
                    starts.append(event.at)
                    pending = event.at
            if pending is not None:
                if gate.judge_start(since=pending).accepted:
                    accepted.append(pending)
                    pending = None
                elif now - pending > 0.5 or not ep.in_speech:
                    pending = None
    finally:
        pool.release(model)
    frames = len(near_ulaw) // FRAME
    return Run(np.concatenate(out), cpu / frames * 1e6, canceller.engine_frames / frames, starts, accepted)


def _onsets(times: list[float], sc: Scenario) -> tuple[int, list[int | None]]:
    talking = [(a, b) for a, b, _ in sc.phrases]
    false = [s for s in times if not any(a - 0.1 <= s <= b + 0.3 for a, b in talking)]
    found = [next((round((s - a) * 1000) for s in times if a - 0.1 <= s <= a + 0.4), None)
             for a, _, _ in sc.phrases[:3]]
    return len(false), found


def measure(run: Run, sc: Scenario, stt: Any) -> dict[str, Any]:
    out = run.out
    n = len(out) // FRAME * FRAME
    def frames(x: Samples) -> Any:
        return x[:n].reshape(-1, FRAME).astype(np.float64)
    t = (np.arange(n // FRAME) + 0.5) * FRAME / LINE_RATE
    echo_p, out_p, caller_p = (np.mean(frames(x) ** 2, axis=1) for x in (sc.echo, out, sc.caller))
    single = (t >= 2.0) & (t < SINGLE_TALK_S) & (echo_p > 10 ** (-50 / 10))
    erle = 10 * np.log10(echo_p[single].sum() / max(out_p[single].sum(), 1e-12))
    residual = 10 * np.log10(max(out_p[single].mean(), 1e-12))
    false, found = _onsets(run.starts, sc)
    false_gated, found_gated = _onsets(run.accepted, sc)
    both = np.zeros_like(single)
    for a, b, _ in sc.phrases[:3]:
        both |= (t >= a) & (t < b) & (caller_p > 10 ** (-45 / 10))
    ratio = 10 * np.log10(max(out_p[both].sum(), 1e-12) / max(caller_p[both].sum(), 1e-12))
    result: dict[str, Any] = {
        "cpu_us_per_20ms": round(run.cpu_us, 1), "engine_share": round(run.engine_share, 2),
        "erle_db": round(float(erle), 1), "residual_vs_caller_db": round(residual - active_dbfs(sc.caller), 1),
        "false_starts": false, "false_starts_gated": false_gated,
        "double_talk_onset_ms": found, "double_talk_gated_ms": found_gated,
        "double_talk_out_vs_caller_db": round(float(ratio), 1),
    }
    if stt is not None:
        result["double_talk_wer"] = round(wer_of(out, sc.phrases[:3], stt), 3)
    return result


def wer_of(audio: Samples, spans: list[tuple[float, float, str]], stt: Any) -> float:
    errors = total = 0
    for a, b, text in spans:
        clip = audio[int((a - 0.2) * LINE_RATE):int((b + 0.3) * LINE_RATE)]
        heard = asyncio.run(stt.transcribe(clip)).text
        ref, hyp = words(text), words(heard)
        errors += edit_distance(ref, hyp)
        total += len(ref)
    return errors / max(total, 1)


def edit_distance(ref: list[str], hyp: list[str]) -> int:
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (r != h))
    return row[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="*", help="candidate names")
    parser.add_argument("--no-stt", action="store_true", help="skip the Whisper double-talk WER")
    args = parser.parse_args()
    phrases = caller_phrases()
    if not phrases:
        raise SystemExit("no caller audio: tests/fixtures/callers or ../shared/audio/callers")
    lines = agent_lines()
    pool = VadPool()
    stt = None
    if not args.no_stt:
        from agent.stt import WhisperStt
        stt = WhisperStt(ThreadPoolExecutor(1), workers=1)
    names = args.only or list(CANDIDATES)
    results: dict[str, Any] = {}
    for kind in ("pure", "hybrid"):
        for gain in (0.0, -6.0, -12.0):
            sc = build(lines, phrases, gain, kind)
            label = f"{kind} {gain:+.0f} dB"
            for name in names:
                try:
                    run = run_call(CANDIDATES[name], sc, pool)
                except ImportError as exc:
                    print(f"{label:<14} {name:<13} not installed ({exc.name})")
                    continue
                figures = measure(run, sc, stt)
                results.setdefault(label, {})[name] = figures
                print(f"{label:<14} {name:<13} " + " ".join(f"{k}={v}" for k, v in figures.items()), flush=True)
    if stt is not None:
        clean = build(lines, phrases, -200.0, "pure")
        results["clean caller, no echo"] = {"double_talk_wer": round(wer_of(clean.caller, clean.phrases[:3], stt), 3)}
        print("clean caller (no echo, no agent) WER:", results["clean caller, no echo"]["double_talk_wer"])
    path = write_result("echo_cancellers", {"machine": machine(), "args": vars(args), "results": results})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
