"""G.711 µ-law and A-law codecs over numpy lookup tables.

Bit-exact with the classic Sun/CCITT reference code (the algorithm of the stdlib
``audioop``: ``lin2ulaw``/``ulaw2lin``/``lin2alaw``/``alaw2lin`` with width 2).

- decode: a 256-entry table from code to int16;
- encode: a 65,536-entry table indexed by the uint16 view of an int16 sample.

PCM is signed 16-bit little-endian (Asterisk ``slin`` on the hosts we run on).

Errors: a PCM buffer of odd length raises ``ValueError``.
"""

from __future__ import annotations

from typing import TypeVar

import numpy as np
import numpy.typing as npt

__all__ = [
    "ALAW_DECODE",
    "ALAW_ENCODE",
    "ALAW_SILENCE",
    "ULAW_DECODE",
    "ULAW_ENCODE",
    "ULAW_SILENCE",
    "alaw_decode",
    "alaw_encode",
    "alaw_to_pcm16",
    "pcm16_to_alaw",
    "pcm16_to_ulaw",
    "ulaw_decode",
    "ulaw_encode",
    "ulaw_to_pcm16",
]

ULAW_SILENCE = 0xFF
"""The µ-law code of 0 (what Asterisk pads with)."""
ALAW_SILENCE = 0xD5
"""The A-law code that 0 encodes to (it decodes to +8: A-law has no exact zero)."""

_PCM = np.dtype("<i2")
_Codes = npt.NDArray[np.uint8]
_Samples = npt.NDArray[np.int16]


def _segment(magnitude: npt.NDArray[np.int32], ends: list[int]) -> npt.NDArray[np.int32]:
    """Index of the first segment end >= magnitude (8 when above all of them)."""
    return np.searchsorted(np.array(ends), magnitude, side="left").astype(np.int32)


def _build_ulaw_decode() -> _Samples:
    u = ~np.arange(256, dtype=np.int32) & 0xFF
    t = (((u & 0x0F) << 3) + 0x84) << ((u & 0x70) >> 4)
    return np.where(u & 0x80, 0x84 - t, t - 0x84).astype(np.int16)


def _build_ulaw_encode() -> _Codes:
    pcm = np.arange(65536, dtype=np.int32).astype(np.uint16).view(np.int16).astype(np.int32)
    value = pcm >> 2  # 14-bit
    mask = np.where(value < 0, 0x7F, 0xFF)
    magnitude = np.minimum(np.abs(value), 8159) + 33
    seg = _segment(magnitude, [0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF])
    code = (np.minimum(seg, 7) << 4) | ((magnitude >> (np.minimum(seg, 7) + 1)) & 0x0F)
    code = np.where(seg >= 8, 0x7F, code)
    return ((code ^ mask) & 0xFF).astype(np.uint8)


def _build_alaw_decode() -> _Samples:
    a = np.arange(256, dtype=np.int32) ^ 0x55
    seg = (a & 0x70) >> 4
    t = (a & 0x0F) << 4
    t = np.where(seg == 0, t + 8, (t + 0x108) << np.maximum(seg - 1, 0))
    return np.where(a & 0x80, t, -t).astype(np.int16)


def _build_alaw_encode() -> _Codes:
    pcm = np.arange(65536, dtype=np.int32).astype(np.uint16).view(np.int16).astype(np.int32)
    value = pcm >> 3  # 13-bit
    mask = np.where(value >= 0, 0xD5, 0x55)
    magnitude = np.where(value >= 0, value, -value - 1)
    seg = _segment(magnitude, [0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF])
    shift = np.where(seg < 2, 1, np.minimum(seg, 7))
    code = (np.minimum(seg, 7) << 4) | ((magnitude >> shift) & 0x0F)
    code = np.where(seg >= 8, 0x7F, code)
    return ((code ^ mask) & 0xFF).astype(np.uint8)


_T = TypeVar("_T", bound=np.generic)


def _frozen(table: npt.NDArray[_T]) -> npt.NDArray[_T]:
    table.setflags(write=False)
    return table


ULAW_DECODE: _Samples = _frozen(_build_ulaw_decode())
ULAW_ENCODE: _Codes = _frozen(_build_ulaw_encode())
ALAW_DECODE: _Samples = _frozen(_build_alaw_decode())
ALAW_ENCODE: _Codes = _frozen(_build_alaw_encode())


# --- numpy arrays --------------------------------------------------------------------------


def ulaw_decode(codes: npt.ArrayLike) -> _Samples:
    """µ-law codes (uint8) -> int16 samples."""
    return ULAW_DECODE[np.asarray(codes, dtype=np.uint8)]


def ulaw_encode(samples: npt.ArrayLike) -> _Codes:
    """int16 samples -> µ-law codes (uint8)."""
    return ULAW_ENCODE[np.asarray(samples, dtype=np.int16).view(np.uint16)]


def alaw_decode(codes: npt.ArrayLike) -> _Samples:
    """A-law codes (uint8) -> int16 samples."""
    return ALAW_DECODE[np.asarray(codes, dtype=np.uint8)]


def alaw_encode(samples: npt.ArrayLike) -> _Codes:
    """int16 samples -> A-law codes (uint8)."""
    return ALAW_ENCODE[np.asarray(samples, dtype=np.int16).view(np.uint16)]


# --- bytes ---------------------------------------------------------------------------------


def _pcm(data: bytes | bytearray | memoryview) -> _Samples:
    if len(data) % 2:
        raise ValueError(f"16-bit PCM needs an even number of bytes, got {len(data)}")
    return np.frombuffer(data, dtype=_PCM).astype(np.int16)


def _codes(data: bytes | bytearray | memoryview) -> _Codes:
    return np.frombuffer(data, dtype=np.uint8)


def ulaw_to_pcm16(data: bytes | bytearray | memoryview) -> bytes:
    """µ-law bytes -> 16-bit little-endian PCM bytes (twice as long)."""
    return ulaw_decode(_codes(data)).astype(_PCM).tobytes()


def pcm16_to_ulaw(data: bytes | bytearray | memoryview) -> bytes:
    """16-bit little-endian PCM bytes -> µ-law bytes (half as long)."""
    return ulaw_encode(_pcm(data)).tobytes()


def alaw_to_pcm16(data: bytes | bytearray | memoryview) -> bytes:
    """A-law bytes -> 16-bit little-endian PCM bytes (twice as long)."""
    return alaw_decode(_codes(data)).astype(_PCM).tobytes()


def pcm16_to_alaw(data: bytes | bytearray | memoryview) -> bytes:
    """16-bit little-endian PCM bytes -> A-law bytes (half as long)."""
    return alaw_encode(_pcm(data)).tobytes()
