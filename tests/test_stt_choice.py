"""The choice among expected answers from the audio's evidence (agent/stt_choice.py): pure rules
here; on real audio in tests/test_agent_short_answers.py."""
from __future__ import annotations

from agent.definition import Intent, ScriptSection, State
from agent.dialog import Heard, Say, Transfer
from agent.script import ScriptDialog
from agent.stt_choice import (
    MAX_BEHIND_HEARD,
    MIN_DOUBT,
    MIN_EVIDENCE,
    MIN_LEAD,
    AnswerEvidence,
    choose,
    worth_checking,
)

GROUPS = {"sales": ["sales", "sale"], "support": ["support"], "no": ["no", "nope"]}


def evidence(**scores: float) -> tuple[AnswerEvidence, ...]:
    return tuple(AnswerEvidence(answer, value, 0.0, heard=-2.0) for answer, value in scores.items())


def test_only_short_transcripts_that_name_no_answer_are_checked() -> None:
    answers = ["sales", "support", "technical support"]
    assert worth_checking("Fail.", answers)
    assert worth_checking("That board.", answers)
    assert not worth_checking("Sales, please.", answers)
    assert not worth_checking("I need technical support", answers)
    assert not worth_checking("I would like to talk to somebody about my bill", answers)
    assert not worth_checking("Fail.", [])


def test_the_group_the_audio_clearly_supports_is_chosen() -> None:
    strong = MIN_EVIDENCE + 1
    assert choose(evidence(sales=strong, sale=strong - 0.1, support=strong - MIN_LEAD - 0.5, no=0.0),
                  GROUPS) == "sales"  # "sale" is the same group, not a rival


def test_no_choice_when_the_evidence_is_weak_close_or_far_below_what_was_heard() -> None:
    assert choose(evidence(sales=MIN_EVIDENCE - 0.5, support=0.0, no=0.0), GROUPS) is None
    assert choose(evidence(sales=MIN_EVIDENCE + 1, support=MIN_EVIDENCE + 1 - MIN_LEAD / 2, no=0.0),
                  GROUPS) is None
    behind = (AnswerEvidence("sales", MIN_EVIDENCE + 3, -MAX_BEHIND_HEARD - 1, -2.0), AnswerEvidence("no", 0.0, -9.0))
    assert choose(behind, GROUPS) is None
    sure = (AnswerEvidence("no", MIN_EVIDENCE + 3, -1.0, heard=-MIN_DOUBT / 2), AnswerEvidence("sales", 0.0, -9.0))
    assert choose(sure, GROUPS) is None  # Whisper was sure of its own words ("Hello?")
    assert choose((), GROUPS) is None


def _menu() -> ScriptDialog:
    intents = (Intent("sales", "transfer", keywords=("sales",), say="Putting you through.", extension="7000"),
               Intent("support", "transfer", keywords=("support",), say="Support it is.", extension="7001"))
    return ScriptDialog(ScriptSection(start="menu", states=(State("menu", intents=intents),), fallback="Pardon?"),
                        "Sales or support?", {})


def test_the_script_takes_a_blurred_answer_but_a_request_to_repeat_wins() -> None:
    dialog = _menu()
    blurred = (AnswerEvidence("sales", MIN_EVIDENCE + 2, -1.0, -3.0), AnswerEvidence("support", 0.0, -6.0, -3.0))
    steps = dialog.decide(Heard("Fail.", blurred))
    assert any(isinstance(s, Transfer) and s.extension == "7000" for s in steps), steps
    dialog.last_said = "Sales or support?"
    again = dialog.decide(Heard("Sorry, what?", blurred))
    assert again == [Say("Sales or support?")]
    assert dialog.decide(Heard("Fail.")) == [Say("Pardon?")]  # no evidence: the fallback
