"""The fake's bad-line modes: an echo path with a delay and a gain, line noise, noise bursts; from
the Python API and from the control surface. Real loopback sockets, as in the other fake tests."""
from __future__ import annotations

import json

import httpx
import numpy as np
import pytest

from tests.fake_asterisk import EchoPath, LineNoise
from tests.fake_asterisk.codecs import ULAW, decode, encode
from tests.fake_asterisk.harness import wait_for
from tests.fake_asterisk.line import REFERENCE_SPEECH_DBFS, burst, level_of
from tests.fixtures import TRACES_DIR
from tests.test_fake_asterisk_behaviour import Rig, rig  # noqa: F401  (the fixture)

TRACE = TRACES_DIR / "echo_roundtrip.jsonl"


def chirp(frames: int, level_dbfs: float = -12.0) -> bytes:
    """A rising tone (no two frames alike), µ-law."""
    t = np.arange(frames * 160) / 8000
    x = np.sin(2 * np.pi * (300 + 1500 * t / t[-1]) * t) * 32768 * 10 ** ((level_dbfs + 3) / 20)
    return encode(ULAW, np.round(x).astype(np.int16))


def timeline(frames: list[tuple[int, bytes]], start_tick: int, ticks: int) -> np.ndarray:
    """Frames (tick, µ-law) laid on a sample timeline starting at `start_tick`."""
    out = np.zeros(ticks * 160)
    for tick, data in frames:
        at = (tick - start_tick) * 160
        if 0 <= at < len(out):
            pcm = decode(ULAW, data).astype(np.float64)[: len(out) - at]
            out[at:at + len(pcm)] = pcm
    return out


@pytest.mark.parametrize(("delay_s", "gain_db"), [(0.040, 0.0), (0.040, -6.0), (0.050, -12.0)])
async def test_echo_comes_back_after_the_delay_with_the_gain(rig: Rig, delay_s: float, gain_db: float) -> None:  # noqa: F811
    cid, em, conn, _ = await rig.call_with_media()
    rig.fake.set_caller_echo(cid, EchoPath(delay_s, gain_db))
    far = rig.fake.caller(cid)
    rec = rig.fake.media_for(em)
    assert rec is not None
    sent = chirp(25)
    await conn.send_binary(sent)
    await wait_for(lambda: len(rec.played) == 25, timeout=5)
    await wait_for(lambda: rig.fake.media_tick() > rec.played[-1].tick + 4)  # the echo tail is out
    first = rec.played[0].tick
    span = 25 + 4
    played = timeline([(f.tick, f.data) for f in rec.played], first, span)
    echoed = timeline([(f.tick, f.data) for f in far.sent], first, span)
    lags = np.arange(0, 1000)
    scores = [float(np.dot(played[: len(played) - lag], echoed[lag:])) for lag in lags]
    assert int(lags[int(np.argmax(scores))]) == round(delay_s * 8000)  # the delay, to the sample
    lag = round(delay_s * 8000)
    ratio_db = level_of(echoed[lag:lag + 25 * 160]) - level_of(played[: 25 * 160])
    assert abs(ratio_db - gain_db) < 0.3
    if gain_db == 0 and lag % 160 == 0:  # whole frames at 0 dB: byte-identical, as Echo()
        assert b"".join(f.data for f in far.sent[:25]) == sent
    # and the app receives exactly what the far end sent back
    await wait_for(lambda: len(conn.binaries) >= len(far.sent))
    assert conn.binaries[: len(far.sent)] == [f.data for f in far.sent]


async def test_plain_echo_returns_each_frame_in_the_tick_it_played(rig: Rig) -> None:  # noqa: F811
    """Echo(): the trace shows each paced frame back 14-17 ms after it was sent, i.e. as it played
    (the next 20 ms tick); the fake sends it back in the very tick it plays it."""
    cid, em, conn, _ = await rig.call_with_media()
    rig.fake.set_caller_echo(cid, True)
    far, rec = rig.fake.caller(cid), rig.fake.media_for(em)
    assert rec is not None
    await conn.send_binary(chirp(10))
    await wait_for(lambda: len(far.sent) == 10)
    assert [f.tick for f in far.sent] == [f.tick for f in rec.played]
    assert [f.data for f in far.sent] == [f.data for f in rec.played]


def test_the_trace_echo_timing_the_fake_follows() -> None:
    recs = [json.loads(line) for line in TRACE.read_text().splitlines()]
    binary = [r for r in recs if r["channel"] == "media_ws" and r["kind"] == "binary"]
    out = [r for r in binary if r["dir"] == "out" and r["payload"]["size"] == 160]
    back = [r for r in binary if r["dir"] == "in"]
    assert [r["payload"]["head_hex"] for r in back[: len(out)]] == [r["payload"]["head_hex"] for r in out]
    delays = [b["t"] - o["t"] for o, b in zip(out, back[: len(out)], strict=True)]
    assert all(0 < d < 0.020 for d in delays)  # back within the tick that played it
    burst = back[len(out):]
    assert len(burst) == 100 and 0.0195 < (burst[-1]["t"] - burst[0]["t"]) / 99 < 0.0205  # re-timed playout


