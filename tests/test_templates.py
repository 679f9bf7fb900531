"""`{{name}}` templates for greetings and prompts: missing values, no evaluation, no re-expansion."""
from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from agent.text import format_value, render, template_names

NAMES = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,10}", fullmatch=True)


def test_variables_fill_the_greeting() -> None:
    variables = {"first_name": "Ada", "balance": 42.0, "vip": True, "visits": 3, "note": None}
    greeting = "Hello {{ first_name }}! Balance {{balance}}, vip {{vip}}, visit {{visits}}.{{note}}"
    assert render(greeting, variables, missing="") == "Hello Ada! Balance 42, vip true, visit 3."
    assert render("Hi {{nobody}}.", variables, missing="") == "Hi ."
    assert render("Hi {{nobody}}.", variables) == "Hi {{nobody}}."  # the default keeps unknown names


def test_nothing_is_evaluated() -> None:
    sneaky = "{{__import__('os').system('id')}} {{ 1+1 }} {{a.b}} {{x|upper}} {% if x %}y{% endif %} ${x} {x}"
    assert render(sneaky, {"x": "X", "a": "A"}, missing="") == sneaky


def test_names_in_order() -> None:
    assert template_names("{{b}} {{ a }} {{b}} {{c.d}}") == ["b", "a"]


def test_format_value() -> None:
    assert [format_value(v) for v in (True, False, 3.0, 3.25, 10**20 * 1.0, "x", 7)] == \
        ["true", "false", "3", "3.25", "1e+20", "x", "7"]


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(NAMES, st.text(max_size=30) | st.integers() | st.booleans(), min_size=1, max_size=5),
       st.lists(NAMES, max_size=3))
def test_values_are_never_expanded_again(variables: dict[str, object], unknown: list[str]) -> None:
    hostile = {name: "{{" + name + "}}" + format_value(value) for name, value in variables.items()}
    names = list(hostile) + [n for n in unknown if n not in hostile]
    template = "|".join("{{ " + name + " }}" for name in names)
    expected = "|".join(hostile.get(name, "") for name in names)
    assert render(template, hostile, missing="") == expected
