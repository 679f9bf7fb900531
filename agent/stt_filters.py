"""Guards around Whisper's output and input. Pure functions, no model.

Whisper, given a short or unclear utterance, can loop: "Sales." came back from tiny.en as
"mail mail mail mail …", and a prompt with the caller's expected words makes "Support. Support.
Support. …" likely. Three layers stop that: a token budget that fits the audio (`max_tokens`), a
repeat collapse (`collapse_repeats`), and faster-whisper's compression-ratio test
(`compression_ratio`, > 2.4 = a loop) for what is left.

Hints: the words the dialog expects (its intents' keywords) go to Whisper as a prompt
(`hint_prompt`): a prompt is text "said before", so the words bias the decoding without forcing
them (a caller who says something else is still transcribed).
"""
from __future__ import annotations

import re
import zlib
from collections.abc import Iterable

import numpy as np

from agent.audio import LINE_RATE, Samples
from agent.text import words

NUMBER_WORDS = {"zero", "oh", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
                "double", "triple"}
_TOKEN = re.compile(r"\S+")
_CORE = re.compile(r"[^\w']+")
MAX_HINT_WORDS = 40


FILLERS = {"uh", "um", "umm", "er", "erm", "ah", "hmm", "hm", "mm", "mmm", "mhm", "huh", "oh"}
BACKCHANNELS = {"okay", "ok", "yeah", "right", "alright", "uh-huh", "mm-hmm", "aha"}
"""Said over someone to show you are listening, not to take the turn. A noise burst often comes
back from Whisper as one of these ("Okay.", "Yeah.")."""


NOISE_PHRASES = ("thank you", "thanks", "bye", "you", "thanks for watching")
"""What Whisper writes for a short burst of noise with nothing said (seen on the fake's echoing
line, bench/line_reactions.py): taken for no words when that is all a short barge-in brought."""
SHORT_NOISE_S = 0.6


def noise_words(said: list[str], speech_s: float) -> bool:
    """`said` is one of Whisper's words for noise, from less than `SHORT_NOISE_S` of speech."""
    return speech_s < SHORT_NOISE_S and " ".join(said) in NOISE_PHRASES


def backchannel_only(said: list[str], expected: Iterable[str] = ()) -> bool:
    """`said` (normalised words) is nothing but backchannels the dialog does not expect as an
    answer ("yeah" is an answer where the script's keywords list it)."""
    answers = {w for phrase in expected for w in words(phrase)}
    joined = " ".join(said).replace("all right", "alright").split()  # Whisper writes it both ways
    return bool(joined) and all(w in BACKCHANNELS and w not in answers for w in joined)


def content_words(text: str) -> list[str]:
    """The transcript's words without fillers: a noise or a cough that Whisper writes as "Uh." has
    none. Backchannels ("yeah", "okay") are kept: whether they are an answer depends on the dialog."""
    return [w for w in words(text) if w not in FILLERS]


def compression_ratio(text: str) -> float:
    """Length of the UTF-8 text over its zlib-compressed length (faster-whisper's loop test)."""
    data = text.encode("utf-8")
    return len(data) / len(zlib.compress(data)) if data else 0.0


def _core(token: str) -> str:
    return _CORE.sub("", token.lower())


def _is_number(core: str) -> bool:
    return core.isdigit() or core in NUMBER_WORDS


def collapse_repeats(text: str, *, min_repeats: int = 3, max_n: int = 4) -> tuple[str, int]:
    """Collapses a word or phrase (up to `max_n` words) said `min_repeats` or more times in a row
    to one occurrence: "mail mail mail mail" -> "mail", "Support. Support. Support." -> "Support.".
    Numbers are left alone ("5 5 5, 1 2 3 4" is a phone number). Returns the text and how many
    repeated runs were collapsed (each one a hallucination)."""
    tokens = _TOKEN.findall(text)
    cores = [_core(t) for t in tokens]
    out: list[str] = []
    runs = 0
    i = 0
    while i < len(tokens):
        collapsed = False
        for n in range(1, max_n + 1):
            unit = cores[i:i + n]
            if len(unit) < n or not all(unit) or all(_is_number(c) for c in unit):
                continue
            count = 1
            while cores[i + count * n:i + (count + 1) * n] == unit:
                count += 1
            if count >= min_repeats:
                out.extend(tokens[i + (count - 1) * n:i + count * n])  # keep the last (its punctuation ends it)
                i += count * n
                runs += 1
                collapsed = True
                break
        if not collapsed:
            out.append(tokens[i])
            i += 1
    return " ".join(out), runs


def repeated_word_runs(text: str, *, min_repeats: int = 3) -> int:
    """How many runs of the same word or phrase said `min_repeats`+ times in a row `text` has."""
    return collapse_repeats(text, min_repeats=min_repeats)[1]


def max_tokens(seconds: float, *, base: int = 8, per_second: float = 9.0) -> int:
    """Tokens a transcript of `seconds` of speech can need: people say at most ~4 words a second and
    a word is 1-2 tokens, plus punctuation. Far below Whisper's 448, which is room for loops."""
    return min(448, base + int(per_second * seconds + 0.999))


def hint_prompt(hints: Iterable[str]) -> str:
    """The dialog's expected words or phrases as a Whisper prompt: "Sales, support, yes, no, one."
    De-duplicated, in order, at most `MAX_HINT_WORDS` words."""
    seen: set[str] = set()
    phrases: list[str] = []
    count = 0
    for hint in hints:
        phrase = " ".join(hint.split()).strip(" ,.;:!?")
        key = phrase.lower()
        if not phrase or key in seen:
            continue
        size = len(phrase.split())
        if count + size > MAX_HINT_WORDS:
            break
        seen.add(key)
        phrases.append(phrase.lower())
        count += size
    if not phrases:
        return ""
    text = ", ".join(phrases)
    return text[0].upper() + text[1:] + "."


def trim_to_speech(audio: Samples, *, floor_db: float = -35.0, margin_s: float = 0.1,
                   frame_s: float = 0.01) -> Samples:
    """Cuts the segment's leading and trailing stretches that are `floor_db` below its loudest
    10 ms (the VAD's pre-roll and tail, line noise, a breath), keeping `margin_s` around the
    speech. Whisper hallucinates on long quiet edges."""
    frame = max(1, int(frame_s * LINE_RATE))
    n = len(audio) // frame
    if n == 0:
        return audio
    power = np.mean(audio[:n * frame].astype(np.float64).reshape(n, frame) ** 2, axis=1)
    peak = float(power.max())
    if peak <= 0:
        return audio[:0]
    loud = np.flatnonzero(power >= peak * 10 ** (floor_db / 10))
    margin = int(margin_s * LINE_RATE)
    start = max(0, int(loud[0]) * frame - margin)
    end = min(len(audio), (int(loud[-1]) + 1) * frame + margin)
    return audio[start:end]
