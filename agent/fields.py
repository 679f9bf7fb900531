"""`FieldCheck`: reads one JSON object of a workflow definition into typed values, collecting
field errors under its path. The one reader of every section (common fields, script, llm,
speech, tools, pre-call lookup, webhooks, captures).

Errors are keyed `definition.<path>` (list items and states by index or name:
`definition.tools.0.url`); the first error found for a path is the one kept. A reader never
raises on any JSON value: a wrong type gives an error and the default.

Two families: `text`, `number`, `whole` refuse JSON null (a value is required to have the type);
`optional_text`, `optional_number`, `optional_whole` return None for null (the stored format
allows null there, and the model keeps it).
"""
from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any, TypeVar

Errors = dict[str, str]
Raw = Mapping[str, Any]
Option = TypeVar("Option", bound=str)

MAX_TEXT = 2000
IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}\Z")
_URL = re.compile(r"^https?://[^\s/?#]+(/[^\s]*)?\Z")
# a group holding + * or {n,} that is itself followed by + * or {n,}: catastrophic backtracking
_NESTED_REPEAT = re.compile(r"\((?:[^()\\]|\\.)*(?:[+*]|\{\d*,\d*\})(?:[^()\\]|\\.)*\)(?:[+*]|\{\d*,)")


def choose(value: object, options: tuple[Option, ...]) -> Option | None:
    """The option equal to `value`, or None."""
    return next((option for option in options if value == option), None)


class FieldCheck:
    """Collects errors under a path prefix while reading one object."""

    def __init__(self, path: str, errors: Errors) -> None:
        self.path, self.errors = path, errors

    def at(self, key: str | int) -> FieldCheck:
        return FieldCheck(f"{self.path}.{key}", self.errors)

    def fail(self, message: str) -> None:
        self.errors.setdefault(self.path, message)

    def failed(self) -> bool:
        """True when this path or one below it has an error."""
        prefix = self.path + "."
        return any(key == self.path or key.startswith(prefix) for key in self.errors)

    def obj(self, raw: object) -> Raw | None:
        if not isinstance(raw, Mapping):
            self.fail("must be an object")
            return None
        return raw

    def only(self, raw: Raw, allowed: set[str]) -> None:
        for key in raw:
            if key not in allowed:
                self.at(key).fail(f"unknown field {key!r}")

    # --- text ------------------------------------------------------------------------------------
    def text(self, raw: Raw, key: str, default: str = "", *, limit: int = MAX_TEXT, required: bool = False) -> str:
        """Text (null is an error); `required`: not blank."""
        value = raw.get(key, default)
        if not isinstance(value, str):
            self.at(key).fail("must be text")
            return default
        if required and not value.strip():
            self.at(key).fail("required")
        if len(value) > limit:
            self.at(key).fail(f"at most {limit} characters")
        return value

    def optional_text(self, raw: Raw, key: str, default: str | None = "", *, limit: int = MAX_TEXT) -> str | None:
        """Text, or None when the key holds null (or is missing with no default)."""
        if raw.get(key, default) is None:
            return None
        return self.text(raw, key, default or "", limit=limit)

    def text_list(self, raw: Raw, key: str, *, limit: int = 50) -> list[str]:
        """A list of text (one text alone counts as a list of one)."""
        value = raw.get(key, [])
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.at(key).fail("must be a list of text")
            return []
        if len(value) > limit:
            self.at(key).fail(f"at most {limit} entries")
        return list(value)

    def url(self, raw: Raw, key: str, default: str | None) -> str | None:
        """An http(s) URL without its trailing slash ('' and null pass as they are)."""
        value = self.optional_text(raw, key, default, limit=500)
        if value and not _URL.match(value):
            self.at(key).fail("must be an http:// or https:// URL")
        return value.rstrip("/") if value else value

    def choice(self, raw: Raw, key: str, choices: tuple[str, ...], default: str) -> str:
        value = raw.get(key, default)
        if value not in choices:
            self.at(key).fail("must be one of " + ", ".join(choices))
            return default
        return str(value)

    def regex(self, raw: Raw, key: str) -> str | None:
        """A regular expression that compiles and cannot backtrack catastrophically (null: none)."""
        value = raw.get(key)
        if value is None:
            return None
        problem = regex_problem(value)
        if problem:
            self.at(key).fail(problem)
            return None
        assert isinstance(value, str)
        return value

    # --- numbers, flags, lists -------------------------------------------------------------------
    def number(self, raw: Raw, key: str, default: float, low: float, high: float) -> float:
        """A finite number within [low, high] (null is an error); the default when it is not."""
        value = raw.get(key, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            self.at(key).fail("must be a number")
            return default
        if not low <= value <= high:
            self.at(key).fail(f"must be between {low:g} and {high:g}")
            return default
        return value

    def optional_number(self, raw: Raw, key: str, default: float | None, low: float, high: float) -> float | None:
        if raw.get(key, default) is None:
            return None
        return self.number(raw, key, default if default is not None else low, low, high)

    def whole(self, raw: Raw, key: str, default: int, low: int, high: int) -> int:
        """A whole number within [low, high] (null is an error); the default when it is not."""
        value = raw.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int):
            self.at(key).fail("must be a whole number")
            return default
        if not low <= value <= high:
            self.at(key).fail(f"must be between {low} and {high}")
            return default
        return value

    def optional_whole(self, raw: Raw, key: str, default: int | None, low: int, high: int) -> int | None:
        if raw.get(key, default) is None:
            return None
        return self.whole(raw, key, default if default is not None else low, low, high)

    def flag(self, raw: Raw, key: str, default: bool) -> bool:
        value = raw.get(key, default)
        if not isinstance(value, bool):
            self.at(key).fail("must be true or false")
            return default
        return value

    def items(self, raw: Raw, key: str, *, limit: int) -> list[Any]:
        value = raw.get(key, [])
        if not isinstance(value, list):
            self.at(key).fail("must be a list")
            return []
        if len(value) > limit:
            self.at(key).fail(f"at most {limit} entries")
            return value[:limit]
        return value


def regex_problem(value: object) -> str | None:
    """Why `value` is not a usable regular expression (None when it is)."""
    if not isinstance(value, str) or not value:
        return "must be a regular expression (text)"
    if len(value) > 500:
        return "at most 500 characters"
    try:
        re.compile(value)
    except (re.error, OverflowError, RecursionError, ValueError) as exc:  # a{4294967296}: OverflowError
        return f"not a valid regular expression: {exc}"
    if _NESTED_REPEAT.search(value):
        return "a repeated group that itself repeats, like (a+)+, can take exponential time; rewrite it without nesting"
    return None
