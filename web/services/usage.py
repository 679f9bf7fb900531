"""An organisation's usage against its limits, and validating new limits (form or JSON).

Minutes are those of calls that ended this calendar month (UTC), counted from answer, the same
figure the quota check uses when a call arrives; concurrent calls are the runs not ended yet.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from data.models import Organization
from web.errors import ApiError
from web.state import AppState

MAX_CONCURRENT = 10_000
MAX_MINUTES = 100_000_000
MAX_RETENTION_DAYS = 36_500


@dataclass(frozen=True)
class Limits:
    max_concurrent_calls: int
    monthly_minutes: int | None  # None: no monthly limit
    recording_retention_days: int | None  # None: keep recordings until their call is deleted

    @classmethod
    def of(cls, org: Organization) -> Limits:
        return cls(org.max_concurrent_calls, org.monthly_minutes, org.recording_retention_days)

    def as_json(self) -> dict[str, Any]:
        return {"max_concurrent_calls": self.max_concurrent_calls, "monthly_minutes": self.monthly_minutes,
                "recording_retention_days": self.recording_retention_days}


@dataclass(frozen=True)
class Usage:
    month: str
    minutes_this_month: float
    concurrent_calls: int
    limits: Limits

    @property
    def minutes_percent(self) -> int | None:
        limit = self.limits.monthly_minutes
        if limit is None:
            return None
        return 100 if limit == 0 else min(100, round(100 * self.minutes_this_month / limit))

    @property
    def calls_percent(self) -> int:
        limit = self.limits.max_concurrent_calls
        return 100 if limit == 0 else min(100, round(100 * self.concurrent_calls / limit))

    def as_json(self) -> dict[str, Any]:
        return {
            "month": self.month,
            "minutes_this_month": round(self.minutes_this_month, 2),
            "monthly_minutes_limit": self.limits.monthly_minutes,
            "concurrent_calls": self.concurrent_calls,
            "max_concurrent_calls": self.limits.max_concurrent_calls,
        }


async def organization(state: AppState, org_id: int) -> Organization:
    org = await state.store.accounts.organization(org_id)
    if org is None:
        raise ApiError(404, "not-found", "your organisation no longer exists")
    return org


async def usage_of(state: AppState, org: Organization) -> Usage:
    runs = state.store.runs
    return Usage(
        month=datetime.now(UTC).strftime("%Y-%m"),
        minutes_this_month=await runs.minutes_this_month(org.id),
        concurrent_calls=await runs.active_count(org.id),
        limits=Limits.of(org),
    )


def _whole(value: Any, low: int, high: int, *, optional: bool) -> tuple[int | None, str | None]:
    """A whole number in [low, high] from a form string or a JSON number; '' / None when optional."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return (None, None) if optional else (None, "required")
    if isinstance(value, bool) or isinstance(value, float):
        return None, "must be a whole number"
    if isinstance(value, str):
        text = value.strip()
        if not text.isascii() or not text.isdigit() or len(text) > 12:
            return None, "must be a whole number"
        value = int(text)
    if not isinstance(value, int):
        return None, "must be a whole number"
    if not low <= value <= high:
        return None, f"between {low} and {high:,}".replace(",", " ")
    return value, None


def validate_limits(data: Mapping[str, Any], current: Limits) -> tuple[Limits | None, dict[str, str]]:
    """New limits from `data`; a key that is absent keeps its current value (JSON PATCH, PUT and
    the form all use this; the form always sends every field)."""
    errors: dict[str, str] = {}
    values: dict[str, int | None] = {}
    rules = (("max_concurrent_calls", 0, MAX_CONCURRENT, False), ("monthly_minutes", 0, MAX_MINUTES, True),
             ("recording_retention_days", 1, MAX_RETENTION_DAYS, True))
    for key, low, high, optional in rules:
        if key not in data:
            values[key] = getattr(current, key)
            continue
        value, error = _whole(data[key], low, high, optional=optional)
        if error:
            errors[key] = error
        values[key] = value
    unknown = set(data) - {rule[0] for rule in rules}
    for key in sorted(unknown):
        errors[key] = "unknown field"
    if errors:
        return None, errors
    max_calls = values["max_concurrent_calls"]
    assert max_calls is not None
    return Limits(max_calls, values["monthly_minutes"], values["recording_retention_days"]), {}


async def save_limits(state: AppState, org_id: int, limits: Limits) -> None:
    accounts = state.store.accounts
    await accounts.set_limits(org_id, limits.max_concurrent_calls, limits.monthly_minutes)
    await accounts.set_recording_retention(org_id, limits.recording_retention_days)