async def test_line_noise_has_the_configured_level_and_flows_in_silence(rig: Rig) -> None:  # noqa: F811
    cid, _, conn, _ = await rig.call_with_media()
    rig.fake.set_line_noise(cid, LineNoise(-40.0, seed=3))
    await wait_for(lambda: len(conn.binaries) >= 100, timeout=10)  # a frame every tick, nobody talking
    pcm = np.concatenate([decode(ULAW, b) for b in conn.binaries[:100]])
    assert abs(level_of(pcm) - -40.0) < 1.0
    rig.fake.set_line_noise(cid, None)
    far = rig.fake.caller(cid)
    count = len(far.sent)
    clock = rig.fake._clock
    assert clock is not None
    tick = clock.tick_index
    await wait_for(lambda: clock.tick_index >= tick + 10)
    assert len(far.sent) <= count + 1  # a clean line is silent again


async def test_noise_at_snr_is_relative_to_the_caller_speech_level(rig: Rig) -> None:  # noqa: F811
    cid, _, conn, _ = await rig.call_with_media()
    rig.fake.set_line_noise(cid, LineNoise.at_snr(15.0))
    await wait_for(lambda: len(conn.binaries) >= 100, timeout=10)
    pcm = np.concatenate([decode(ULAW, b) for b in conn.binaries[:100]])
    assert abs(level_of(pcm) - (REFERENCE_SPEECH_DBFS - 15.0)) < 1.0


@pytest.mark.parametrize("kind", ["babble", "white", "vowels"])
async def test_a_noise_burst_is_sent_once_at_its_level(rig: Rig, kind: str) -> None:  # noqa: F811
    cid, _, conn, _ = await rig.call_with_media()
    rig.fake.noise_burst(cid, 0.3, -20.0, kind)
    await wait_for(lambda: len(conn.binaries) >= 15)
    far = rig.fake.caller(cid)
    clock = rig.fake._clock
    assert clock is not None
    tick = clock.tick_index
    await wait_for(lambda: clock.tick_index >= tick + 5)
    assert len(far.sent) == 15  # 300 ms, then nothing
    pcm = np.concatenate([decode(ULAW, f.data) for f in far.sent])
    assert abs(level_of(pcm) - -20.0) < 0.5


async def test_caller_speech_and_echo_are_mixed_into_one_stream(rig: Rig) -> None:  # noqa: F811
    cid, _, conn, _ = await rig.call_with_media()
    rig.fake.set_caller_echo(cid, EchoPath(0.04, -6.0))
    far = rig.fake.caller(cid)
    await conn.send_binary(chirp(20))
    await rig.fake.caller_say(cid, chirp(20, level_dbfs=-30.0))
    await wait_for(lambda: len(far.said) == 20 and len(far.sent) >= 22)
    ticks = [f.tick for f in far.sent]
    assert len(ticks) == len(set(ticks))  # one frame per tick, never two
    assert all(len(f.data) == 160 for f in far.sent)


def test_an_echo_delay_under_one_tick_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 20 ms"):
        EchoPath(0.010)


async def test_control_surface_sets_echo_noise_and_bursts(rig: Rig) -> None:  # noqa: F811
    base = f"{rig.fake.base_url}/_fake"
    async with httpx.AsyncClient(trust_env=False) as http:
        r = await http.post(f"{base}/calls", json={"caller": "100", "echo": {"delay_ms": 40, "gain_db": -6},
                                                   "noise": {"snr_db": 20}})
        assert r.status_code == 200
        cid = r.json()["channel_id"]
        far = rig.fake.caller(cid)
        assert (far.echo, far.line.noise) == (EchoPath(0.04, -6.0), LineNoise(REFERENCE_SPEECH_DBFS - 20.0))
        r = await http.post(f"{base}/calls/{cid}/line", json={"noise": None, "echo": {"delay_ms": 60, "gain_db": -12}})
        assert r.status_code == 204
        assert (far.line.noise, far.echo) == (None, EchoPath(0.06, -12.0))
        r = await http.post(f"{base}/calls/{cid}/line", json={"echo": {"delay_ms": 5}})
        assert r.status_code == 400 and "at least 20 ms" in r.json()["message"]
        r = await http.post(f"{base}/calls/{cid}/noise_burst", json={"duration_ms": 200, "kind": "hum"})
        assert r.status_code == 400
        r = await http.post(f"{base}/calls/{cid}/noise_burst", json={"duration_ms": 200, "level_dbfs": -25})
        assert r.status_code == 204
        assert abs(level_of(far.line._burst) - -25.0) < 0.1


def test_a_vowel_burst_starts_speech_for_the_vad_and_the_other_bursts_do_not() -> None:
    """What each burst kind does to the project's VAD (silero + webrtcvad), the barge-in trigger."""
    vad = pytest.importorskip("agent.vad")
    from agent.audio import float_to_ulaw
    pool = vad.VadPool()
    try:
        model = pool.acquire()
    except ImportError:
        pytest.skip("no silero VAD installed")
    starts: dict[str, int] = {}
    for kind in ("vowels", "babble", "white"):
        x = burst(kind, 0.3, -20.0, 8000, np.random.default_rng(0)).astype(np.float32) / 32768
        line = float_to_ulaw(np.concatenate([np.zeros(4000, np.float32), x, np.zeros(8000, np.float32)]))
        model.reset()
        endpointer = vad.Endpointer(model, end_of_speech_ms=500, pregate=vad.PreGate())
        events = [e for k in range(len(line) // 160)
                  for e in endpointer.feed(line[k * 160:(k + 1) * 160], (k + 1) * 0.02)]
        starts[kind] = sum(isinstance(e, vad.SpeechStarted) for e in events)
    pool.release(model)
    assert starts == {"vowels": 1, "babble": 0, "white": 0}
