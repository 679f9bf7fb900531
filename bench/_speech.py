"""Speech for the audio benchmarks: the caller phrases (tests/fixtures, else ../shared/audio/callers)
and agent sentences in the agent's own voice (hibari, as on a real call)."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from agent.audio import LINE_RATE, Samples, resample, trim_silence, ulaw_to_float  # noqa: E402

CALLER_TEXTS = [
    "I would like to book an appointment for Tuesday.", "What are your opening hours?", "Yes.", "No.",
    "Transfer me to sales.", "My number is 5 5 5, 1 2 3 4.", "Can I speak to a real person, please?",
    "I want to cancel my order.", "Do you have any availability tomorrow morning?", "Thank you, goodbye.",
]
AGENT_LINES = [
    "Thanks for calling Acme. Say sales or support, or press one or two.",
    "I can help you with bookings, opening hours and orders.",
    "Our opening hours are nine to five, Monday to Friday, and ten to two on Saturdays.",
    "Let me check that for you. One moment please.",
    "I have a slot on Tuesday at ten in the morning. Would that suit you?",
    "Sorry, I didn't catch that. Could you say it again?",
]


def caller_dir() -> Path | None:
    for candidate in (ROOT / "tests" / "fixtures" / "callers", ROOT.parent / "shared" / "audio" / "callers"):
        if (candidate / "00.ul").exists():
            return candidate
    return None


def caller_phrases() -> list[tuple[str, Samples]]:
    """(text, 8 kHz float32) for each caller phrase; empty when no caller audio is around."""
    folder = caller_dir()
    if folder is None:
        return []
    out: list[tuple[str, Samples]] = []
    for n, text in enumerate(CALLER_TEXTS):
        out.append((text, ulaw_to_float((folder / f"{n:02d}.ul").read_bytes())))
    return out


def agent_lines() -> list[Samples]:
    """The agent's sentences at 8 kHz, trimmed as agent.tts trims them."""
    from hibari import SAMPLE_RATE, Hibari
    engine = Hibari(voice="heart", threads=1)
    lines: list[Samples] = []
    for text in AGENT_LINES:
        chunks = [np.asarray(c, dtype=np.float32) for c in engine.stream(text)]
        audio = np.concatenate([trim_silence(c, SAMPLE_RATE) for c in chunks])
        lines.append(resample(audio, SAMPLE_RATE, LINE_RATE))
    return lines


def dbfs(samples: Samples) -> float:
    """RMS level in dB relative to full scale (a full-scale square wave is 0 dBFS)."""
    power = float(np.mean(np.square(samples, dtype=np.float64))) if len(samples) else 0.0
    return 10 * float(np.log10(max(power, 1e-12)))


def active_dbfs(samples: Samples, frame: int = 160, floor_db: float = -50.0) -> float:
    """Level over the 20 ms frames above `floor_db` (a crude active speech level)."""
    whole = samples[: len(samples) // frame * frame].reshape(-1, frame).astype(np.float64)
    power = np.mean(whole**2, axis=1)
    loud = power[10 * np.log10(np.maximum(power, 1e-12)) > floor_db]
    return 10 * float(np.log10(max(float(loud.mean()) if len(loud) else 0.0, 1e-12)))
