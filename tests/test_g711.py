"""G.711: bit-exact with the stdlib ``audioop`` reference over every input value.

``audioop`` is gone in Python 3.13, so its output over every input is kept in
tests/fixtures/g711_audioop.npz (made with Python 3.11's audioop; checked against it where it exists)."""

from __future__ import annotations

import importlib.util
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from media import g711
from tests.fixtures import FIXTURES_DIR

ALL_PCM = np.arange(-32768, 32768, dtype="<i2").tobytes()
ALL_CODES = bytes(range(256))
AUDIOOP = dict(np.load(FIXTURES_DIR / "g711_audioop.npz"))  # audioop's output for ALL_PCM / ALL_CODES


def audioop_encode(law: str, pcm: bytes) -> bytes:
    return bytes(AUDIOOP[f"{law}_encode"][np.frombuffer(pcm, dtype="<i2").astype(np.int32) + 32768])


@pytest.mark.skipif(importlib.util.find_spec("audioop") is None, reason="no audioop in Python 3.13+")
def test_the_kept_reference_is_what_audioop_computes() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import audioop
    assert AUDIOOP["ulaw_encode"].tobytes() == audioop.lin2ulaw(ALL_PCM, 2)
    assert AUDIOOP["alaw_encode"].tobytes() == audioop.lin2alaw(ALL_PCM, 2)
    assert AUDIOOP["ulaw_decode"].astype("<i2").tobytes() == audioop.ulaw2lin(ALL_CODES, 2)
    assert AUDIOOP["alaw_decode"].astype("<i2").tobytes() == audioop.alaw2lin(ALL_CODES, 2)


def test_ulaw_encode_matches_audioop_for_all_65536_samples() -> None:
    assert g711.pcm16_to_ulaw(ALL_PCM) == AUDIOOP["ulaw_encode"].tobytes()


def test_ulaw_decode_matches_audioop_for_all_256_codes() -> None:
    assert g711.ulaw_to_pcm16(ALL_CODES) == AUDIOOP["ulaw_decode"].astype("<i2").tobytes()


def test_alaw_encode_matches_audioop_for_all_65536_samples() -> None:
    assert g711.pcm16_to_alaw(ALL_PCM) == AUDIOOP["alaw_encode"].tobytes()


def test_alaw_decode_matches_audioop_for_all_256_codes() -> None:
    assert g711.alaw_to_pcm16(ALL_CODES) == AUDIOOP["alaw_decode"].astype("<i2").tobytes()


def test_silence_codes_are_what_zero_encodes_to() -> None:
    assert g711.ulaw_to_pcm16(bytes([g711.ULAW_SILENCE])) == b"\x00\x00"
    assert g711.ALAW_DECODE[g711.ALAW_SILENCE] == 8  # A-law has no zero: +8 is the quietest
    assert g711.pcm16_to_ulaw(b"\x00\x00" * 3) == bytes([g711.ULAW_SILENCE]) * 3
    assert g711.pcm16_to_alaw(b"\x00\x00") == bytes([g711.ALAW_SILENCE])


def test_tables_have_the_documented_shapes_and_are_read_only() -> None:
    assert g711.ULAW_DECODE.shape == (256,) and g711.ULAW_DECODE.dtype == np.int16
    assert g711.ALAW_DECODE.shape == (256,) and g711.ALAW_DECODE.dtype == np.int16
    assert g711.ULAW_ENCODE.shape == (65536,) and g711.ULAW_ENCODE.dtype == np.uint8
    assert g711.ALAW_ENCODE.shape == (65536,) and g711.ALAW_ENCODE.dtype == np.uint8
    with pytest.raises(ValueError):
        g711.ULAW_ENCODE[0] = 1


def test_array_variants_agree_with_the_bytes_variants() -> None:
    samples = np.frombuffer(ALL_PCM, dtype="<i2")
    assert g711.ulaw_encode(samples).tobytes() == g711.pcm16_to_ulaw(ALL_PCM)
    assert g711.alaw_encode(samples).tobytes() == g711.pcm16_to_alaw(ALL_PCM)
    codes = np.frombuffer(ALL_CODES, dtype=np.uint8)
    assert g711.ulaw_decode(codes).astype("<i2").tobytes() == g711.ulaw_to_pcm16(ALL_CODES)
    assert g711.alaw_decode(codes).astype("<i2").tobytes() == g711.alaw_to_pcm16(ALL_CODES)


def test_pcm_is_little_endian() -> None:
    assert g711.ulaw_to_pcm16(b"\x00") == np.array([-32124], dtype="<i2").tobytes()
    assert g711.pcm16_to_ulaw(np.array([-32124], dtype="<i2").tobytes()) == b"\x00"


def test_odd_length_pcm_is_refused() -> None:
    with pytest.raises(ValueError, match="even"):
        g711.pcm16_to_ulaw(b"\x00\x00\x00")
    with pytest.raises(ValueError, match="even"):
        g711.pcm16_to_alaw(b"\x01")


def test_bytes_like_inputs_are_accepted() -> None:
    assert g711.pcm16_to_ulaw(bytearray(4)) == b"\xff\xff"
    assert g711.ulaw_to_pcm16(memoryview(b"\xff")) == b"\x00\x00"


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400))
def test_ulaw_decode_then_encode_is_the_identity_on_codes(codes: bytes) -> None:
    # 0x7F and 0xFF both decode to 0, which encodes to 0xFF: the only non-bijective pair.
    expected = codes.replace(b"\x7f", b"\xff")
    assert g711.pcm16_to_ulaw(g711.ulaw_to_pcm16(codes)) == expected


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400))
def test_alaw_decode_then_encode_is_the_identity_on_codes(codes: bytes) -> None:
    assert g711.pcm16_to_alaw(g711.alaw_to_pcm16(codes)) == codes


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(-32768, 32767), max_size=200))
def test_encode_then_decode_stays_within_a_sixteenth_of_the_sample(values: list[int]) -> None:
    samples = np.array(values, dtype=np.int16)
    exact = samples.astype(np.int32)
    bound = np.maximum(np.abs(exact) // 16, 16)  # log companding: error grows with size
    for encode, decode in ((g711.ulaw_encode, g711.ulaw_decode), (g711.alaw_encode, g711.alaw_decode)):
        codes = encode(samples)
        assert codes.shape == samples.shape
        assert np.all(np.abs(decode(codes).astype(np.int32) - exact) <= bound)


def test_encode_then_decode_is_monotonic_over_all_samples() -> None:
    samples = np.frombuffer(ALL_PCM, dtype="<i2")
    for encode, decode in ((g711.ulaw_encode, g711.ulaw_decode), (g711.alaw_encode, g711.alaw_decode)):
        assert np.all(np.diff(decode(encode(samples)).astype(np.int32)) >= 0)


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=400).map(lambda b: b[: len(b) // 2 * 2]))
def test_encoders_match_audioop_on_random_buffers(pcm: bytes) -> None:
    assert g711.pcm16_to_ulaw(pcm) == audioop_encode("ulaw", pcm)
    assert g711.pcm16_to_alaw(pcm) == audioop_encode("alaw", pcm)
