"""User-defined HTTP tools in a workflow definition: parsed into frozen dataclasses with field errors.

    "tools": [{
      "name": "book_table",
      "description": "Book a table for the caller",
      "parameters": {"type": "object", "properties": {"date": {"type": "string", "format": "date"},
                     "party": {"type": "integer", "minimum": 1}}, "required": ["date", "party"]},
      "method": "POST",
      "url": "https://crm.example.com/api/bookings?caller={{caller_number}}",
      "headers": [{"name": "Authorization", "value": "Bearer …", "secret": true}],
      "timeout_s": 5,
      "filler": "One moment while I check the book.",
      "apology": "Sorry, the booking system is not answering."
    }]

The URL's scheme, host and port are fixed; `{{name}}` may appear in its path and query (an
argument of that name, else a call variable; percent-encoded, see `agent.tools`). Header values
may use `{{name}}` too, except secret ones, which are sent as stored. Secret header values are
encrypted at rest like the definition's other secrets: `map_tool_secrets`, `redact_tool_secrets`,
`restore_tool_secrets` (match by tool name and header name, so reordering keeps them).
Errors are keyed like `definition.tools.0.url`. Parsing never raises.
"""
from __future__ import annotations

import copy
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx

from agent.errors import ToolSecretUnreadable
from agent.fields import FieldCheck
from agent.tool_schema import Parameters, parse_parameters

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
RESERVED_NAMES = ("transfer_call", "end_call")
MAX_TOOLS = 20
MAX_HEADERS = 20
DEFAULT_TIMEOUT_S = 5.0
DEFAULT_FILLER = "One moment, please."
DEFAULT_APOLOGY = "Sorry, I couldn't do that just now."
SECRET_MASK = "********"  # the mask agent.definition shows for every secret

PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]{0,63})\s*\}\}")
_TOOL_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}\Z")
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}\Z")
_URL = re.compile(r"^(https?://[^/?#{}\s@]+)(.*)\Z", re.DOTALL)
_REST = re.compile(r"^(?:[/?][^#\s]*)?\Z")
_MANAGED_HEADERS = {"host", "content-length", "transfer-encoding", "connection", "content-encoding", "te",
                    "trailer", "upgrade", "keep-alive", "proxy-authorization", "proxy-connection"}
_CONTROL = dict.fromkeys(range(32))
_TOOL_KEYS = {"name", "description", "parameters", "method", "url", "headers", "timeout_s", "filler", "apology"}


@dataclass(frozen=True)
class Header:
    name: str
    value: str = field(repr=False)
    """Encrypted at rest when `secret`; decrypted only when the call starts."""
    secret: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "value": self.value, "secret": self.secret}


@dataclass(frozen=True)
class ToolDefinition:
    name: str
    description: str
    parameters: Parameters
    method: str
    url: str
    headers: tuple[Header, ...] = ()
    timeout_s: float = DEFAULT_TIMEOUT_S
    filler: str = DEFAULT_FILLER
    apology: str = DEFAULT_APOLOGY

    def function_tool(self) -> dict[str, Any]:
        """The tool as an OpenAI-compatible chat-completions `tools` entry."""
        return {"type": "function", "function": {"name": self.name, "description": self.description,
                                                 "parameters": self.parameters.to_json()}}

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description, "parameters": self.parameters.to_json(),
                "method": self.method, "url": self.url, "headers": [h.to_json() for h in self.headers],
                "timeout_s": self.timeout_s, "filler": self.filler, "apology": self.apology}


def parse_tools(raw: object, path: str = "definition.tools") -> tuple[tuple[ToolDefinition, ...], dict[str, str]]:
    """The tools of a definition (absent/None: none) and field errors; invalid tools are left out."""
    errors: dict[str, str] = {}
    if raw is None:
        return (), errors
    fields = FieldCheck(path, errors)
    if not isinstance(raw, list):
        fields.fail("must be a list of tools")
        return (), errors
    if len(raw) > MAX_TOOLS:
        fields.fail(f"at most {MAX_TOOLS} tools")
    tools: list[ToolDefinition] = []
    seen: set[str] = set()
    for index, item in enumerate(raw[:MAX_TOOLS]):
        before = len(errors)
        tool = _tool(fields.at(index), item)
        if tool is not None and tool.name in seen:
            fields.at(index).at("name").fail("another tool has this name")
        elif tool is not None and len(errors) == before:
            tools.append(tool)
        if tool is not None:
            seen.add(tool.name)
    return tuple(tools), errors


def _tool(fields: FieldCheck, raw: object) -> ToolDefinition | None:
    section = fields.obj(raw)
    if section is None:
        return None
    fields.only(section, set(_TOOL_KEYS))
    name = fields.text(section, "name", limit=64, required=True)
    if name and not _TOOL_NAME.match(name):
        fields.at("name").fail("a tool name has 1-64 letters, digits, '_' or '-' and starts with a letter")
    elif name in RESERVED_NAMES:
        fields.at("name").fail(f"{name} is built in; choose another name")
    method = section.get("method", "GET")
    method = method.upper() if isinstance(method, str) else method
    if method not in METHODS:
        fields.at("method").fail("must be one of " + ", ".join(METHODS))
    return ToolDefinition(
        name=name,
        description=fields.text(section, "description", limit=1000, required=True),
        parameters=parse_parameters(fields.at("parameters"), section.get("parameters")),
        method=method if method in METHODS else "GET",
        url=url_template(fields.at("url"), section.get("url")),
        headers=parse_headers(fields.at("headers"), section.get("headers")),
        timeout_s=fields.number(section, "timeout_s", DEFAULT_TIMEOUT_S, 0.5, 30),
        filler=fields.text(section, "filler", DEFAULT_FILLER, limit=300),
        apology=fields.text(section, "apology", DEFAULT_APOLOGY, limit=300),
    )


