"""Text helpers for the dialog: normalised words for intent matching, sentence splitting for
speech (whole texts and token streams), and `{{variable}}` templates. Pure functions."""
from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
_TEMPLATE = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
# A sentence ends at . ! ? … (optionally closed by quotes/brackets) followed by white space.
_SENTENCE_END = re.compile(r"(?<=[.!?…])[\"”’)\]]*\s+")
_CLAUSE_END = re.compile(r"(?<=[,;:—])\s+")
_ABBREVIATIONS = {"mr.", "mrs.", "ms.", "dr.", "st.", "no.", "vs.", "e.g.", "i.e.", "etc.", "approx."}

LONG_CLAUSE = 120
"""A streamed sentence longer than this many characters is cut at its last clause break."""


def words(text: str) -> list[str]:
    """Lower-case words without punctuation: "Transfer me to SALES!" -> [transfer, me, to, sales]."""
    return _WORD.findall(text.lower().replace("’", "'"))


def normalise(text: str) -> str:
    return " ".join(words(text))


def contains_phrase(haystack: list[str], phrase: list[str]) -> bool:
    """True when the words of `phrase` occur consecutively in `haystack`."""
    if not phrase:
        return False
    n = len(phrase)
    return any(haystack[i:i + n] == phrase for i in range(len(haystack) - n + 1))


def render(template: str, context: Mapping[str, Any], *, missing: str | None = None) -> str:
    """Replace `{{name}}` with `context[name]` in one pass: nothing is evaluated, and a value that
    itself contains `{{...}}` is inserted as it is, never expanded again. A name not in `context`
    (or None) stays as written, or becomes `missing` when given ("" for greetings and prompts)."""
    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in context and context[name] is not None:
            return format_value(context[name])
        return match.group(0) if missing is None else missing
    return _TEMPLATE.sub(value, template)


def format_value(value: Any) -> str:
    """A variable as text: true/false, 42 rather than 42.0, anything else as str()."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return str(value)


def template_names(template: str) -> list[str]:
    """The variable names `template` uses, in order, without repeats."""
    return list(dict.fromkeys(_TEMPLATE.findall(template)))


def split_sentences(text: str) -> list[str]:
    """Sentences of a whole text, each spoken (and synthesised) as one piece."""
    parts: list[str] = []
    for line in text.splitlines():
        start = 0
        for match in _SENTENCE_END.finditer(line):
            candidate = line[start:match.start()].strip()
            if _is_abbreviation(candidate):
                continue
            if candidate:
                parts.append(candidate)
            start = match.end()
        rest = line[start:].strip()
        if rest:
            parts.append(rest)
    return parts


def _is_abbreviation(sentence: str) -> bool:
    last = sentence.rsplit(" ", 1)[-1].lower()
    return last in _ABBREVIATIONS or (len(last) == 2 and last[0].isalpha() and last[1] == ".")


class SentenceBuffer:
    """Collects streamed text (LLM tokens) and hands out whole sentences as soon as they end."""

    def __init__(self) -> None:
        self._pending = ""

    def feed(self, text: str) -> list[str]:
        self._pending += text
        out: list[str] = []
        while True:
            cut = self._cut()
            if cut is None:
                return out
            sentence, self._pending = self._pending[:cut].strip(), self._pending[cut:]
            if sentence:
                out.append(sentence)

    def flush(self) -> list[str]:
        rest, self._pending = self._pending.strip(), ""
        return [rest] if rest else []

    def _cut(self) -> int | None:
        for match in _SENTENCE_END.finditer(self._pending):
            if not _is_abbreviation(self._pending[:match.start()].strip()):
                return match.end()
        if len(self._pending) > LONG_CLAUSE:
            clauses = list(_CLAUSE_END.finditer(self._pending))
            if clauses:
                return clauses[-1].end()
        return None
