"""Capturing a typed variable from one caller answer (a Whisper transcript) or key presses. Pure.

    "capture": {"name": "day", "kind": "date", "date_order": "DMY"}

Kinds: `number` ("forty two", "4 2", "12*5#" on keys; `min`/`max`), `digits` (a digit string
keeping leading zeros: account and phone numbers; `min_digits`/`max_digits`), `date` (see
`agent.capture_dates`; keys DDMM[YY[YY]] or 5*3*2026), `yes_no` (many phrasings; keys 1 = yes,
2 = no), `text` (what was said, trimmed), `regex` (`pattern`: the first group, else the whole
match, searched in the transcript as written and then in its normalised words; keys too).
`dtmf: false` ignores key presses. The result is `Captured` (a typed value, its variable form
and a read-back for confirmation) or `NotCaptured` (why, for logs and a reprompt).
"""
from __future__ import annotations

import datetime
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from agent.capture_dates import Order, date_from_keys, parse_date
from agent.capture_numbers import digits_from_keys, number_from_keys, parse_digits, parse_number
from agent.fields import IDENTIFIER, FieldCheck
from agent.text import normalise, words

KINDS = ("number", "digits", "date", "yes_no", "text", "regex")
Value = str | int | float | bool | datetime.date
_APPLIES = {"pattern": ("regex",), "min": ("number",), "max": ("number",), "min_digits": ("digits",),
            "max_digits": ("digits",), "date_order": ("date",), "prefer_future": ("date",), "max_length": ("text",)}

YES = ["yes", "yeah", "yep", "yup", "ya", "yea", "sure", "correct", "right", "that's right", "absolutely",
       "definitely", "of course", "certainly", "affirmative", "ok", "okay", "please do", "go ahead", "uh huh",
       "mm hmm", "i do", "it is", "exactly", "sounds good", "perfect", "fine", "alright", "all right", "indeed",
       "yes please", "true", "agreed", "confirm", "confirmed", "do it"]
NO = ["no", "nope", "nah", "negative", "wrong", "incorrect", "never", "not at all", "no thanks", "no thank you",
      "don't", "do not", "false", "cancel", "not really", "i don't think so"]
YES_WITH_NO = ["no problem", "why not", "no doubt", "no worries", "not a problem", "no doubt about it"]
UNSURE = ["not sure", "don't know", "do not know", "maybe", "perhaps", "no idea", "dunno", "not certain"]
_NEGATORS = {"not", "don't", "isn't", "wasn't", "doesn't", "never", "aren't", "can't"}


@dataclass(frozen=True)
class CaptureSpec:
    name: str
    kind: str
    dtmf: bool = True
    pattern: str | None = None
    min: float | None = None
    max: float | None = None
    min_digits: int | None = None
    max_digits: int | None = None
    date_order: str = "DMY"
    prefer_future: bool = True
    max_length: int = 500

    def to_json(self) -> dict[str, Any]:
        """The stored form: the fields every kind has, and those that apply to this kind."""
        out: dict[str, Any] = {"name": self.name, "kind": self.kind, "dtmf": self.dtmf}
        for key, kinds in _APPLIES.items():
            value = getattr(self, key)
            if self.kind in kinds and value is not None:
                out[key] = value
        return out


@dataclass(frozen=True)
class Captured:
    value: Value

    @property
    def variable(self) -> str | int | float | bool:
        """The value as a flat JSON scalar (a date as 2026-03-05)."""
        return self.value.isoformat() if isinstance(self.value, datetime.date) else self.value

    def read_back(self) -> str:
        """How the agent says it back: "Thursday the 5th of March 2026", "yes", "0 1 2 3"."""
        value = self.value
        if isinstance(value, bool):
            return "yes" if value else "no"
        if isinstance(value, datetime.date):
            return f"{value:%A} the {_ordinal(value.day)} of {value:%B %Y}"
        return str(value)


@dataclass(frozen=True)
class NotCaptured:
    reason: str


def parse_capture(raw: object, path: str) -> tuple[CaptureSpec | None, dict[str, str]]:
    """A capture definition and its field errors (keyed `<path>.<field>`)."""
    errors: dict[str, str] = {}
    fields = FieldCheck(path, errors)
    section = fields.obj(raw)
    if section is None:
        return None, errors
    fields.only(section, {"name", "kind", "dtmf", *_APPLIES})
    name = fields.text(section, "name", limit=64, required=True)
    if name and not IDENTIFIER.match(name):
        fields.at("name").fail("a variable name has 1-64 letters, digits or '_' and does not start with a digit")
    kind = fields.choice(section, "kind", KINDS, "text")
    for key, kinds in _APPLIES.items():
        if key in section and kind not in kinds:
            fields.at(key).fail(f"applies only to kind {' or '.join(kinds)}")
    spec = CaptureSpec(
        name=name, kind=kind, dtmf=fields.flag(section, "dtmf", True),
        pattern=fields.regex(section, "pattern") if kind == "regex" else None,
        min=_optional_number(fields, section, "min"), max=_optional_number(fields, section, "max"),
        min_digits=fields.whole(section, "min_digits", 1, 1, 64) if "min_digits" in section else None,
        max_digits=fields.whole(section, "max_digits", 64, 1, 64) if "max_digits" in section else None,
        date_order=fields.choice(section, "date_order", ("DMY", "MDY"), "DMY"),
        prefer_future=fields.flag(section, "prefer_future", True),
        max_length=fields.whole(section, "max_length", 500, 1, 2000),
    )
    if kind == "regex" and spec.pattern is None and f"{path}.pattern" not in errors:
        fields.at("pattern").fail("a regex capture needs a pattern")
    return (None, errors) if errors else (spec, errors)


