"""STT quality guards: no hallucinated repeats, the dialog's words as hints, VAD-trimmed input.
Pure filters, then the embedded Whisper on the short-answer voices (tests/fixtures/short_answers),
then the HTTP engine passing the hints as the OpenAI `prompt`."""
from __future__ import annotations

import asyncio
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pytest

from agent.audio import LINE_RATE, ulaw_to_float
from agent.stt import HttpStt, WhisperStt, clean_text
from agent.stt_filters import (
    backchannel_only,
    collapse_repeats,
    compression_ratio,
    content_words,
    hint_prompt,
    max_tokens,
    noise_words,
    repeated_word_runs,
    trim_to_speech,
)
from agent.text import words

SHORT_ANSWERS = Path(__file__).resolve().parent / "fixtures" / "short_answers"
ANSWERS = ["sales", "support", "yes", "no", "one"]


def test_loops_collapse_to_one_and_are_counted() -> None:
    assert collapse_repeats("mail mail mail mail mail") == ("mail", 1)
    assert collapse_repeats("Support. Support. Support. Support.") == ("Support.", 1)
    assert collapse_repeats("Well, you know, you know, you know, you know") == ("Well, you know", 1)
    assert collapse_repeats("Yes, yes.") == ("Yes, yes.", 0)  # twice is speech, not a loop
    assert collapse_repeats("My number is 5 5 5, 1 2 3 4.") == ("My number is 5 5 5, 1 2 3 4.", 0)
    assert collapse_repeats("one one one two") == ("one one one two", 0)  # digits said as words
    assert repeated_word_runs("Sales. Sales. Sales. Support. Support. Support.") == 2


def test_clean_text_drops_what_still_loops() -> None:
    assert clean_text("Sales, sales, sales, sales, sales, sales, sales,") == ("sales,", 1)
    looped = "I want to cancel I want to go I want to cancel I want to go I want to cancel I want to go"
    assert compression_ratio(looped) > 2.4
    assert clean_text(looped)[0] == ""
    sentence = "Can I speak to a real person, please?"
    assert clean_text(sentence) == (sentence, 0)


def test_token_budget_fits_the_audio() -> None:
    assert max_tokens(0.5) <= 13  # "Sales." cannot become fifteen "mail"s
    assert max_tokens(3.0) >= 30  # "My number is 5 5 5, 1 2 3 4." (about 20 tokens) fits
    assert max_tokens(100.0) == 448


def test_hint_prompt() -> None:
    assert hint_prompt(["sales", "Sale", "support", "sales", " press  one ", ""]) == "Sales, sale, support, press one."
    assert hint_prompt([]) == ""
    assert len(hint_prompt([f"word{n}" for n in range(100)]).split()) == 40


def test_whispers_words_for_a_short_noise_are_no_words() -> None:
    assert noise_words(["thank", "you"], 0.35) and noise_words(["bye"], 0.4)
    assert not noise_words(["bye"], 0.9)  # a longer "bye" was said
    assert not noise_words(["thank", "you", "bye"], 0.4) and not noise_words(["sales"], 0.3)


def test_trim_to_speech_cuts_quiet_edges() -> None:
    t = np.arange(int(0.4 * LINE_RATE)) / LINE_RATE
    tone = (0.3 * np.sin(2 * np.pi * 400 * t)).astype(np.float32)
    hiss = (np.random.default_rng(0).standard_normal(LINE_RATE) * 1e-3).astype(np.float32)  # -60 dBFS
    trimmed = trim_to_speech(np.concatenate([hiss, tone, hiss]))
    assert 0.55 <= len(trimmed) / LINE_RATE <= 0.65  # the tone and 100 ms each side


@pytest.fixture(scope="module")
def whisper() -> Iterator[WhisperStt]:
    pool = ThreadPoolExecutor(1)
    yield WhisperStt(pool, workers=1)
    pool.shutdown()


def short_answer(voice: str, word: str) -> np.ndarray:
    path = SHORT_ANSWERS / voice / f"{word}.ul"
    if not path.exists():
        pytest.skip("no short-answer fixtures")
    return ulaw_to_float(path.read_bytes())


async def test_hints_bring_the_expected_words_and_never_loops(whisper: WhisperStt) -> None:
    """Every short answer (45 clips, nine voices) with and without the dialog's words as hints: no
    repeated-word hallucination either way, and the hints help (bench/short_answers.py §6)."""
    voices = sorted(p.name for p in SHORT_ANSWERS.iterdir() if p.is_dir()) if SHORT_ANSWERS.exists() else []
    if not voices:
        pytest.skip("no short-answer fixtures")
    right = {True: 0, False: 0}
    for voice in voices:
        for word in ANSWERS:
            audio = short_answer(voice, word)
            for hinted in (True, False):
                heard = await whisper.transcribe(audio, hints=ANSWERS if hinted else ())
                assert repeated_word_runs(heard.text) == 0, heard.text
                right[hinted] += word in words(heard.text.replace("1", "one"))
    assert right[True] >= 15 and right[True] >= right[False] + 4, right