def url_template(fields: FieldCheck, raw: object) -> str:
    """An http(s) URL whose scheme, host and port are fixed; `{{name}}` only in path and query."""
    if not isinstance(raw, str) or not raw.strip():
        fields.fail("required: an http:// or https:// URL")
        return ""
    if len(raw) > 2000:
        fields.fail("at most 2000 characters")
        return ""
    match = _URL.match(raw.strip())
    if match is None or not _REST.match(PLACEHOLDER.sub("x", match.group(2))):
        fields.fail("must be an http:// or https:// URL with a fixed host ({{name}} may appear only in the "
                    "path and query; no spaces, user:password@ or #)")
        return ""
    base, rest = match.group(1), match.group(2)
    if "{" in PLACEHOLDER.sub("", rest) or "}" in PLACEHOLDER.sub("", rest):
        fields.fail("a placeholder is {{name}}: letters, digits and '_'")
        return ""
    try:
        parsed = httpx.URL(base + PLACEHOLDER.sub("x", rest))
    except (httpx.InvalidURL, ValueError, UnicodeError) as exc:
        fields.fail(f"not a valid URL: {exc}")
        return ""
    if not parsed.host or not 1 <= (parsed.port or 80) <= 65535:
        fields.fail("the URL needs a host (and a port from 1 to 65535)")
        return ""
    return raw.strip()


def parse_headers(fields: FieldCheck, raw: object) -> tuple[Header, ...]:
    """`[{"name", "value", "secret"?}]`: names are HTTP tokens, values one line."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        fields.fail("must be a list of {name, value, secret}")
        return ()
    if len(raw) > MAX_HEADERS:
        fields.fail(f"at most {MAX_HEADERS} headers")
    headers: list[Header] = []
    names: set[str] = set()
    for index, item in enumerate(raw[:MAX_HEADERS]):
        header_fields = fields.at(index)
        section = header_fields.obj(item)
        if section is None:
            continue
        header_fields.only(section, {"name", "value", "secret"})
        name = header_fields.text(section, "name", limit=100, required=True)
        if name and not _HEADER_NAME.match(name):
            header_fields.at("name").fail("a header name has letters, digits and - (no spaces or colons)")
        elif name.lower() in _MANAGED_HEADERS:
            header_fields.at("name").fail(f"{name} is set by Switchboard")
        elif name.lower() in names:
            header_fields.at("name").fail("another header has this name")
        names.add(name.lower())
        value = header_fields.text(section, "value", limit=4000)
        if not all(32 <= ord(ch) < 127 for ch in value):
            header_fields.at("value").fail("must be one line of ASCII text")
        headers.append(Header(name, value, header_fields.flag(section, "secret", False)))
    return tuple(headers)


# --- headers on the wire -------------------------------------------------------------------------

def header_value(text: str) -> str:
    """One line of ASCII: control characters dropped, anything else non-ASCII percent-encoded."""
    return "".join(ch if 32 <= ord(ch) < 127 else quote(ch) for ch in text.translate(_CONTROL))


def reveal_secret(header: Header, decrypt: Callable[[str], str]) -> str:
    try:
        return decrypt(header.value)
    except ValueError as exc:
        raise ToolSecretUnreadable(f"the secret header {header.name} cannot be decrypted; enter it again") from exc



# --- secrets -------------------------------------------------------------------------------------

def map_header_secrets(headers: Any, transform: Callable[[str], str]) -> Any:
    """A copy of a raw `headers` list with `transform` applied to each non-empty secret value."""
    out = copy.deepcopy(headers)
    if isinstance(out, list):
        for header in out:
            if isinstance(header, dict) and header.get("secret") is True and isinstance(header.get("value"), str) \
                    and header["value"]:
                header["value"] = transform(header["value"])
    return out


def map_tool_secrets(tools: Any, transform: Callable[[str], str]) -> Any:
    """A copy of a raw (JSON) `tools` list with `transform` (encrypt or decrypt) applied to secret header values."""
    out = copy.deepcopy(tools)
    if isinstance(out, list):
        for tool in out:
            if isinstance(tool, dict) and "headers" in tool:
                tool["headers"] = map_header_secrets(tool["headers"], transform)
    return out


def redact_tool_secrets(tools: Any) -> Any:
    return map_tool_secrets(tools, lambda _: SECRET_MASK)


def restore_header_secrets(submitted: Any, stored: Any) -> Any:
    """`submitted` headers with each secret still `SECRET_MASK` replaced by the stored one of that name."""
    out = copy.deepcopy(submitted)
    old = {h["name"]: h.get("value") for h in _named(stored) if h.get("secret") is True}
    for header in _named(out):
        if header.get("value") == SECRET_MASK:
            kept = old.get(header["name"])
            header["value"] = kept if isinstance(kept, str) else ""
            header["secret"] = True  # what is put back is the stored (encrypted) secret
    return out


def restore_tool_secrets(submitted: Any, stored: Any) -> Any:
    """`submitted` tools with masked secrets restored from the stored tool of the same name."""
    out = copy.deepcopy(submitted)
    old = {t["name"]: t for t in _named(stored)}
    for tool in _named(out):
        if "headers" in tool:
            previous = old.get(tool["name"])
            tool["headers"] = restore_header_secrets(tool["headers"], previous.get("headers") if previous else None)
    return out


def _named(items: object) -> list[dict[str, Any]]:
    """The objects of a raw list that have a text `name`."""
    if not isinstance(items, list):
        return []
    return [item for item in items if isinstance(item, dict) and isinstance(item.get("name"), str)]
