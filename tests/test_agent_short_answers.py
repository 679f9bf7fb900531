"""Short answers in voices the other tests never use (tests/fixtures/short_answers: four espeak-ng
formant voices, four flite voices, hibari), through the embedded Whisper with the dialog's words
as hints and the dialog's own reading (`ScriptDialog.understood`: keywords, then the audio's
evidence for a blurred answer, agent/stt_choice.py). bench/short_answers.py measures the same on
more conditions and non-answers."""
from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from agent.audio import ulaw_to_float
from agent.definition import Intent, ScriptSection, State
from agent.dialog import Heard
from agent.script import ScriptDialog
from agent.stt import WhisperStt
from agent.stt_filters import repeated_word_runs

FIXTURES = Path(__file__).resolve().parent / "fixtures"
INTENTS = {"sales": ("sales", "sale"), "support": ("support",), "yes": ("yes", "yeah", "yep", "correct"),
           "no": ("no", "nope"), "one": ("one", "1")}


@pytest.fixture(scope="module")
def whisper() -> Iterator[WhisperStt]:
    pool = ThreadPoolExecutor(1)
    yield WhisperStt(pool, workers=1)
    pool.shutdown()


def menu() -> ScriptDialog:
    intents = tuple(Intent(name, "hangup", keywords=keys) for name, keys in INTENTS.items())
    return ScriptDialog(ScriptSection(start="menu", states=(State("menu", intents=intents),), fallback="?"), "", {})


def clips(folder: str) -> list[tuple[str, str, bytes]]:
    """(voice, name, µ-law) of every clip under tests/fixtures/<folder>."""
    root = FIXTURES / folder
    found = [(p.parent.name, p.stem, p.read_bytes()) for p in sorted(root.glob("*/*.ul"))]
    if not found:
        pytest.skip(f"no clips in {root}")
    return found


async def understood(whisper: WhisperStt, dialog: ScriptDialog, ulaw: bytes) -> tuple[str, str | None]:
    transcript = await whisper.transcribe(ulaw_to_float(ulaw), hints=dialog.expected_words())
    assert repeated_word_runs(transcript.text) == 0, transcript.text
    intent = dialog.understood(Heard(transcript.text, transcript.answers))
    return transcript.text, None if intent is None else intent.name


async def test_short_answers_in_nine_unfamiliar_voices_get_the_right_intent(whisper: WhisperStt) -> None:
    """Measured: 44 of 45 (the words alone: 38); the one left is an espeak "One." heard as "Well,"."""
    dialog, wrong = menu(), []
    answers = clips("short_answers")
    for voice, word, ulaw in answers:
        text, intent = await understood(whisper, dialog, ulaw)
        if intent != word:
            wrong.append(f"{voice}/{word}: {text!r} -> {intent}")
    assert {voice for voice, _, _ in answers} >= {"espeak-en-us-m3", "flite-slt", "hibari-heart"}
    assert len(wrong) <= len(answers) * 0.05, wrong


async def test_short_non_answers_are_not_taken_for_an_answer(whisper: WhisperStt) -> None:
    """"Hello?", "Billing.", "What?", "Who is this?", ... in three of those voices. Measured: 2 of 30
    taken, one by Whisper's own words ("Who is this?" heard as "Okay, nope."), one by the evidence
    ("Thanks." heard as "Sank.", taken for sales: what a phone line does to a /th/)."""
    dialog, taken = menu(), []
    for voice, name, ulaw in clips("short_non_answers"):
        text, intent = await understood(whisper, dialog, ulaw)
        if intent is not None:
            taken.append(f"{voice}/{name}: {text!r} -> {intent}")
    assert len(taken) <= 2, taken
