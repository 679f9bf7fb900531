"""The workflow form's tools, pre-call lookup and webhooks: form fields ⇄ the definition's JSON.

Rows are keyed by a short token, not a position, so rows can be added and removed (htmx or a
plain submit) without renumbering: `tool-<key>-<field>` and `webhook-<key>-<field>`; their order is
the order of the form. Headers are one `Name: value` a line; secret headers sit in their own box,
where a stored secret shows as `Name: ********` (sent back, it keeps the stored value, matched by
tool name and header name). A webhook's secret is write-only: blank keeps the stored one (or
generates one for a new URL), "rotate" generates a new one. A row left blank is dropped.

`places` maps the API's error keys (`definition.tools.0.url`) to the field that shows them.
"""
from __future__ import annotations

import json
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from agent.definition import SECRET_MASK
from agent.tool_definition import DEFAULT_APOLOGY, DEFAULT_FILLER, DEFAULT_TIMEOUT_S, METHODS
from web.requests import parse_json

Errors = dict[str, str]
TOOL_FIELDS = ("name", "description", "method", "url", "parameters", "headers", "secret_headers", "timeout_s",
               "filler", "apology")
WEBHOOK_FIELDS = ("url", "secret", "rotate")
SECTION_KEYS = ("tools", "pre_call", "webhooks")
MARKER = "sections"
"""A hidden field: the form edits the tools, the lookup and the webhooks (so the JSON must not)."""
_ROW = re.compile(r"^(tool|webhook)-([a-z0-9]{1,16})-([a-z_]+)\Z")
_NUMBER = re.compile(r"^\d{1,4}(\.\d{1,3})?\Z")
_ON = ("on", "true", "1", "yes")


def new_key() -> str:
    return secrets.token_hex(4)


def row_keys(values: Mapping[str, str], kind: str) -> list[str]:
    """The keys of the `kind` rows ("tool" or "webhook"), in the order of the form."""
    keys: list[str] = []
    for name in values:
        match = _ROW.match(name)
        if match and match.group(1) == kind and match.group(2) not in keys:
            keys.append(match.group(2))
    return keys


@dataclass
class FromForm:
    sections: dict[str, Any] = field(default_factory=dict)
    errors: Errors = field(default_factory=dict)
    places: dict[str, str] = field(default_factory=dict)
    """API error key prefix → the form field that shows it."""


def sections_from_form(values: Mapping[str, str]) -> FromForm:
    out = FromForm()
    rows = [row for key in row_keys(values, "tool") if (row := _tool(values, key, out)) is not None]
    for index, (key, tool) in enumerate(rows):
        out.places |= {f"definition.tools.{index}.{name}": f"tool-{key}-{name}" for name in TOOL_FIELDS}
        out.places[f"definition.tools.{index}"] = f"tool-{key}-name"
        for j, source in enumerate(tool.pop("_sources")):
            out.places[f"definition.tools.{index}.headers.{j}"] = f"tool-{key}-{source}"
    out.sections["tools"] = [tool for _, tool in rows]
    out.sections["pre_call"] = _pre_call(values, out)
    webhooks: list[dict[str, Any]] = []
    for key in row_keys(values, "webhook"):
        url = values.get(f"webhook-{key}-url", "").strip()
        if not url:
            continue
        out.places[f"definition.webhooks.{len(webhooks)}.url"] = f"webhook-{key}-url"
        out.places[f"definition.webhooks.{len(webhooks)}.secret"] = f"webhook-{key}-secret"
        typed = values.get(f"webhook-{key}-secret", "").strip()
        rotate = values.get(f"webhook-{key}-rotate", "").lower() in _ON
        webhooks.append({"url": url, "secret": typed or ("" if rotate else SECRET_MASK)})
    out.sections["webhooks"] = webhooks
    return out


def _tool(values: Mapping[str, str], key: str, out: FromForm) -> tuple[str, dict[str, Any]] | None:
    def get(name: str) -> str:
        return values.get(f"tool-{key}-{name}", "").strip()
    if not any(get(name) for name in TOOL_FIELDS if name != "method"):
        return None  # a blank row
    tool: dict[str, Any] = {"name": get("name"), "description": get("description"),
                            "method": get("method") or "GET", "url": get("url")}
    if get("parameters"):
        try:
            tool["parameters"] = parse_json(get("parameters"))
        except ValueError as exc:
            out.errors[f"tool-{key}-parameters"] = f"not valid JSON: {exc}"
    plain = _header_lines(get("headers"), False, f"tool-{key}-headers", out)
    hidden = _header_lines(get("secret_headers"), True, f"tool-{key}-secret_headers", out)
    tool["headers"] = plain + hidden
    tool["_sources"] = ["headers"] * len(plain) + ["secret_headers"] * len(hidden)
    timeout = get("timeout_s")
    if timeout and _NUMBER.match(timeout):
        tool["timeout_s"] = float(timeout)
    elif timeout:
        out.errors[f"tool-{key}-timeout_s"] = "enter a number of seconds, like 5 or 2.5"
    for name in ("filler", "apology"):
        if get(name):
            tool[name] = get(name)
    return key, tool


def _header_lines(text: str, secret: bool, field_name: str, out: FromForm) -> list[dict[str, Any]]:
    headers: list[dict[str, Any]] = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        name, colon, value = line.partition(":")
        if not colon:
            out.errors.setdefault(field_name, f"line {number}: write one header a line as Name: value")
            continue
        headers.append({"name": name.strip(), "value": value.strip(), "secret": secret})
    return headers


