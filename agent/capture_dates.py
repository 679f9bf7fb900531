"""Dates from what a caller said (English, a Whisper transcript) or pressed, relative to `today`. Pure.

Understood:
- "today", "tonight", "tomorrow", "the day after tomorrow", "yesterday", "in 3 days",
  "in two weeks", "a week from today", "5 days from now";
- weekdays: "Tuesday", "on Tuesday", "this Tuesday", "this coming Tuesday" = the next Tuesday
  after today (1 to 7 days ahead: on a Tuesday it is next week's; say "today" for today);
  "next Tuesday" = the Tuesday of next week (weeks start on Monday); "last Tuesday" = the one before;
- "the fifth of March", "5th March", "March 5th", "March the fifth", "March twenty-first",
  "March 5, 2026", "5 March twenty twenty six", "the 10th" (the next 10th of a month);
- "2026-03-05"; "5/3", "5.3.26", "05/03/2026" read day-first or month-first (`order`).
A weekday named with a date must agree with it ("Tuesday the 10th"), else the answer is
ambiguous. Without a year: the next such date from today on (`prefer_future`), or this year's.
Two different dates in one answer are ambiguous: None, so the dialog can ask again.
"""
from __future__ import annotations

import datetime
import re
from typing import Literal

from agent.capture_numbers import HESITATIONS, TENS, UNITS, parse_number

Order = Literal["DMY", "MDY"]
Day = datetime.date

MONTHS = {name: i + 1 for i, name in enumerate(
    ("january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
     "november", "december"))}
MONTHS |= {"jan": 1, "feb": 2, "apr": 4, "jun": 6, "jul": 7, "aug": 8, "sep": 9, "sept": 9, "oct": 10, "nov": 11,
           "dec": 12}
