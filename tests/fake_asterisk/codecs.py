"""Media formats known to the fake and a small numpy transcoder (G.711 <-> slin, linear resampling).

Real Asterisk transcodes between channels of different formats; the fake does the same for
ulaw/alaw/slin* so that, e.g., a µ-law caller bridged with a slin16 external media channel works.
Formats it cannot transcode (g722, gsm, opus, ...) are forwarded untouched.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class MediaFormat:
    name: str
    sample_rate: int
    optimal_frame_size: int  # bytes per 20 ms (0 = passthrough)
    passthrough: bool = False
    ptime: int = 20

    @property
    def transcodable(self) -> bool:
        return self.name in ("ulaw", "alaw") or self.name.startswith("slin")


def _slin(name: str, rate: int) -> MediaFormat:
    return MediaFormat(name, rate, rate * 2 // 50)


FORMATS: dict[str, MediaFormat] = {
    "ulaw": MediaFormat("ulaw", 8000, 160),
    "alaw": MediaFormat("alaw", 8000, 160),
    "slin": _slin("slin", 8000),
    "slin12": _slin("slin12", 12000),
    "slin16": _slin("slin16", 16000),
    "slin24": _slin("slin24", 24000),
    "slin32": _slin("slin32", 32000),
    "slin44": _slin("slin44", 44100),
    "slin48": _slin("slin48", 48000),
    "slin96": _slin("slin96", 96000),
    "slin192": _slin("slin192", 192000),
    "g722": MediaFormat("g722", 16000, 160),
    "gsm": MediaFormat("gsm", 8000, 33),
    # Codecs whose minimum_bytes <= 10: chan_websocket forces passthrough (no re-timing).
    "opus": MediaFormat("opus", 48000, 0, passthrough=True),
    "g729": MediaFormat("g729", 8000, 0, passthrough=True),
}


def get_format(name: str | None) -> MediaFormat | None:
    if not name:
        return None
    return FORMATS.get(name.strip().lower())


ULAW = FORMATS["ulaw"]


def _ulaw_decode_table() -> np.ndarray:
    u = (~np.arange(256, dtype=np.int32)) & 0xFF
    sign = u & 0x80
    exponent = (u >> 4) & 0x07
    mantissa = u & 0x0F
    sample = (((mantissa << 3) + 0x84) << exponent) - 0x84
    return np.where(sign != 0, -sample, sample).astype(np.int16)


def _ulaw_encode_table() -> np.ndarray:
    x = np.arange(-32768, 32768, dtype=np.int32)
    sign = (x < 0).astype(np.int32)
    mag = np.minimum(np.abs(x), 32635) + 0x84
    exponent = np.clip(np.floor(np.log2(mag)).astype(np.int32) - 7, 0, 7)
    mantissa = (mag >> (exponent + 3)) & 0x0F
    return ((~((sign << 7) | (exponent << 4) | mantissa)) & 0xFF).astype(np.uint8)


def _alaw_decode_table() -> np.ndarray:
    a = np.arange(256, dtype=np.int32) ^ 0x55
    t = (a & 0x0F) << 4
    seg = (a & 0x70) >> 4
    t = np.where(seg == 0, t + 8, t + 0x108)
    t = np.where(seg > 1, t << np.maximum(seg - 1, 0), t)
    return np.where((a & 0x80) != 0, t, -t).astype(np.int16)


def _alaw_encode_table() -> np.ndarray:
    x = np.arange(-32768, 32768, dtype=np.int32) >> 3
    mask = np.where(x >= 0, 0xD5, 0x55)
    x = np.where(x >= 0, x, -x - 1)
    seg_end = np.array([0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF])
    seg = np.searchsorted(seg_end, x, side="left")
    aval = np.where(seg < 2, (x >> 1) & 0x0F, (x >> np.minimum(seg, 7)) & 0x0F) | (np.minimum(seg, 7) << 4)
    aval = np.where(seg >= 8, 0x7F, aval)
    return (aval ^ mask).astype(np.uint8)


_ULAW_DEC = _ulaw_decode_table()
_ULAW_ENC = _ulaw_encode_table()
_ALAW_DEC = _alaw_decode_table()
_ALAW_ENC = _alaw_encode_table()


def decode(fmt: MediaFormat, data: bytes) -> np.ndarray:
    """Bytes in ``fmt`` -> int16 samples at ``fmt.sample_rate``."""
    raw = np.frombuffer(data, dtype=np.uint8)
    if fmt.name == "ulaw":
        return _ULAW_DEC[raw]
    if fmt.name == "alaw":
        return _ALAW_DEC[raw]
    usable = len(data) - (len(data) % 2)
    return np.frombuffer(data[:usable], dtype="<i2").astype(np.int16)


def encode(fmt: MediaFormat, samples: np.ndarray) -> bytes:
    idx = samples.astype(np.int32) + 32768
    if fmt.name == "ulaw":
        return _ULAW_ENC[idx].tobytes()
    if fmt.name == "alaw":
        return _ALAW_ENC[idx].tobytes()
    return samples.astype("<i2").tobytes()


def resample(samples: np.ndarray, src_rate: int, dst_rate: int) -> np.ndarray:
    if src_rate == dst_rate or len(samples) == 0:
        return samples
    n_out = max(1, int(round(len(samples) * dst_rate / src_rate)))
    x_old = np.arange(len(samples), dtype=np.float64)
    x_new = np.linspace(0, len(samples) - 1, n_out)
    return np.round(np.interp(x_new, x_old, samples.astype(np.float64))).astype(np.int16)


def convert(data: bytes, src: MediaFormat, dst: MediaFormat) -> bytes:
    """Transcode one frame; identity when formats match or cannot be transcoded."""
    if src.name == dst.name or not (src.transcodable and dst.transcodable) or not data:
        return data
    return encode(dst, resample(decode(src, data), src.sample_rate, dst.sample_rate))
