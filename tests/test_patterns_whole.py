"""Validation patterns match the whole value: Python's `$` also matches before a trailing newline,
so "7000\n" or a header name "X-Key\n" would have passed (found by the lookup fuzz test)."""
from __future__ import annotations

import re

import pytest

from agent.definition.parse_script import EXTENSION
from agent.fields import IDENTIFIER
from agent.lookup import variables_from
from web.accounts import EMAIL_RE
from web.forms import EXTENSION_RE, NAME_RE


@pytest.mark.parametrize(("pattern", "good"), [(IDENTIFIER, "caller_name"), (EXTENSION, "7000"),
                                               (EXTENSION_RE, "PJSIP/6001"), (NAME_RE, "switchboard"),
                                               (EMAIL_RE, "admin@example.com")])
def test_a_trailing_newline_is_not_part_of_a_valid_value(pattern: re.Pattern[str], good: str) -> None:
    assert pattern.match(good) and not pattern.match(good + "\n")


def test_a_lookup_variable_named_with_a_newline_is_dropped() -> None:
    assert variables_from({"A\n": False, "name": "Ada"}) == ({"name": "Ada"}, ("A\n",))
