"""The call recorder on a scripted clock: both sides land where they happened in a stereo WAV,
silence fills the gaps Asterisk leaves, jitter inserts nothing, a flush cuts the unheard agent
audio, a write error only stops the recording."""
from __future__ import annotations

import asyncio
import wave
from pathlib import Path

import numpy as np
import pytest

import media.recording
from media.g711 import ULAW_DECODE
from media.recording import Recorder

FRAME = 160


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def tone(code: int, frames: int = 1) -> bytes:
    return bytes([code]) * (FRAME * frames)


def channels(path: Path) -> tuple[np.ndarray, np.ndarray]:
    with wave.open(str(path), "rb") as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (2, 2, 8000)
        data = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")
    return data[0::2], data[1::2]


def level(code: int) -> int:
    return int(ULAW_DECODE[code])


async def test_both_sides_are_placed_on_one_timeline(tmp_path: Path) -> None:
    clock = Clock()
    recorder = await Recorder.start(tmp_path / "run-1.wav", clock)
    # Agent: 10 frames of code 0x10 played from t=0 (sent ahead, stamped with their play time).
    recorder.agent(tone(0x10, 10), clock.now)
    # Caller: silent for 1 s (Asterisk sends nothing), then 5 frames, 20 ms apart, with a little jitter.
    for i, jitter in enumerate((0.0, 0.015, -0.01, 0.03, 0.0)):
        recorder.caller(tone(0x20), clock.now + 1.0 + i * 0.02 + jitter)
    clock.now += 1.2
    seconds = await recorder.close()
    assert seconds == pytest.approx(1.2, abs=0.001)
    assert not (tmp_path / "run-1.wav.part").exists()
    left, right = channels(tmp_path / "run-1.wav")
    assert len(left) == 9600
    assert list(np.flatnonzero(right != 0)[[0, -1]]) == [0, 10 * FRAME - 1]
    assert np.all(right[: 10 * FRAME] == level(0x10))
    speech = np.flatnonzero(left != 0)
    assert list(speech[[0, -1]]) == [8000, 8000 + 5 * FRAME - 1]  # jitter inserted no gap
    assert np.all(left[8000: 8000 + 5 * FRAME] == level(0x20))


async def test_a_flush_cuts_what_the_caller_never_heard_and_gaps_are_silence(tmp_path: Path) -> None:
    clock = Clock()
    recorder = await Recorder.start(tmp_path / "r.wav", clock)
    recorder.agent(tone(0x10, 50), clock.now)  # one second queued at Asterisk
    recorder.agent_flushed(clock.now + 0.3)  # barge-in after 0.3 s: the rest was dropped
    recorder.agent(tone(0x30, 5), clock.now + 0.5)  # the next reply, after 0.2 s of nothing
    clock.now += 1.0
    await recorder.close()
    _, right = channels(tmp_path / "r.wav")
    assert np.all(right[:2400] == level(0x10))
    assert np.all(right[2400:4000] == 0)
    assert np.all(right[4000:4000 + 5 * FRAME] == level(0x30))
    assert np.all(right[4000 + 5 * FRAME:] == 0)


async def test_long_calls_are_written_as_they_go(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(media.recording, "WRITE_EVERY_S", 0.01)
    clock = Clock()
    recorder = await Recorder.start(tmp_path / "long.wav", clock)
    for _ in range(5):
        for i in range(50):
            recorder.caller(tone(0x20), clock.now + i * 0.02)
        clock.now += 1.0
    part = tmp_path / "long.wav.part"
    # The writer puts everything older than SETTLE_S (1 s) on disk while the call goes on.
    async with asyncio.timeout(5):
        while part.stat().st_size < 44 + 4 * 8000 * 4:
            await asyncio.sleep(0.01)
    assert await recorder.close() == pytest.approx(5.0)
    left, right = channels(tmp_path / "long.wav")
    assert np.all(left == level(0x20)) and np.all(right == 0)


async def test_a_write_error_stops_the_recording_only(tmp_path: Path) -> None:
    clock = Clock()
    recorder = await Recorder.start(tmp_path / "gone.wav", clock)
    recorder.caller(tone(0x20), clock.now)

    def full(pcm: bytes) -> None:
        raise OSError(28, "No space left on device")

    recorder._append = full  # type: ignore[method-assign]
    clock.now += 1
    assert await recorder.close() is None
    assert not (tmp_path / "gone.wav").exists() and not (tmp_path / "gone.wav.part").exists()
    recorder.caller(tone(0x20), clock.now)  # the session may still tap it: harmless
