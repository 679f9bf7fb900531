"""The workflow-run filters shared by `/calls` and `/api/v1/workflow-runs`: one parser, one meaning.

    telephony_configuration_id, workflow_id   ids
    direction                                 inbound | outbound | test
    status                                    a run status
    since                                     a day (YYYY-MM-DD, from its start) or an ISO 8601 instant
    until                                     a day (through its end) or an instant (exclusive)
    limit, before_id                          page size (1-500) and cursor (runs with a smaller id)

Days and instants without an offset are UTC, like every time Switchboard stores.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from data.runs import ACTIVE_STATUSES, FINAL_STATUSES, RunFilter
from web.forms import parse_id

RUN_STATUSES = (*ACTIVE_STATUSES, *FINAL_STATUSES)
DIRECTIONS = ("inbound", "outbound", "test")
FIELDS = ("telephony_configuration_id", "workflow_id", "direction", "status", "since", "until")
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}\Z")


@dataclass(frozen=True)
class RunQuery:
    filter: RunFilter
    limit: int
    before_id: int | None
    values: dict[str, str]  # the filters as given (non-empty ones), for forms and page links


def instant(text: str, *, end_of_day: bool = False) -> str:
    """A day or an ISO 8601 time → the stored UTC format; ValueError when it is neither."""
    text = text.strip()
    if _DAY.match(text):
        day = date.fromisoformat(text)
        if end_of_day:
            day += timedelta(days=1)
        return f"{day.isoformat()}T00:00:00.000Z"
    if len(text) > 40 or "T" not in text.upper():
        raise ValueError(text)
    moment = datetime.fromisoformat(text.upper().replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_run_query(params: Mapping[str, str], *, default_limit: int = 50) -> tuple[RunQuery | None, dict[str, str]]:
    """The query, or None and the errors by field."""
    errors: dict[str, str] = {}
    ids: dict[str, int | None] = {}
    for key in ("telephony_configuration_id", "workflow_id", "before_id"):
        value = parse_id(params.get(key))
        if value == "invalid":
            errors[key] = "must be a positive whole number"
        else:
            ids[key] = value  # type: ignore[assignment]
    direction = params.get("direction") or None
    if direction not in (None, *DIRECTIONS):
        errors["direction"] = "inbound, outbound or test"
    status = params.get("status") or None
    if status is not None and status not in RUN_STATUSES:
        errors["status"] = "one of " + ", ".join(RUN_STATUSES)
    bounds: dict[str, str | None] = {}
    for key, end_of_day in (("since", False), ("until", True)):
        raw = params.get(key) or ""
        try:
            bounds[key] = instant(raw, end_of_day=end_of_day) if raw.strip() else None
        except ValueError:
            errors[key] = "a day (YYYY-MM-DD) or a time (YYYY-MM-DDTHH:MM:SSZ)"
    limit = parse_id(params.get("limit") or str(default_limit))
    if not isinstance(limit, int) or not 1 <= limit <= 500:
        errors["limit"] = "between 1 and 500"
    if errors:
        return None, errors
    assert isinstance(limit, int)
    flt = RunFilter(ids["telephony_configuration_id"], ids["workflow_id"], direction, status,
                    bounds["since"], bounds["until"])
    values = {k: str(params[k]).strip() for k in FIELDS if params.get(k)}
    return RunQuery(flt, limit, ids["before_id"], values), {}
