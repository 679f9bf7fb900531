"""Capturing typed variables from caller speech (Whisper-style text) and DTMF: table tests for the
phrasings, property tests (hypothesis) against an independent English speller and date writer."""
from __future__ import annotations

import datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.capture import NO, YES, Captured, CaptureSpec, NotCaptured, capture, parse_capture, parse_yes_no
from agent.capture_dates import date_from_keys, parse_date
from agent.capture_numbers import digits_from_keys, number_from_keys, parse_digits, parse_number

MONDAY = datetime.date(2026, 3, 2)
PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# --- an independent speller for the property tests ------------------------------------------------
SMALL = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve",
         "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"]
TENS_WORDS = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
ORDINAL_WORDS = ["", "first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth",
                 "eleventh", "twelfth", "thirteenth", "fourteenth", "fifteenth", "sixteenth", "seventeenth",
                 "eighteenth", "nineteenth", "twentieth"]


def spell(n: int, hyphen: bool = True, use_and: bool = True) -> str:
    if n < 20:
        return SMALL[n]
    if n < 100:
        return TENS_WORDS[n // 10] + ("" if n % 10 == 0 else ("-" if hyphen else " ") + SMALL[n % 10])
    if n < 1000:
        rest = "" if n % 100 == 0 else (" and " if use_and else " ") + spell(n % 100, hyphen)
        return f"{SMALL[n // 100]} hundred{rest}"
    for size, word in ((10**9, "billion"), (10**6, "million"), (10**3, "thousand")):
        if n >= size:
            below = n % size
            tail = "" if below == 0 else (" and " if below < 100 and use_and else " ") + spell(below, hyphen, use_and)
            return f"{spell(n // size, hyphen, use_and)} {word}{tail}"
    raise AssertionError(n)


def ordinal_words(day: int) -> str:
    if day <= 20:
        return ORDINAL_WORDS[day]
    if day == 30:
        return "thirtieth"
    return f"{TENS_WORDS[day // 10]}-{ORDINAL_WORDS[day % 10]}" if day % 10 else ORDINAL_WORDS[day]


def suffix(day: int) -> str:
    return "th" if 10 <= day % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")


# --- numbers ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(("said", "number", "digits"), [
    ("Forty two.", 42, "42"), ("4 2", 42, "42"), ("4, 2.", 42, "42"), ("forty-two", 42, "42"),
    ("One hundred and five.", 105, "105"), ("twelve hundred", 1200, "1200"), ("1,250", 1250, "1250"),
    ("Three point one four", 3.14, None), ("3.5", 3.5, None), ("minus five", -5, None),
    ("nineteen eighty four", 1984, "1984"), ("Five five five, one two three four.", 5551234, "5551234"),
    ("double five", 55, "55"), ("Oh one two three", 123, "0123"), ("Um, 4, uh, 2.", 42, "42"),
    ("a hundred", 100, "100"), ("two thousand and twenty four", 2024, "2024"), ("twenty twenty four", 2024, "2024"),
    ("twenty oh five", 2005, "2005"), ("I'd like 2 tickets, please.", 2, "2"),
    ("It's forty two. Yes, forty two.", 42, "42"), ("two or three", None, None), ("Oh, yes.", None, None),
    ("nothing", None, None), ("", None, None),
])
def test_numbers_from_speech(said: str, number: int | float | None, digits: str | None) -> None:
    assert parse_number(said) == number
    assert parse_digits(said) == digits


@PROPERTY
@given(st.integers(0, 10**12 - 1), st.booleans(), st.booleans(), st.sampled_from(["", "um ", "it's ", "uh, "]),
       st.sampled_from(["", ".", " please", ", thanks"]))
def test_spelled_numbers_read_back(n: int, hyphen: bool, use_and: bool, before: str, after: str) -> None:
    assert parse_number(f"{before}{spell(n, hyphen, use_and)}{after}") == n
    assert parse_number(f"{before}{n}{after}") == n
    assert parse_number(f"{n:,}") == n


