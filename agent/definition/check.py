"""`FieldCheck`: reads one JSON object's fields and collects errors under its path.

Errors are keyed `definition.<path>` (list items and states by index or name); the first error
found for a path is the one kept.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, TypeVar

Errors = dict[str, str]
Raw = Mapping[str, Any]
Option = TypeVar("Option", bound=str)

MAX_TEXT = 2000
_URL = re.compile(r"^https?://[^\s/?#]+(/[^\s]*)?$")


def choose(value: object, options: tuple[Option, ...]) -> Option | None:
    """The option equal to `value`, or None."""
    return next((option for option in options if value == option), None)


class FieldCheck:
    def __init__(self, path: str, errors: Errors) -> None:
        self.path, self.errors = path, errors

    def at(self, key: str | int) -> FieldCheck:
        return FieldCheck(f"{self.path}.{key}", self.errors)

    def fail(self, message: str) -> None:
        self.errors.setdefault(self.path, message)

    def only(self, raw: Raw, allowed: set[str]) -> None:
        for key in raw:
            if key not in allowed:
                self.at(key).fail(f"unknown field {key!r}")

    def text(self, raw: Raw, key: str, default: str | None = "", *, limit: int = MAX_TEXT) -> str | None:
        """Text, or None when the key holds null (or is missing with no default)."""
        value = raw.get(key, default)
        if value is None:
            return None
        return self._text(key, value, default, limit)

    def required_text(self, raw: Raw, key: str, *, limit: int = MAX_TEXT) -> str:
        value = raw.get(key, "")
        text = self._text(key, value, "", limit, required=True)
        return text if text is not None else ""

    def _text(self, key: str, value: object, default: str | None, limit: int, *,
              required: bool = False) -> str | None:
        if not isinstance(value, str):
            self.at(key).fail("must be text")
            return default
        if required and not value.strip():
            self.at(key).fail("required")
        if len(value) > limit:
            self.at(key).fail(f"at most {limit} characters")
        return value

    def number(self, raw: Raw, key: str, default: float | None, low: float, high: float) -> float | None:
        value = raw.get(key, default)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.at(key).fail("must be a number")
            return default
        self._within(key, value, low, high)
        return value

    def whole(self, raw: Raw, key: str, default: int | None, low: int, high: int) -> int | None:
        value = raw.get(key, default)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            self.at(key).fail("must be a whole number")
            return default
        self._within(key, value, low, high)
        return value

    def _within(self, key: str, value: float, low: float, high: float) -> None:
        if not low <= value <= high:
            self.at(key).fail(f"must be between {low:g} and {high:g}")

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
        value = self.text(raw, key, default, limit=500)
        if value and not _URL.match(value):
            self.at(key).fail("must be an http:// or https:// URL")
        return value.rstrip("/") if value else value