def _optional_number(fields: FieldCheck, section: Mapping[str, Any], key: str) -> float | None:
    return fields.number(section, key, 0, -1e15, 1e15) if key in section else None


def capture(spec: CaptureSpec, *, today: datetime.date, text: str | None = None,
            keys: str | None = None) -> Captured | NotCaptured:
    """Read the value from `keys` (when given and allowed) or from `text`."""
    if keys is not None:
        if not spec.dtmf:
            return NotCaptured("key presses are not accepted here")
        value = _from_keys(spec, keys, today)
    elif text is not None:
        value = _from_text(spec, text, today)
    else:
        return NotCaptured("nothing was said")
    if value is None:
        return NotCaptured(f"no {spec.kind.replace('_', '/')} understood")
    problem = _out_of_range(spec, value)
    return NotCaptured(problem) if problem else Captured(value)


def _from_keys(spec: CaptureSpec, keys: str, today: datetime.date) -> Value | None:
    order: Order = "MDY" if spec.date_order == "MDY" else "DMY"
    readers: dict[str, Any] = {
        "number": lambda: number_from_keys(keys),
        "digits": lambda: digits_from_keys(keys),
        "date": lambda: date_from_keys(keys, today, order=order, prefer_future=spec.prefer_future),
        "yes_no": lambda: {"1": True, "2": False}.get(keys.strip().removesuffix("#")),
        "text": lambda: digits_from_keys(keys),
        "regex": lambda: _search(spec.pattern or "", [keys.strip()]),
    }
    value: Value | None = readers[spec.kind]()
    return value


def _from_text(spec: CaptureSpec, text: str, today: datetime.date) -> Value | None:
    order: Order = "MDY" if spec.date_order == "MDY" else "DMY"
    if spec.kind == "number":
        return parse_number(text)
    if spec.kind == "digits":
        return parse_digits(text)
    if spec.kind == "date":
        return parse_date(text, today, order=order, prefer_future=spec.prefer_future)
    if spec.kind == "yes_no":
        return parse_yes_no(text)
    if spec.kind == "regex":
        return _search(spec.pattern or "", [text.strip()[:1000], normalise(text[:1000])])
    said = " ".join(text.split())
    return said[:spec.max_length] if said else None


def _out_of_range(spec: CaptureSpec, value: Value) -> str | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if spec.min is not None and value < spec.min:
            return f"{value:g} is below {spec.min:g}"
        if spec.max is not None and value > spec.max:
            return f"{value:g} is above {spec.max:g}"
    if spec.kind == "digits" and isinstance(value, str):
        if spec.min_digits is not None and len(value) < spec.min_digits:
            return f"{len(value)} digits, at least {spec.min_digits} needed"
        if spec.max_digits is not None and len(value) > spec.max_digits:
            return f"{len(value)} digits, at most {spec.max_digits} allowed"
    return None


def _search(pattern: str, texts: list[str]) -> str | None:
    for text in texts:
        match = re.search(pattern, text, re.IGNORECASE)
        if match is not None:
            groups = [g for g in match.groups() if g]
            return groups[0] if groups else match.group(0)
    return None


def parse_yes_no(text: str) -> bool | None:
    """True for yes, False for no, None when neither, unsure ("not sure") or both ("no, yes")."""
    said = words(text)
    if not said or any(_find(said, p) for p in UNSURE):
        return None
    answers: set[bool] = set()
    covered: set[int] = set()
    for phrase in YES_WITH_NO:
        for start in _find(said, phrase):
            answers.add(True)
            covered.update(range(start, start + len(phrase.split())))
    for phrase, meaning in [(p, True) for p in YES] + [(p, False) for p in NO]:
        size = len(phrase.split())
        for start in _find(said, phrase):
            if covered.intersection(range(start, start + size)):
                continue
            negated = meaning and (bool(_NEGATORS.intersection(said[max(0, start - 2):start]))
                                   or said[start + size:start + size + 1] == ["not"])
            answers.add(not meaning if negated else meaning)
    return answers.pop() if len(answers) == 1 else None


def _find(said: list[str], phrase: str) -> list[int]:
    target = phrase.split()
    return [i for i in range(len(said) - len(target) + 1) if said[i:i + len(target)] == target]


def _ordinal(day: int) -> str:
    suffix = "th" if 10 <= day % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
    return f"{day}{suffix}"