@PROPERTY
@given(st.text(alphabet="0123456789", min_size=1, max_size=16), st.booleans(), st.booleans())
def test_digit_by_digit_keeps_every_digit(digits: str, as_words: bool, oh_for_zero: bool) -> None:
    names = ["oh" if oh_for_zero else "zero"] + SMALL[1:10]
    said = " ".join(names[int(d)] if as_words else d for d in digits)
    if oh_for_zero and as_words and digits == "0":
        return  # a lone "oh" is an exclamation, not a zero
    assert parse_digits(said) == digits
    assert parse_digits(", ".join(digits)) == digits


@PROPERTY
@given(st.text(max_size=80))
def test_parsers_never_raise(text: str) -> None:
    parse_number(text)
    parse_digits(text)
    parse_date(text, MONDAY)
    parse_yes_no(text)


def test_numbers_from_keys() -> None:
    assert (number_from_keys("42#"), number_from_keys("12*5#"), number_from_keys("0042")) == (42, 12.5, 42)
    assert (number_from_keys("#"), number_from_keys("1*2*3"), number_from_keys("*5")) == (None, None, None)
    assert (digits_from_keys("0042#"), digits_from_keys("12*3"), digits_from_keys("")) == ("0042", None, None)


# --- dates -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(("said", "expected"), [
    ("Tomorrow.", "2026-03-03"), ("The day after tomorrow, please.", "2026-03-04"), ("today", "2026-03-02"),
    ("yesterday", "2026-03-01"), ("Tuesday", "2026-03-03"), ("this Tuesday", "2026-03-03"),
    ("this coming Tuesday", "2026-03-03"), ("On Monday.", "2026-03-09"), ("next Tuesday", "2026-03-10"),
    ("next Monday", "2026-03-09"), ("last Friday", "2026-02-27"), ("The fifth of March.", "2026-03-05"),
    ("March 5th", "2026-03-05"), ("March the fifth", "2026-03-05"), ("5th March", "2026-03-05"),
    ("March twenty-first", "2026-03-21"), ("twenty first of March", "2026-03-21"),
    ("March 5, 2027", "2027-03-05"), ("5 March twenty twenty seven", "2027-03-05"),
    ("the fifth of march two thousand and twenty eight", "2028-03-05"), ("the first of March", "2027-03-01"),
    ("The 10th.", "2026-03-10"), ("Tuesday the 10th", "2026-03-10"), ("on the 21st", "2026-03-21"),
    ("2026-04-01", "2026-04-01"), ("5/3", "2026-03-05"), ("05/03/2027", "2027-03-05"), ("5.3.27", "2027-03-05"),
    ("in 3 days", "2026-03-05"), ("In two weeks.", "2026-03-16"), ("a week from today", "2026-03-09"),
    ("5 days from now", "2026-03-07"), ("in a fortnight", "2026-03-16"), ("Wait a second. Tomorrow.", "2026-03-03"),
    ("February 29th", "2028-02-29"), ("May the fourth", "2026-05-04"), ("May I come on Friday?", "2026-03-06"),
    ("Um, March, uh, 5th please", "2026-03-05"), ("for 2 March 5th", "2026-03-05"),
    ("Wednesday the 10th", None), ("Tuesday or Wednesday", None), ("March", None), ("the thirty-first of April", None),
    ("1/1/2027 or 2/1/2027", None), ("tomorrow or Friday", None), ("I don't know", None), ("13/13", None),
])
def test_dates_from_speech(said: str, expected: str | None) -> None:
    found = parse_date(said, MONDAY)
    assert (found.isoformat() if found else None) == expected


def test_day_and_month_order_is_configured() -> None:
    assert parse_date("5/3", MONDAY, order="MDY") == datetime.date(2026, 5, 3)
    assert parse_date("3/5/2027", MONDAY, order="MDY") == datetime.date(2027, 3, 5)
    assert parse_date("the fifth of March", MONDAY, order="MDY") == datetime.date(2026, 3, 5)  # words: no doubt
    assert parse_date("the first of March", MONDAY, prefer_future=False) == datetime.date(2026, 3, 1)


DATES = st.dates(datetime.date(2000, 1, 1), datetime.date(2098, 12, 31))


