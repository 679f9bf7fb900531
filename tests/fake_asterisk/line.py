"""What a bad phone line adds to the far end's audio: an echo of what it hears, line noise and noise
bursts. Mixed per 20 ms tick into what the far end sends (µ-law).

- ``EchoPath(delay_s, gain_db)``: everything the far end hears comes back ``delay_s`` after it was
  played, scaled by ``gain_db``. ``delay_s=0`` is Asterisk's ``Echo()``: the frame goes back the
  moment it is played, byte-identical at 0 dB (traced in ``echo_roundtrip.jsonl``: each frame comes
  back ~16 ms after the app sent it, i.e. when it played; nothing comes back during silence).
  Other delays must be at least one tick (20 ms); the echo then sits on a sample timeline, so 50 ms
  is 2.5 frames, and is mixed with whatever else the far end sends in that tick.
- ``LineNoise(level_dbfs)``: Gaussian noise of that RMS level on every tick (the far end then sends a
  frame every 20 ms, as a real line without silence suppression does). ``LineNoise.at_snr(snr_db)``
  sets it relative to ``REFERENCE_SPEECH_DBFS``, the active speech level of the caller phrases.
- bursts (``burst(kind, ...)``): "white" (broadband hiss), "babble" (a harmonic buzz with
  syllable-rate modulation) or "vowels" (formant-synthesised vowels gliding a-o-e with a wavering
  pitch: no words, but speech to a VAD). Measured with the project's VAD (silero + webrtcvad):
  "white" and "babble" never start speech at -20/-30 dBFS for 0.3-1 s; "vowels" does at every length
  from 0.12 s, and Whisper tiny.en then hears a filler or a backchannel ("Uh.", "Yeah.", "Okay.").

Levels are RMS dBFS: a full-scale square wave is 0 dBFS, a full-scale sine -3 dBFS.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .codecs import MediaFormat, decode, encode

TICK_S = 0.020
REFERENCE_SPEECH_DBFS = -18.0
"""Active speech level of the caller phrases (tests/fixtures/callers), the reference for an SNR."""


@dataclass(frozen=True)
class EchoPath:
    delay_s: float = 0.0
    gain_db: float = 0.0

    def __post_init__(self) -> None:
        if self.delay_s != 0 and self.delay_s < TICK_S - 1e-9:
            raise ValueError(f"echo delay must be 0 (Echo()) or at least {TICK_S * 1000:.0f} ms, got {self.delay_s}")
        if self.delay_s > 2.0:
            raise ValueError(f"echo delay above 2 s: {self.delay_s}")

    @property
    def gain(self) -> float:
        return float(10 ** (self.gain_db / 20))


@dataclass(frozen=True)
class LineNoise:
    level_dbfs: float
    seed: int = 0

    @classmethod
    def at_snr(cls, snr_db: float, seed: int = 0) -> LineNoise:
        return cls(REFERENCE_SPEECH_DBFS - snr_db, seed)


def rms_of(level_dbfs: float) -> float:
    """Linear int16 RMS of a level in dBFS."""
    return float(32768 * 10 ** (level_dbfs / 20))


def level_of(samples: np.ndarray) -> float:
    """RMS level of int16 samples in dBFS."""
    x = samples.astype(np.float64) / 32768
    return float(10 * np.log10(max(float(np.mean(x * x)) if len(x) else 0.0, 1e-12)))


def burst(kind: str, duration_s: float, level_dbfs: float, rate: int, rng: np.random.Generator) -> np.ndarray:
    """A noise burst (int16) with 10 ms fades; its RMS over the whole burst is ``level_dbfs``."""
    n = max(1, int(duration_s * rate))
    t = np.arange(n) / rate
    if kind == "white":
        x = rng.standard_normal(n)
    elif kind == "babble":
        f0 = 110 + 20 * np.sin(2 * np.pi * 1.3 * t)  # a wavering voice-like pitch
        phase = 2 * np.pi * np.cumsum(f0) / rate
        x = sum(np.sin(k * phase) / k for k in range(1, 25)) * (0.6 + 0.4 * np.sin(2 * np.pi * 4.0 * t))
        x = x + 0.05 * rng.standard_normal(n)
    elif kind == "vowels":
        x = _vowels(t, rate, rng)
    else:
        raise ValueError(f"unknown burst kind {kind!r}: 'white', 'babble' or 'vowels'")
    fade = min(n // 2, int(0.01 * rate))
    if fade:
        ramp = np.linspace(0, 1, fade)
        x[:fade] *= ramp
        x[-fade:] *= ramp[::-1]
    x *= rms_of(level_dbfs) / max(float(np.sqrt(np.mean(x * x))), 1e-9)
    return np.clip(np.round(x), -32768, 32767).astype(np.int16)


_VOWELS = [(730, 1090, 2440), (570, 840, 2410), (530, 1840, 2480), (660, 1720, 2410)]  # a, o, e, ae (Hz)


def _resonate(x: np.ndarray, freq: float, bandwidth: float, rate: int) -> np.ndarray:
    """A two-pole resonator (one formant)."""
    r = np.exp(-np.pi * bandwidth / rate)
    a1, a2 = -2 * r * np.cos(2 * np.pi * freq / rate), r * r
    y = np.zeros(len(x))
    y1 = y2 = 0.0
    for i, v in enumerate(x):
        y0 = v - a1 * y1 - a2 * y2
        y[i], y2, y1 = y0, y1, y0
    return y


def _vowels(t: np.ndarray, rate: int, rng: np.random.Generator) -> np.ndarray:
    """A glottal pulse train (120 Hz, wavering) through three formants that step a-o-e-ae."""
    n = len(t)
    phase = np.cumsum(120.0 * (1 + 0.08 * np.sin(2 * np.pi * 1.5 * t))) / rate
    source = np.diff(np.floor(phase), prepend=0.0) + 0.02 * rng.standard_normal(n)
    step = np.minimum((t / max(t[-1], 1e-9) * len(_VOWELS)).astype(int), len(_VOWELS) - 1)
    out = np.zeros(n)
    block = int(0.02 * rate)
    for start in range(0, n, block):
        part = source[start:start + block]
        out[start:start + block] = sum(_resonate(part, f, 80.0, rate) for f in _VOWELS[step[start]])
    return out * (0.55 + 0.45 * np.sin(2 * np.pi * 3.5 * t - np.pi / 2))


class LineMix:
    """Per far end: the echo timeline, the noise generator and queued bursts, on the tick grid."""

    def __init__(self, fmt: MediaFormat) -> None:
        self.fmt = fmt
        self.samples_per_tick = int(fmt.sample_rate * TICK_S)
        self.echo: EchoPath | None = None
        self.noise: LineNoise | None = None
        self._rng = np.random.default_rng(0)
        self._echo_buf: dict[int, np.ndarray] = {}  # tick -> float echo samples due in that tick
        self._heard_cursor = (-1, 0)  # (tick, samples already placed in that tick)
        self._burst = np.zeros(0, np.int16)

    def set_noise(self, noise: LineNoise | None) -> None:
        self.noise = noise
        if noise is not None:
            self._rng = np.random.default_rng(noise.seed)

    def add_burst(self, kind: str, duration_s: float, level_dbfs: float) -> None:
        more = burst(kind, duration_s, level_dbfs, self.fmt.sample_rate, self._rng)
        self._burst = np.concatenate([self._burst, more])

    @property
    def delayed_echo(self) -> bool:
        return self.echo is not None and self.echo.delay_s > 0

    def heard(self, frame: bytes, tick: int) -> None:
        """A frame the far end heard, played in ``tick``: place its delayed echo on the timeline."""
        if not self.delayed_echo:
            return
        assert self.echo is not None
        pcm = decode(self.fmt, frame).astype(np.float64) * self.echo.gain
        placed_tick, placed = self._heard_cursor
        offset = placed if placed_tick == tick else 0  # a second frame in the same tick follows the first
        self._heard_cursor = (tick, offset + len(pcm))
        n = self.samples_per_tick
        start = tick * n + offset + round(self.echo.delay_s * self.fmt.sample_rate)
        for i in range(start // n, (start + len(pcm) - 1) // n + 1):
            lo, hi = max(start, i * n), min(start + len(pcm), (i + 1) * n)
            slot = self._echo_buf.setdefault(i, np.zeros(n))
            slot[lo - i * n:hi - i * n] += pcm[lo - start:hi - start]

    def immediate_echo(self, frame: bytes) -> bytes | None:
        """Echo() with no delay: the frame to send back at once (None when the echo is delayed or off)."""
        if self.echo is None or self.delayed_echo:
            return None
        if self.echo.gain_db == 0:
            return frame
        pcm = decode(self.fmt, frame).astype(np.float64) * self.echo.gain
        return encode(self.fmt, np.clip(np.round(pcm), -32768, 32767).astype(np.int16))

    def mix(self, tick: int, speech: bytes | None) -> bytes | None:
        """What the far end sends in ``tick``: its speech frame plus due echo, noise and burst.
        None when all are absent (Asterisk sends nothing in silence); the speech frame untouched
        when nothing else is present."""
        for old in [t for t in self._echo_buf if t < tick]:
            del self._echo_buf[old]
        echo = self._echo_buf.pop(tick, None)
        noisy = self.noise is not None or len(self._burst) > 0
        if echo is None and not noisy:
            return speech
        n = len(decode(self.fmt, speech)) if speech else self.samples_per_tick
        out = decode(self.fmt, speech).astype(np.float64) if speech else np.zeros(n)
        if echo is not None:
            out[:min(n, len(echo))] += echo[:n]
        if self.noise is not None:
            out += self._rng.standard_normal(n) * rms_of(self.noise.level_dbfs)
        if len(self._burst):
            take, self._burst = self._burst[:n], self._burst[n:]
            out[:len(take)] += take
        return encode(self.fmt, np.clip(np.round(out), -32768, 32767).astype(np.int16))
