"""The organisation's allowed hosts for requests to its own systems (tools, pre-call lookups,
post-call webhooks), for the Organisation page and `/api/v1/organization/outbound`.

    {"allowed_hosts": ["crm.lan", "*.corp.example", "10.20.0.0/16"], "only_listed": false}

Entries are host names, `*.` wildcards, addresses and networks (`agent.hosts`). Public addresses
are allowed unless `only_listed`; private, loopback and link-local ones only when listed. The form
takes one entry a line; its errors name the line.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agent.hosts import MAX_ENTRIES, HostPolicy
from data.models import OutboundSetting
from web.state import AppState

Errors = dict[str, str]
_ON = ("on", "true", "1", "yes")


def setting_json(setting: OutboundSetting) -> dict[str, Any]:
    return {"allowed_hosts": list(setting.allowed_hosts), "only_listed": setting.only_listed}


def validate_outbound(data: Mapping[str, Any], current: OutboundSetting) -> tuple[OutboundSetting | None, Errors]:
    """JSON: absent keys keep `current`; `allowed_hosts` a list of text, `only_listed` true/false."""
    entries = data.get("allowed_hosts", list(current.allowed_hosts))
    only_listed = data.get("only_listed", current.only_listed)
    errors: Errors = {}
    if not isinstance(only_listed, bool):
        errors["only_listed"] = "must be true or false"
    unknown = [key for key in data if key not in ("allowed_hosts", "only_listed")]
    errors |= {key: f"unknown field {key!r}" for key in unknown}
    _, host_errors = HostPolicy.parse(entries)
    errors |= host_errors
    if errors or not isinstance(entries, list):
        return None, errors
    clean = list(dict.fromkeys(entry.strip() for entry in entries))
    return OutboundSetting(tuple(clean), bool(only_listed)), {}


def validate_outbound_form(values: Mapping[str, str]) -> tuple[OutboundSetting | None, Errors]:
    """The form: `allowed_hosts` one entry a line (blank lines ignored), `only_listed` a checkbox."""
    lines = [line.strip() for line in values.get("allowed_hosts", "").splitlines()]
    entries = [line for line in lines if line]
    if len(entries) > MAX_ENTRIES:
        return None, {"allowed_hosts": f"at most {MAX_ENTRIES} entries"}
    setting, errors = validate_outbound({"allowed_hosts": entries,
                                         "only_listed": values.get("only_listed", "").lower() in _ON},
                                        OutboundSetting())
    if setting is not None:
        return setting, {}
    problems = [f"{entries[int(key.rsplit('.', 1)[1])]}: {message}" for key, message in errors.items()
                if key.startswith("allowed_hosts.")]
    return None, {"allowed_hosts": "; ".join(problems) or next(iter(errors.values()))}


async def outbound_of(state: AppState, org_id: int) -> OutboundSetting:
    return await state.store.outbound.get(org_id)


async def save_outbound(state: AppState, org_id: int, setting: OutboundSetting) -> None:
    await state.store.outbound.set(org_id, setting.allowed_hosts, setting.only_listed)