WEEKDAYS = {name: i for i, name in enumerate(
    ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"))}
WEEKDAYS |= {"mon": 0, "tue": 1, "tues": 1, "wed": 2, "weds": 2, "thu": 3, "thur": 3, "thurs": 3, "fri": 4,
             "sat": 5, "sun": 6}
ORDINALS = {"first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7, "eighth": 8,
            "ninth": 9, "tenth": 10, "eleventh": 11, "twelfth": 12, "thirteenth": 13, "fourteenth": 14,
            "fifteenth": 15, "sixteenth": 16, "seventeenth": 17, "eighteenth": 18, "nineteenth": 19,
            "twentieth": 20, "thirtieth": 30}
_RELATIVE = {"today": 0, "tonight": 0, "tomorrow": 1, "yesterday": -1}
_SKIP = {"the", "of", "on", "for", "please", "and"} | HESITATIONS
_WORD = re.compile(r"\d+(?:st|nd|rd|th)?|[a-z]+")
_ISO = re.compile(r"\b(\d{4})-(\d{1,2})-(\d{1,2})\b")
_NUMERIC = re.compile(r"(?<![\d/.-])(\d{1,2})([/.-])(\d{1,2})(?:\2(\d{4}|\d{2}))?(?![\d/-]|\.\d)")
_UNITS_OF_TIME = {"day": 1, "days": 1, "week": 7, "weeks": 7, "fortnight": 14}


def parse_date(text: str, today: Day, *, order: Order = "DMY", prefer_future: bool = True) -> Day | None:
    """The one date `text` names, or None (none, ambiguous, or no such day)."""
    lowered = text.lower().replace("’", "'")
    words = _WORD.findall(lowered)
    found: set[Day] = set()
    for match in _ISO.finditer(lowered):
        _add(found, _make(int(match[1]), int(match[2]), int(match[3])))
    for match in _NUMERIC.finditer(_ISO.sub(" ", lowered)):
        _add(found, _numeric(match, today, order, prefer_future))
    found |= _in_days(words, today)
    found |= _relative_words(words, today)
    named = _named_dates(words, today, prefer_future)
    if named is None:
        return None
    found |= named
    if not named:
        weekday = _weekday(words, today)
        if weekday is None:
            return None
        found |= weekday
    return next(iter(found)) if len(found) == 1 else None


def date_from_keys(keys: str, today: Day, *, order: Order = "DMY", prefer_future: bool = True) -> Day | None:
    """DTMF: DDMM, DDMMYY or DDMMYYYY (MMDD... with order MDY), or parts split by * ("5*3*2026#")."""
    keys = keys.strip().removesuffix("#")
    parts = keys.split("*") if "*" in keys else [keys[i:i + 2] for i in (0, 2)] + ([keys[4:]] if len(keys) > 4 else [])
    if not keys or not all(p.isdigit() and p.isascii() for p in parts) or len(parts) not in (2, 3) \
            or ("*" not in keys and len(keys) not in (4, 6, 8)):
        return None
    first, second = int(parts[0]), int(parts[1])
    day, month = (first, second) if order == "DMY" else (second, first)
    year = _full_year(parts[2]) if len(parts) == 3 else None
    return _resolve(day, month, year, today, prefer_future)


def _add(found: set[Day], value: Day | None) -> None:
    if value is not None:
        found.add(value)


def _make(year: int, month: int, day: int) -> Day | None:
    try:
        return datetime.date(year, month, day)
    except ValueError:
        return None


def _full_year(text: str) -> int | None:
    if len(text) == 2:
        return 2000 + int(text)
    return int(text) if len(text) == 4 else None


def _resolve(day: int, month: int, year: int | None, today: Day, prefer_future: bool) -> Day | None:
    if year is not None:
        return _make(year, month, day)
    if not prefer_future:
        return _make(today.year, month, day)
    for candidate_year in range(today.year, today.year + 9):  # 29 February waits for a leap year
        candidate = _make(candidate_year, month, day)
        if candidate is not None and candidate >= today:
            return candidate
    return None


def _numeric(match: re.Match[str], today: Day, order: Order, prefer_future: bool) -> Day | None:
    first, second = int(match[1]), int(match[3])
    day, month = (first, second) if order == "DMY" else (second, first)
    year = _full_year(match[4]) if match[4] else None
    return _resolve(day, month, year, today, prefer_future)


def _in_days(words: list[str], today: Day) -> set[Day]:
    """"in 3 days", "in two weeks", "in a fortnight", "a week from today", "5 days from now"."""
    found: set[Day] = set()
    for k, word in enumerate(words):
        if word not in _UNITS_OF_TIME:
            continue
        start = k
        while start > 0 and k - start < 6 and (words[start - 1] in ("a", "an", "and")
                                               or parse_number(words[start - 1]) is not None):
            start -= 1
        amount_words = words[start:k]
        leads_in = start > 0 and words[start - 1] == "in"
        from_now = words[k + 1:k + 3] in (["from", "now"], ["from", "today"])
        if not amount_words or not (leads_in or from_now):
            continue
        spoken = " ".join(amount_words)
        amount = 1 if spoken in ("a", "an") else parse_number(spoken)
        if isinstance(amount, int) and 0 <= amount <= 3660:
            found.add(today + datetime.timedelta(days=amount * _UNITS_OF_TIME[word]))
    return found


def _relative_words(words: list[str], today: Day) -> set[Day]:
    found: set[Day] = set()
    for i, word in enumerate(words):
        if word in _RELATIVE:
            offset = _RELATIVE[word]
            if i >= 2 and words[i - 2:i] == ["day", "after"]:
                offset += 1
            elif i >= 2 and words[i - 2:i] == ["day", "before"]:
                offset -= 1
            elif i >= 2 and words[i - 1] == "from" and words[i - 2] in ("week", "weeks", "day", "days", "now"):
                continue  # "a week from today": counted by _IN
            found.add(today + datetime.timedelta(days=offset))
    return found


def _weekday(words: list[str], today: Day) -> set[Day] | None:
    """The weekday said, with its modifier; None when two different weekdays are named."""
    found: set[Day] = set()
    for i, word in enumerate(words):
        if word not in WEEKDAYS or (word in ("sun", "sat", "wed") and i > 0 and words[i - 1] not in
                                    ("on", "this", "next", "last", "coming")):
            continue
        before = [w for w in words[max(0, i - 2):i] if w != "coming"]
        ahead = (WEEKDAYS[word] - today.weekday()) % 7 or 7
        if before[-1:] == ["next"]:
            next_monday = today + datetime.timedelta(days=7 - today.weekday())
            found.add(next_monday + datetime.timedelta(days=WEEKDAYS[word]))
        elif before[-1:] == ["last"]:
            found.add(today - datetime.timedelta(days=(today.weekday() - WEEKDAYS[word]) % 7 or 7))
        else:
            found.add(today + datetime.timedelta(days=ahead))
    return found if len(found) <= 1 else None


def _named_dates(words: list[str], today: Day, prefer_future: bool) -> set[Day] | None:
    """Dates with a month name, or an ordinal day alone ("the 10th"); None when a named weekday
    disagrees with the date."""
    content = [w for w in words if w not in _SKIP]
    found: set[Day] = set()
    for i, word in enumerate(content):
        if word not in MONTHS:
            continue
        day, year = _day_around(content, i)
        if day is None or (word == "may" and not _is_day_word(content, i)):
            continue
        _add(found, _resolve(day, MONTHS[word], year, today, prefer_future))
    if not found and not any(w in MONTHS for w in content):
        for i in range(len(words)):  # "the 10th", "on the fifth", "21st": never "wait a second"
            ordinal = _day_at(words, i, ordinal_only=True)
            if ordinal is not None and (words[i - 1:i] == ["the"] or words[i][0].isdigit()):
                _add(found, _next_day_of_month(ordinal[0], today))
    weekdays = {WEEKDAYS[w] for w in words if w in WEEKDAYS}
    if found and weekdays and any(d.weekday() not in weekdays for d in found):
        return None
    return found


def _is_day_word(content: list[str], i: int) -> bool:
    return _day_at(content, i + 1) is not None or (i > 0 and _day_at(content, i - 1) is not None)


def _day_around(content: list[str], i: int) -> tuple[int | None, int | None]:
    """The day next to the month at `i` and a year after both. A day on each side ("for 2 March
    5th", "5 March twenty twenty"): a year after the month means the day is before it; else an
    ordinal wins over a plain number; else it is ambiguous."""
    before = None
    for start in (i - 1, i - 2):  # "twenty first of March": the longer reading wins
        found = _day_at(content, start) if start >= 0 else None
        if found is not None and start + found[1] == i:
            before = found[0], _is_ordinal(content[start:i])
    after_day = _day_at(content, i + 1)
    after = (after_day[0], _is_ordinal(content[i + 1:i + 1 + after_day[1]])) if after_day else None
    year_after_month = _year_at(content, i + 1)
    if before is not None and (after is None or year_after_month is not None or (before[1] and not after[1])):
        return before[0], year_after_month
    if after is not None and after_day is not None and (before is None or (after[1] and not before[1])):
        return after[0], _year_at(content, i + 1 + after_day[1])
    return None, None


def _is_ordinal(words: list[str]) -> bool:
    return bool(words) and (words[-1] in ORDINALS or re.fullmatch(r"\d+(st|nd|rd|th)", words[-1]) is not None)


def _day_at(content: list[str], i: int, *, ordinal_only: bool = False) -> tuple[int, int] | None:
    """(day 1-31, words used) read at `i`: "5th", "5", "fifth", "twenty first", "twenty-five"."""
    if i >= len(content):
        return None
    word = content[i]
    digits = re.fullmatch(r"(\d{1,2})(st|nd|rd|th)?", word)
    if digits and (digits[2] or not ordinal_only):
        return (int(digits[1]), 1) if 1 <= int(digits[1]) <= 31 else None
    nxt = content[i + 1] if i + 1 < len(content) else ""
    if word in ("twenty", "thirty"):
        tens = TENS[word]
        if nxt in ORDINALS and ORDINALS[nxt] < 10 and tens + ORDINALS[nxt] <= 31:
            return tens + ORDINALS[nxt], 2
        if not ordinal_only and nxt in UNITS and 0 < UNITS[nxt] and tens + UNITS[nxt] <= 31:
            return tens + UNITS[nxt], 2
    if word in ORDINALS:
        return ORDINALS[word], 1
    if not ordinal_only:
        value = parse_number(word)
        if isinstance(value, int) and 1 <= value <= 31 and not word.isdigit():
            return value, 1
    return None


def _year_at(content: list[str], i: int) -> int | None:
    """A year said after the date: "2026", "twenty twenty six", "two thousand and twenty six"."""
    taken: list[str] = []
    for word in content[i:i + 5]:
        if not (word.isdigit() or word in UNITS or word in TENS or word in ("thousand", "hundred", "ten", "eleven",
                                                                            "twelve", "thirteen", "fourteen",
                                                                            "fifteen", "sixteen", "seventeen",
                                                                            "eighteen", "nineteen")):
            break
        taken.append(word)
    for size in range(len(taken), 0, -1):
        value = parse_number(" ".join(taken[:size]))
        if isinstance(value, int) and 1900 <= value <= 2199:
            return value
    return None


def _next_day_of_month(day: int, today: Day) -> Day | None:
    year, month = today.year, today.month
    for _ in range(13):
        candidate = _make(year, month, day)
        if candidate is not None and candidate >= today:
            return candidate
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return None