@PROPERTY
@given(DATES, DATES, st.sampled_from(["DMY", "MDY"]))
def test_written_dates_read_back(day: datetime.date, today: datetime.date, order: Any) -> None:
    month = f"{day:%B}"
    for said in (f"the {ordinal_words(day.day)} of {month} {day.year}", f"{month} {day.day}{suffix(day.day)}, "
                 f"{day.year}", f"{day.day} {month} {day.year}", f"{month} the {ordinal_words(day.day)} {day.year}",
                 day.isoformat(), f"on {day:%A} the {day.day}{suffix(day.day)} of {month} {day.year}"):
        assert parse_date(said, today, order=order) == day, said
    numeric = f"{day.day}/{day.month}/{day.year}" if order == "DMY" else f"{day.month}/{day.day}/{day.year}"
    assert parse_date(numeric, today, order=order) == day
    keys = f"{day:%d%m%Y}" if order == "DMY" else f"{day:%m%d%Y}"
    assert date_from_keys(keys, today, order=order) == day
    assert date_from_keys(f"{day.day}*{day.month}*{day.year}#", today) == day


@PROPERTY
@given(DATES, DATES)
def test_a_date_without_a_year_is_the_next_one(day: datetime.date, today: datetime.date) -> None:
    found = parse_date(f"{day:%B} {day.day}{suffix(day.day)}", today)
    assert found is not None and found >= today and (found.month, found.day) == (day.month, day.day)
    assert (found - today).days < 366 or (day.month, day.day) == (2, 29)


@PROPERTY
@given(DATES, st.integers(0, 400), st.booleans())
def test_in_n_days(today: datetime.date, n: int, spelled: bool) -> None:
    amount = spell(n) if spelled else str(n)
    assert parse_date(f"in {amount} days", today) == today + datetime.timedelta(days=n)


