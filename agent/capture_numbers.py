"""Numbers from what a caller said (a Whisper transcript) or pressed. Pure functions.

Whisper writes digits ("42", "4, 2", "1,250", "3.5") or words ("forty-two", "one hundred and
five", "twelve hundred", "three point one four", "minus five"). Words and digits that follow
each other form one run; a run is made of chunks that cannot continue one another, and those
are read one after the other: "four two" and "4 2" are 42, "nineteen eighty four" is 1984,
"five five five one two three four" is 5551234, "double five" is 55, "oh" is 0 next to another
number. Hesitations ("um", "uh") are skipped. Two different numbers in one answer ("two or
three") are ambiguous: None, so the dialog can ask again.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

UNITS = {"zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
         "nine": 9}
TEENS = {"ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15, "sixteen": 16,
         "seventeen": 17, "eighteen": 18, "nineteen": 19}
TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80,
        "ninety": 90}
SCALES = {"thousand": 10**3, "million": 10**6, "billion": 10**9}
HESITATIONS = {"um", "uh", "er", "erm", "ah", "hmm", "mm", "uhm"}
_ZERO_WORDS = {"oh", "o", "nought"}
_REPEATS = {"double": 2, "triple": 3}
_NEGATIVE = {"minus", "negative"}
_TOKEN = re.compile(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|[a-z]+")


def tokens(text: str) -> list[str]:
    """Lower-case words and numbers ("1,250" -> "1250"); punctuation and hyphens separate."""
    return [t.replace(",", "") for t in _TOKEN.findall(text.lower().replace("’", "'"))]


def _kind(token: str) -> str | None:
    if not token:
        return None
    if token[0].isdigit():
        return "digits"
    if token == "zero":
        return "zero"
    if token in UNITS:
        return "unit"
    if token in TEENS:
        return "teen"
    if token in TENS:
        return "tens"
    if token == "hundred":
        return "hundred"
    if token in SCALES:
        return "scale"
    return None


def _word_value(token: str) -> int:
    return {**UNITS, **TEENS, **TENS}.get(token, 0)


@dataclass
class _Chunk:
    total: int = 0
    current: int = 0
    last: str = ""
    below: int = 10**12  # the next scale word must be smaller than this
    literal: str | None = None  # a digits token, kept as written (leading zeros, decimals)

    def text(self) -> str:
        return self.literal if self.literal is not None else str(self.total + self.current)

    def takes(self, kind: str, token: str) -> bool:
        """Whether `token` continues this chunk ("forty" + "two") rather than starting another."""
        if kind == "unit":
            return self.last in ("tens", "hundred", "scale")
        if kind in ("teen", "tens"):
            return self.last in ("hundred", "scale")
        if kind == "hundred":
            small = self.literal is None or (self.literal.isdigit() and int(self.literal) < 100)
            return self.last in ("unit", "teen", "tens", "digits") and small and self.current < 100
        if kind == "scale":
            whole = self.literal is None or self.literal.isdigit()
            return self.last in ("unit", "teen", "tens", "hundred", "digits") and whole and SCALES[token] < self.below
        return False

    def add(self, kind: str, token: str) -> None:
        if self.literal is not None and kind in ("hundred", "scale"):
            self.current, self.literal = int(self.literal), None
        if kind == "hundred":
            self.current = (self.current or 1) * 100
        elif kind == "scale":
            self.total += (self.current or 1) * SCALES[token]
            self.current, self.below = 0, SCALES[token]
        elif kind == "digits":
            self.literal = token
        else:
            self.current += _word_value(token)
        self.last = kind


@dataclass
class _Run:
    chunks: list[_Chunk] = field(default_factory=list)
    fraction: str | None = None
    negative: bool = False

    def digits(self) -> str | None:
        """The run as a digit string (chunks one after the other), None with a sign or a fraction."""
        texts = [c.text() for c in self.chunks]
        if not texts or self.negative or self.fraction is not None or any("." in t for t in texts):
            return None
        return "".join(texts)

    def number(self) -> int | float | None:
        texts = [c.text() for c in self.chunks]
        if not texts or (len(texts) > 1 and any("." in t for t in texts)):
            return None
        whole = "".join(texts)
        if self.fraction is not None:
            if "." in whole or not self.fraction:
                return None
            whole = f"{whole}.{self.fraction}"
        value: int | float = float(whole) if "." in whole else int(whole)
        return -value if self.negative else value


def _expand(words: list[str]) -> list[str]:
    """Drop hesitations; "double five" -> five five; "oh" -> zero next to another number."""
    words = [w for w in words if w not in HESITATIONS]
    out: list[str] = []
    for i, word in enumerate(words):
        after = words[i + 1] if i + 1 < len(words) else ""
        if word in _REPEATS and (after in UNITS or after in _ZERO_WORDS or (after.isdigit() and len(after) == 1)):
            out.extend([after] * (_REPEATS[word] - 1))
            continue
        if word in _ZERO_WORDS:
            before = out[-1] if out else ""
            near = (before and (_kind(before) or before in _REPEATS)) or _kind(after) or after in _ZERO_WORDS
            out.append("zero" if near else word)
            continue
        out.append(word)
    return out


def _runs(text: str) -> list[_Run]:
    words = _expand(tokens(text))
    runs: list[_Run] = []
    run: _Run | None = None
    for i, word in enumerate(words):
        kind = _kind(word)
        after = words[i + 1] if i + 1 < len(words) else ""
        if run is not None and run.fraction is not None and kind in ("unit", "zero", "digits") \
                and (kind != "digits" or word.isdigit()):
            run.fraction += str(_word_value(word)) if kind != "digits" else word
            continue
        if kind is None:
            if run is not None and word == "and" and run.chunks and run.chunks[-1].last in ("hundred", "scale") \
                    and _kind(after) in ("unit", "teen", "tens"):
                continue
            if run is not None and word == "point" and run.chunks and run.fraction is None:
                run.fraction = ""
                continue
            if word in _NEGATIVE and _kind(after) is not None:
                run = _Run(negative=True)
                runs.append(run)
                continue
            if word in ("a", "an") and _kind(after) in ("hundred", "scale"):
                word, kind = "one", "unit"
            else:
                run = None
                continue
        if run is None:
            run = _Run()
            runs.append(run)
        if run.fraction is not None:  # "three point" + something that is not a digit: ends the run
            run = _Run()
            runs.append(run)
        if not run.chunks or not run.chunks[-1].takes(kind, word):
            run.chunks.append(_Chunk())
        run.chunks[-1].add(kind, word)
    return [r for r in runs if r.chunks]


def _one(values: list[object]) -> object | None:
    distinct = list(dict.fromkeys(values))
    return distinct[0] if len(distinct) == 1 else None


def parse_number(text: str) -> int | float | None:
    """The number in `text`, or None when there is none or two different ones."""
    values: list[object] = [r.number() for r in _runs(text)]
    value = _one(values)
    return value if isinstance(value, (int, float)) else None


def parse_digits(text: str) -> str | None:
    """The digits said, leading zeros kept ("oh one two three" -> "0123"), or None."""
    values: list[object] = [r.digits() for r in _runs(text)]
    value = _one(values)
    return value if isinstance(value, str) else None


def digits_from_keys(keys: str) -> str | None:
    """DTMF: the digits pressed (a final # ends the entry), or None when other keys were pressed."""
    keys = keys.strip().removesuffix("#")
    return keys if keys.isdigit() and keys.isascii() else None


def number_from_keys(keys: str) -> int | float | None:
    """DTMF: digits, with * as the decimal point ("12*5#" -> 12.5)."""
    keys = keys.strip().removesuffix("#")
    whole, star, fraction = keys.partition("*")
    if not whole.isdigit() or not whole.isascii() or (star and not (fraction.isdigit() and fraction.isascii())):
        return None
    return float(f"{whole}.{fraction}") if star else int(whole)