def _pre_call(values: Mapping[str, str], out: FromForm) -> dict[str, Any] | None:
    url = values.get("pre_call_url", "").strip()
    if not url:
        return None
    section: dict[str, Any] = {"url": url}
    out.places |= {"definition.pre_call.url": "pre_call_url", "definition.pre_call.timeout_s": "pre_call_timeout_s",
                   "definition.pre_call": "pre_call_url"}
    timeout = values.get("pre_call_timeout_s", "").strip()
    if timeout and _NUMBER.match(timeout):
        section["timeout_s"] = float(timeout)
    elif timeout:
        out.errors["pre_call_timeout_s"] = "enter a number of seconds, like 2"
    plain = _header_lines(values.get("pre_call_headers", ""), False, "pre_call_headers", out)
    hidden = _header_lines(values.get("pre_call_secret_headers", ""), True, "pre_call_secret_headers", out)
    section["headers"] = plain + hidden
    for j in range(len(plain) + len(hidden)):
        out.places[f"definition.pre_call.headers.{j}"] = "pre_call_headers" if j < len(plain) \
            else "pre_call_secret_headers"
    return section


def place_errors(errors: Errors, places: Mapping[str, str]) -> Errors:
    """Errors keyed by the form field that shows them; a deeper path stays in the message."""
    out: Errors = {}
    for key, message in errors.items():
        prefix = max((p for p in places if key == p or key.startswith(p + ".")), key=len, default=None)
        if prefix is None:
            out[key] = message
            continue
        rest = key[len(prefix) + 1:]
        out.setdefault(places[prefix], f"{rest}: {message}" if rest else message)
    return out


# --- showing a stored (redacted) definition -------------------------------------------------------

def blank_tool(key: str | None = None) -> dict[str, Any]:
    return {"key": key or new_key(), "name": "", "description": "", "method": "POST", "url": "",
            "parameters": "", "headers": "", "secret_headers": "", "timeout_s": "", "filler": "", "apology": "",
            "defaults": {"timeout_s": DEFAULT_TIMEOUT_S, "filler": DEFAULT_FILLER, "apology": DEFAULT_APOLOGY}}


def blank_webhook(key: str | None = None) -> dict[str, Any]:
    return {"key": key or new_key(), "url": "", "secret_set": False}


def section_values(definition: Mapping[str, Any]) -> dict[str, Any]:
    """The rows and fields the form shows for a redacted definition."""
    tools = [_tool_row(f"t{i}", tool) for i, tool in enumerate(definition.get("tools") or []) if isinstance(tool, dict)]
    webhooks = [{"key": f"w{i}", "url": hook.get("url", ""), "secret_set": bool(hook.get("secret"))}
                for i, hook in enumerate(definition.get("webhooks") or []) if isinstance(hook, dict)]
    pre_call = definition.get("pre_call") if isinstance(definition.get("pre_call"), dict) else {}
    assert isinstance(pre_call, dict)
    headers = pre_call.get("headers") or []
    return {"tools": tools, "webhooks": webhooks, "pre_call_url": pre_call.get("url", ""),
            "pre_call_timeout_s": _number(pre_call.get("timeout_s")),
            "pre_call_headers": _lines(headers, secret=False), "pre_call_secret_headers": _lines(headers, secret=True)}


def _tool_row(key: str, tool: Mapping[str, Any]) -> dict[str, Any]:
    parameters = tool.get("parameters")
    has_parameters = isinstance(parameters, dict) and bool(parameters.get("properties"))
    headers = tool.get("headers") or []
    return blank_tool(key) | {
        "name": tool.get("name", ""), "description": tool.get("description", ""), "method": tool.get("method", "GET"),
        "url": tool.get("url", ""), "parameters": json.dumps(parameters, indent=2) if has_parameters else "",
        "headers": _lines(headers, secret=False), "secret_headers": _lines(headers, secret=True),
        "timeout_s": _number(tool.get("timeout_s")), "filler": tool.get("filler", ""),
        "apology": tool.get("apology", "")}


def submitted_values(values: Mapping[str, str]) -> dict[str, Any]:
    """The rows and fields as submitted, to show the form again (typed secret values are never
    shown again: a secret header keeps only its name unless it was the stored mask)."""
    tools = []
    for key in row_keys(values, "tool"):
        row = blank_tool(key) | {name: values.get(f"tool-{key}-{name}", "") for name in TOOL_FIELDS}
        row["secret_headers"] = "\n".join(
            f"{name.strip()}: {SECRET_MASK if value.strip() == SECRET_MASK else ''}"
            for name, _, value in (line.partition(":") for line in row["secret_headers"].splitlines() if line.strip()))
        tools.append(row)
    webhooks = [{"key": key, "url": values.get(f"webhook-{key}-url", ""), "secret_set": False}
                for key in row_keys(values, "webhook")]
    secret_lines = [line.partition(":") for line in values.get("pre_call_secret_headers", "").splitlines()]
    return {"tools": tools, "webhooks": webhooks, "pre_call_url": values.get("pre_call_url", ""),
            "pre_call_timeout_s": values.get("pre_call_timeout_s", ""),
            "pre_call_headers": values.get("pre_call_headers", ""),
            "pre_call_secret_headers": "\n".join(f"{n.strip()}: {SECRET_MASK if v.strip() == SECRET_MASK else ''}"
                                                 for n, _, v in secret_lines if n.strip())}


def _lines(headers: object, *, secret: bool) -> str:
    if not isinstance(headers, list):
        return ""
    return "\n".join(f"{h.get('name', '')}: {h.get('value', '')}" for h in headers
                     if isinstance(h, dict) and bool(h.get("secret")) == secret)


def _number(value: object) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"{value:g}"
    return ""


def method_choices() -> tuple[str, ...]:
    return METHODS