@PROPERTY
@given(DATES, st.sampled_from(["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]))
def test_weekdays(today: datetime.date, weekday: str) -> None:
    coming = parse_date(weekday.capitalize(), today)
    following = parse_date(f"next {weekday}", today)
    previous = parse_date(f"last {weekday}", today)
    assert coming and following and previous
    assert f"{coming:%A}".lower() == f"{following:%A}".lower() == f"{previous:%A}".lower() == weekday
    assert 1 <= (coming - today).days <= 7 and 1 <= (today - previous).days <= 7
    assert 1 <= (following - today).days <= 13
    assert following.isocalendar()[:2] == (today + datetime.timedelta(days=7)).isocalendar()[:2]  # next week


# --- yes / no --------------------------------------------------------------------------------------
@pytest.mark.parametrize(("said", "expected"), [
    ("Yes.", True), ("Yeah, that's correct.", True), ("Mm-hmm.", True), ("Uh-huh.", True), ("Sure, go ahead.", True),
    ("No problem.", True), ("Why not?", True), ("That's right.", True), ("Yes, no problem.", True),
    ("No.", False), ("Nope.", False), ("I don't think so.", False), ("Definitely not.", False),
    ("That's not right.", False), ("Of course not.", False), ("No, thanks.", False), ("Not really.", False),
    ("Not sure.", None), ("I don't know.", None), ("No, yes.", None), ("Hello?", None), ("Maybe.", None),
])
def test_yes_or_no(said: str, expected: bool | None) -> None:
    assert parse_yes_no(said) is expected


FILLER = st.sampled_from(["", "um, ", "well ", "oh ", "uh "])


@PROPERTY
@given(FILLER, st.sampled_from(YES), st.sampled_from(["", ".", "!", ", please", " thank you"]))
def test_every_yes_phrase(before: str, phrase: str, after: str) -> None:
    assert parse_yes_no(f"{before}{phrase}{after}".capitalize()) is True


@PROPERTY
@given(FILLER, st.sampled_from(NO), st.sampled_from(["", ".", "!", " thank you"]))
def test_every_no_phrase(before: str, phrase: str, after: str) -> None:
    assert parse_yes_no(f"{before}{phrase}{after}") is False


# --- the capture step ------------------------------------------------------------------------------
def spec(**raw: Any) -> CaptureSpec:
    parsed, errors = parse_capture({"name": "answer", **raw}, "definition.script.states.ask.capture")
    assert errors == {} and parsed is not None
    return parsed


def test_capture_by_voice_and_by_keys() -> None:
    day = spec(kind="date")
    by_voice = capture(day, text="Next Tuesday, please.", today=MONDAY)
    by_keys = capture(day, keys="10032026#", today=MONDAY)
    assert by_voice == by_keys == Captured(datetime.date(2026, 3, 10))
    assert isinstance(by_voice, Captured) and by_voice.variable == "2026-03-10"
    assert by_voice.read_back() == "Tuesday the 10th of March 2026"
    assert capture(spec(kind="yes_no"), keys="1", today=MONDAY) == Captured(True)
    assert capture(spec(kind="yes_no"), keys="2", today=MONDAY) == Captured(False)
    assert capture(spec(kind="digits", min_digits=4, max_digits=4), text="oh one two three", today=MONDAY) \
        == Captured("0123")
    assert capture(spec(kind="regex", pattern=r"\b([A-Z]{2}\d{4})\b"), text="it's AB1234 I think", today=MONDAY) \
        == Captured("AB1234")
    assert capture(spec(kind="regex", pattern=r"order ([\d ]*\d)"), text="Order: 5, 5, 1!", today=MONDAY) \
        == Captured("5 5 1")  # found in the normalised words
    assert capture(spec(kind="text"), text="  Ada   Lovelace ", today=MONDAY) == Captured("Ada Lovelace")


def test_what_is_not_captured_says_why() -> None:
    assert capture(spec(kind="number", min=1, max=12), text="twenty", today=MONDAY) == NotCaptured("20 is above 12")
    assert capture(spec(kind="number"), text="two or three", today=MONDAY) == NotCaptured("no number understood")
    assert capture(spec(kind="yes_no"), text="not sure", today=MONDAY) == NotCaptured("no yes/no understood")
    assert capture(spec(kind="digits", min_digits=4), keys="12#", today=MONDAY) \
        == NotCaptured("2 digits, at least 4 needed")
    assert capture(spec(kind="date", dtmf=False), keys="0503", today=MONDAY) \
        == NotCaptured("key presses are not accepted here")
    assert capture(spec(kind="text"), text="   ", today=MONDAY) == NotCaptured("no text understood")
    assert capture(spec(kind="text"), today=MONDAY) == NotCaptured("nothing was said")


@pytest.mark.parametrize(("raw", "expected"), [
    ({"kind": "date"}, {"c.name": "required"}),
    ({"name": "1x", "kind": "date"}, {"c.name": "a variable name has 1-64 letters, digits or '_' and does not start "
                                                "with a digit"}),
    ({"name": "x", "kind": "colour"}, {"c.kind": "must be one of number, digits, date, yes_no, text, regex"}),
    ({"name": "x", "kind": "regex"}, {"c.pattern": "a regex capture needs a pattern"}),
    ({"name": "x", "kind": "regex", "pattern": "(a*)*"}, {"c.pattern": "a repeated group that itself repeats, like "
                                                                       "(a+)+, can take exponential time; rewrite it "
                                                                       "without nesting"}),
    ({"name": "x", "kind": "date", "min": 1}, {"c.min": "applies only to kind number"}),
    ({"name": "x", "kind": "date", "date_order": "YMD"}, {"c.date_order": "must be one of DMY, MDY"}),
    ({"name": "x", "kind": "number", "extra": 1}, {"c.extra": "unknown field 'extra'"}),
    ("date", {"c": "must be an object"}),
])
def test_capture_definition_errors(raw: Any, expected: dict[str, str]) -> None:
    assert parse_capture(raw, "c") == (None, expected)


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
                    max_leaves=10)


@PROPERTY
@given(st.one_of(JSON, st.dictionaries(st.sampled_from(["name", "kind", "dtmf", "pattern", "min", "max", "min_digits",
                                                        "max_digits", "date_order", "prefer_future", "max_length"]),
                                       st.one_of(JSON, st.sampled_from(["x", "date", "regex", "number", "DMY"])))),
       st.text(max_size=40))
def test_fuzzed_capture_definitions_only_give_field_errors(raw: Any, said: str) -> None:
    parsed, errors = parse_capture(raw, "c")
    assert all(key.startswith("c") for key in errors) and (parsed is None) == bool(errors)
    if parsed is not None:
        assert isinstance(capture(parsed, text=said, today=MONDAY), (Captured, NotCaptured))
        assert isinstance(capture(parsed, keys=said, today=MONDAY), (Captured, NotCaptured))