async def test_the_hibari_voice_is_understood_word_for_word(whisper: WhisperStt) -> None:
    for word in ANSWERS:
        heard = await whisper.transcribe(short_answer("hibari-heart", word), hints=ANSWERS)
        assert words(heard.text.replace("1", "one")) == [word]


async def test_silence_and_a_click_give_no_words(whisper: WhisperStt) -> None:
    hiss = (np.random.default_rng(1).standard_normal(LINE_RATE) * 3e-4).astype(np.float32)
    assert (await whisper.transcribe(hiss, hints=ANSWERS)).text == ""
    assert (await whisper.transcribe(np.zeros(100, np.float32), hints=ANSWERS)).text == ""


async def test_http_stt_sends_the_hints_as_the_prompt_and_guards_the_answer() -> None:
    seen: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode()
        lines = head.split("\r\n")
        length = next(int(line.split(":")[1]) for line in lines if line.lower().startswith("content-length"))
        seen.append(await reader.readexactly(length))
        body = b'{"text": "Sales. Sales. Sales. Sales. Sales."}'
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                     + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n" + body)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server, httpx.AsyncClient(trust_env=False) as http:
        stt = HttpStt(http, base_url=f"http://127.0.0.1:{port}/v1", model="whisper-1")
        heard = await stt.transcribe(np.zeros(LINE_RATE // 2, np.float32), hints=["sales", "support"])
        french = HttpStt(http, base_url=f"http://127.0.0.1:{port}/v1", model="whisper-1", language="fr-CA")
        await french.transcribe(np.zeros(LINE_RATE // 2, np.float32))
    assert heard.text == "Sales." and heard.repeats == 1
    assert b'name="prompt"\r\n\r\nSales, support.' in seen[0]
    assert b'name="language"\r\n\r\nen\r\n' in seen[0] and b'name="language"\r\n\r\nfr\r\n' in seen[1]


def test_content_words_drop_fillers_only() -> None:
    assert content_words("Uh.") == []
    assert content_words("Hmm, uh, sales please") == ["sales", "please"]
    assert content_words("Yeah. Okay.") == ["yeah", "okay"]


async def test_a_vowel_burst_from_the_fake_line_has_no_content_words(whisper: WhisperStt) -> None:
    """The fake's 0.3 s "vowels" burst (for wave 2's false barge-in): the VAD starts speech, and the
    segment it cuts comes back from Whisper as a filler ("Uh."/"Oh."). Measured: 0.1-0.2 s and 0.5 s
    vowel bursts come back as "Yeah." instead, a backchannel the dialog must judge."""
    from agent.audio import float_to_ulaw
    from agent.vad import Endpointer, PreGate, SpeechEnded, SpeechStarted, VadPool
    from tests.fake_asterisk.line import burst
    pool = VadPool()
    try:
        model = pool.acquire()
    except ImportError:
        pytest.skip("no silero VAD installed")
    noise = burst("vowels", 0.3, -20.0, LINE_RATE, np.random.default_rng(1)).astype(np.float32) / 32768
    line = float_to_ulaw(np.concatenate([np.zeros(4000, np.float32), noise, np.zeros(8000, np.float32)]))
    endpointer = Endpointer(model, end_of_speech_ms=500, pregate=PreGate())
    events = [e for k in range(len(line) // 160) for e in endpointer.feed(line[k * 160:(k + 1) * 160], (k + 1) * 0.02)]
    pool.release(model)
    assert any(isinstance(e, SpeechStarted) for e in events)
    segment = next(e for e in events if isinstance(e, SpeechEnded))
    heard = await whisper.transcribe(segment.audio, hints=ANSWERS)
    assert content_words(heard.text) == [], heard.text


def test_all_right_is_a_backchannel_however_whisper_spells_it() -> None:
    """A noise burst over an echoing line came back as "All right." (bench/line_reactions.py)."""
    assert backchannel_only(["all", "right"]) and backchannel_only(["alright"])
    assert backchannel_only(["all", "right", "okay"])
    assert not backchannel_only(["all", "of", "it"]) and not backchannel_only(["right", "all"])
    assert not backchannel_only(["all", "right"], expected=["alright"])
