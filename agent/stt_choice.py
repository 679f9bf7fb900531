"""Short answers the line has blurred: when Whisper's words name none of the answers the dialog
expects, how strongly does the audio itself support each of them?

A phone line keeps 300-3400 Hz: most of an /s/ or /f/ is gone, so "Sales." can come back as
"Fail." and "Support." as "That board.". A person on the phone hears the same blurred sound and
gets it from the menu just read to them; this does the same with the model's own scores. Each
expected answer is scored as a forced transcript of the caller's audio (CTranslate2 `align` gives
the probability of each of its tokens) and of a fixed near-silence; the difference is what the
audio adds to the answer's prior (a pointwise mutual information), so an answer likely after any
menu ("No.") does not win by its prior. The dialog groups the answers (an intent's keywords) and
takes a group only when the audio clearly supports it (`choose`).
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

from agent.text import words

MAX_HEARD_WORDS = 4
"""Longer transcripts are sentences, not blurred one-word answers: no check."""
MAX_ANSWERS = 16
# Calibrated on Whisper tiny.en with bench/short_answers.py (bench/README.md §6): 135 answers and
# 564 non-answers; any of 3.5-4.5 / 2-3 / 4 / 1 gives 127-130 answers right and 0-2 more non-answers taken.
MIN_EVIDENCE = 4.0
"""Nats the audio must add to the best answer over near-silence."""
MIN_LEAD = 3.0
"""Nats the best group must lead every other group by."""
MAX_BEHIND_HEARD = 4.0
"""How much less likely than what Whisper heard the answer may be, as a transcript of the audio."""
MIN_DOUBT = 1.0
"""Whisper's own words must have been unsure (log-probability below minus this): a clear "Hello?"
stays "Hello?" whatever it sounds like."""


@dataclass(frozen=True)
class AnswerEvidence:
    answer: str
    evidence: float
    """log P(answer | audio) - log P(answer | near-silence)."""
    versus_heard: float
    """log P(answer | audio) - log P(what was heard | audio)."""
    heard: float = -math.inf
    """log P(what was heard | audio): near 0 when Whisper was sure of its own words."""


def worth_checking(heard: str, answers: Sequence[str]) -> bool:
    """Only short transcripts that name none of the expected answers."""
    said = words(heard)
    if not answers or len(said) > MAX_HEARD_WORDS:
        return False
    return not any(set(words(answer)) <= set(said) for answer in answers)


Group = TypeVar("Group")


def choose(evidence: Sequence[AnswerEvidence], groups: Mapping[Group, Sequence[str]]) -> Group | None:
    """The group whose best answer the audio clearly supports, or None."""
    by_answer = {_key(e.answer): e for e in evidence}
    best: dict[Group, AnswerEvidence] = {}
    for name, answers in groups.items():
        scored = [by_answer[_key(a)] for a in answers if _key(a) in by_answer]
        if scored:
            best[name] = max(scored, key=lambda e: e.evidence)
    if not best:
        return None
    ranked = sorted(best.items(), key=lambda item: item[1].evidence, reverse=True)
    name, top = ranked[0]
    lead = top.evidence - ranked[1][1].evidence if len(ranked) > 1 else math.inf
    if top.evidence < MIN_EVIDENCE or lead < MIN_LEAD or top.versus_heard < -MAX_BEHIND_HEARD:
        return None
    return name if top.heard <= -MIN_DOUBT else None


class AnswerScorer:
    """Scores answers against encoded audio with a CTranslate2 Whisper model (one per model; the
    near-silence scores are cached per prompt and answer)."""

    def __init__(self, model: Any, tokenizer: Any, silence_features: Any) -> None:
        self.model, self.tokenizer = model, tokenizer
        self._silence = silence_features
        self._prior: dict[tuple[tuple[int, ...], str], float] = {}

    def score(self, encoded: Any, frames: int, prompt: Sequence[int], heard: str,
              answers: Sequence[str]) -> tuple[AnswerEvidence, ...]:
        """Evidence for each answer (at most `MAX_ANSWERS`) in the encoded audio of `frames` mel frames."""
        chosen = list(dict.fromkeys(_key(a) for a in answers if _key(a)))[:MAX_ANSWERS]
        if not chosen:
            return ()
        texts = [_as_said(a) for a in chosen]
        said = self._log_probs(encoded, frames, prompt, [*texts, heard or "."])
        key = tuple(prompt)
        missing = [t for t in texts if (key, t) not in self._prior]
        if missing:
            for text, value in zip(missing, self._log_probs(self._silence, 100, prompt, missing), strict=True):
                self._prior[(key, text)] = value
        return tuple(AnswerEvidence(answer, said[i] - self._prior[(key, texts[i])], said[i] - said[-1], said[-1])
                     for i, answer in enumerate(chosen))

    def _log_probs(self, encoded: Any, frames: int, prompt: Sequence[int], texts: Sequence[str]) -> list[float]:
        out = []
        for text in texts:
            tokens = self.tokenizer.encode(" " + text)
            # align's last probability (what follows the text) is not the end token's: left out
            result = self.model.align(encoded, list(prompt), [[*tokens, self.tokenizer.eot]], frames)[0]
            probs = np.asarray(result.text_token_probs[:len(tokens)], np.float64)
            out.append(float(np.sum(np.log(np.maximum(probs, 1e-12)))))
        return out


def _key(answer: str) -> str:
    """An answer as scored and looked up: without edge punctuation, lower case."""
    return answer.strip(" ,.;:!?").lower()


def _as_said(answer: str) -> str:
    return answer[:1].upper() + answer[1:] + "."
