"""Framer and PlayoutClock: pure arithmetic, checked against numbers measured on Asterisk."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from media.framing import QUEUE_MAX, XOFF_LEVEL, XON_LEVEL, Framer, PlayoutClock
from media.g711 import ULAW_SILENCE

# --- Framer ----------------------------------------------------------------------------------


def test_framer_yields_whole_frames_and_keeps_the_remainder() -> None:
    framer = Framer()
    assert framer.feed(b"a" * 100) == []
    assert framer.pending == 100
    frames = framer.feed(b"b" * 250)
    assert frames == [b"a" * 100 + b"b" * 60, b"b" * 160]
    assert framer.pending == 30


def test_framer_flush_pads_with_ulaw_silence_by_default() -> None:
    framer = Framer()
    framer.feed(b"\x01" * 157)  # Asterisk's last frame of a file was 157 B
    assert framer.flush() == b"\x01" * 157 + bytes([ULAW_SILENCE]) * 3
    assert framer.pending == 0
    assert framer.flush() is None


def test_framer_for_slin_pads_with_zero() -> None:
    framer = Framer(frame_size=320)
    assert framer.feed(b"\x05" * 640) == [b"\x05" * 320] * 2
    framer.feed(b"\x05")
    assert framer.flush(pad=0) == b"\x05" + b"\x00" * 319


def test_framer_clear_drops_the_partial_frame() -> None:
    framer = Framer()
    framer.feed(b"x" * 170)
    assert framer.clear() == 10
    assert framer.pending == 0
    assert framer.flush() is None


def test_framer_refuses_bad_arguments() -> None:
    with pytest.raises(ValueError):
        Framer(frame_size=0)
    with pytest.raises(ValueError):
        Framer().flush(pad=256)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.binary(max_size=500), max_size=12),
    st.sampled_from([160, 320, 640, 7]),
)
def test_framer_loses_and_reorders_nothing(chunks: list[bytes], size: int) -> None:
    framer = Framer(frame_size=size)
    frames = [frame for chunk in chunks for frame in framer.feed(chunk)]
    tail = framer.flush(pad=0xAA)
    data = b"".join(chunks)
    assert all(len(frame) == size for frame in frames)
    assert b"".join(frames) == data[: len(data) - len(data) % size]
    if len(data) % size:
        assert tail is not None and len(tail) == size
        assert tail == data[len(frames) * size:] + b"\xaa" * (size - len(data) % size)
    else:
        assert tail is None


# --- PlayoutClock: pacing --------------------------------------------------------------------


def test_first_lead_worth_of_frames_may_go_at_once_then_one_per_ptime() -> None:
    clock = PlayoutClock(start=100.0, ptime=0.020, lead=0.080)
    assert clock.due(99.0) == 0
    assert clock.due(100.0) == 5  # frames 0..4: 80 ms ahead of frame 0 playing
    assert clock.due(100.019) == 5
    assert clock.due(100.020) == 6
    assert clock.due(101.0) == 55
    assert [clock.send_time(n) for n in (0, 4)] == [100.0, 100.0]
    assert clock.send_time(5) == pytest.approx(100.020)
    assert clock.send_time(54) == pytest.approx(101.0)


def test_with_no_lead_frames_are_due_exactly_when_they_play() -> None:
    clock = PlayoutClock(start=0.0, lead=0.0)
    assert [clock.due(t) for t in (0.0, 0.0199, 0.02, 0.1)] == [1, 1, 2, 6]
    assert clock.send_time(7) == clock.play_time(7) == pytest.approx(0.14)


@settings(max_examples=150, deadline=None)
@given(
    st.floats(0, 1e7, allow_nan=False),
    st.sampled_from([0.010, 0.020, 0.030]),
    st.floats(0, 0.5),
    st.integers(0, 5000),
)
def test_send_time_and_due_agree(start: float, ptime: float, lead: float, n: int) -> None:
    clock = PlayoutClock(start=start, ptime=ptime, lead=lead)
    at = clock.send_time(n)
    assert clock.due(at) >= n + 1  # frame n is due at its send time
    assert clock.send_time(n) <= clock.play_time(n)
    assert clock.play_time(n) - clock.send_time(n) <= lead + 1e-9


@settings(max_examples=150, deadline=None)
@given(st.floats(0.0, 0.3), st.integers(1, 3000))
def test_a_sender_that_keeps_up_never_queues_more_than_the_lead(lead: float, ticks: int) -> None:
    clock = PlayoutClock(start=10.0, lead=lead)
    now = 10.0 + ticks * 0.007
    sent = clock.due(now)
    # the lead, plus the frame playing now
    assert clock.queued(now, sent) <= int(lead / clock.ptime + 1e-6) + 2


def test_sendable_never_lets_the_queue_reach_xoff() -> None:
    clock = PlayoutClock(start=0.0, lead=60.0)  # a bulk sender, far ahead of playout
    sent = 0
    for step in range(0, 2000):
        now = step * 0.005
        sent += clock.sendable(now, sent)
        assert clock.queued(now, sent) < XOFF_LEVEL
    assert clock.queued(now, sent) == XOFF_LEVEL - 1


def test_sendable_is_the_due_frames_when_far_from_xoff() -> None:
    clock = PlayoutClock(start=0.0, lead=0.1)
    assert clock.sendable(0.0, 0) == 6
    assert clock.sendable(0.0, 6) == 0
    assert clock.sendable(0.05, 6) == 2
    assert clock.sendable(-1.0, 0) == 0


# --- PlayoutClock: the queue model against the traces ------------------------------------------


def test_mark_after_a_one_second_burst_plays_out_like_on_asterisk() -> None:
    # media_protocol_plain.jsonl: 50 frames sent at t=0.0535, STATUS queue_length:50 at
    # t=0.0542, MEDIA_MARK_PROCESSED (queued after frame 49) at t=1.0702.
    clock = PlayoutClock(start=0.0535)
    assert clock.queued(0.0542, 50) == 50
    assert clock.played(1.0702, 50) == 50
    assert clock.played(1.0, 50) == 47  # mid-utterance: what the caller heard so far


def test_xon_after_a_full_queue_comes_when_the_model_says() -> None:
    # media_protocol_plain.jsonl: 1250 frames burst at t=5.3167; Asterisk kept 1000
    # (QUEUE_MAX) and dropped the rest; MEDIA_XON at t=9.3502, STATUS queue_length:798
    # at t=9.3505.
    clock = PlayoutClock(start=5.3167)
    assert clock.queued(5.3266, QUEUE_MAX) == QUEUE_MAX
    assert clock.queued(9.3502, QUEUE_MAX) < XON_LEVEL
    assert abs(clock.queued(9.3505, QUEUE_MAX) - 798) <= 2
    assert clock.queued(9.30, QUEUE_MAX) >= XON_LEVEL


def test_played_is_clamped_to_what_was_sent() -> None:
    clock = PlayoutClock(start=0.0)
    assert clock.played(-5.0, 10) == 0
    assert clock.played(100.0, 10) == 10
    assert clock.queued(100.0, 10) == 0


@settings(max_examples=150, deadline=None)
@given(st.floats(-10, 100), st.integers(0, 2000))
def test_played_plus_queued_is_sent(now: float, sent: int) -> None:
    clock = PlayoutClock(start=3.0)
    played = clock.played(now, sent)
    assert 0 <= played <= sent
    assert played + clock.queued(now, sent) == sent


@settings(max_examples=100, deadline=None)
@given(st.floats(0, 50), st.floats(0, 50))
def test_played_never_decreases_with_time(a: float, b: float) -> None:
    clock = PlayoutClock(start=1.0)
    early, late = sorted((a, b))
    assert clock.played(early, 500) <= clock.played(late, 500)


# --- PlayoutClock: gaps and pauses ------------------------------------------------------------


def test_resync_after_the_queue_ran_dry_restarts_playout_at_now() -> None:
    clock = PlayoutClock(start=0.0, lead=0.06)
    assert not clock.ran_dry(0.1, 10)
    assert clock.resync(0.1, 10) is clock
    assert clock.ran_dry(1.0, 10)  # 10 frames ended at 0.2 s; silence since
    later = clock.resync(1.0, 10)
    assert later.play_time(10) == pytest.approx(1.0)
    assert later.queued(1.0, 10) == 0
    assert later.sendable(1.0, 10) == 4  # the lead again, not a 0.8 s catch-up burst
    assert later.ptime == clock.ptime and later.lead == clock.lead


def test_shifted_delays_playout_by_a_pause() -> None:
    # media_protocol_plain.jsonl: 25 frames queued, paused 1.0 s, 0.2 s after CONTINUE
    # the queue was 15.
    clock = PlayoutClock(start=3.0 - 25 * 0.020)  # 25 frames still queued at t=3.0
    assert clock.queued(3.0, 50) == 25
    resumed = clock.shifted(1.0)
    assert resumed.queued(4.0, 50) == 25
    assert resumed.queued(4.2, 50) == 15


def test_clock_refuses_bad_arguments() -> None:
    with pytest.raises(ValueError):
        PlayoutClock(start=0.0, ptime=0.0)
    with pytest.raises(ValueError):
        PlayoutClock(start=0.0, lead=-0.01)
