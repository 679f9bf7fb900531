"""Pure validation of configuration, phone-number and workflow input, shared by the HTML forms
and the JSON API. Each validator takes raw values (form strings or JSON values) and returns the
clean values or a dict of field → message."""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from data.configs import ConfigFields

NAME_RE = re.compile(r"^[A-Za-z0-9_.\-]{1,64}\Z")
EXTENSION_RE = re.compile(r"^(?:[A-Za-z][A-Za-z0-9]{0,15}/)?[A-Za-z0-9_+*#.@\-]{1,64}\Z")
ADDRESS_RE = re.compile(r"^[A-Za-z0-9_+*#.\-]{1,32}\Z")
DIAL_TEMPLATE_RE = re.compile(r"^[A-Za-z][A-Za-z0-9]{0,15}/[A-Za-z0-9_+*#.@/\-{}]{1,120}\Z")
CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]")

Errors = dict[str, str]


def _text(data: Mapping[str, Any], key: str) -> str:
    value = data.get(key)
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        return "\x00invalid"
    return str(value).strip()


def _bool(data: Mapping[str, Any], key: str, default: bool) -> bool | None:
    value = data.get(key, default)
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("on", "true", "1", "yes"):
        return True
    if isinstance(value, str) and value.lower() in ("", "off", "false", "0", "no"):
        return False
    return None


def normalise_endpoint(raw: str) -> tuple[str | None, str | None]:
    """(url, None) or (None, error). Strips a trailing `/ari` so both forms people paste work."""
    if not raw:
        return None, "enter the ARI endpoint URL, e.g. http://asterisk.example.com:8088"
    if CONTROL_CHARS.search(raw) or " " in raw:
        return None, "the URL must not contain spaces or control characters"
    try:
        parts = urlsplit(raw)
        port = parts.port
    except ValueError:
        return None, "this is not a valid URL"
    if parts.scheme not in ("http", "https"):
        return None, "use an http:// or https:// URL (the Asterisk HTTP server, port 8088 by default)"
    if not parts.hostname:
        return None, "the URL needs a host name, e.g. http://asterisk.example.com:8088"
    if parts.username or parts.password:
        return None, "do not put credentials in the URL: use the App Password field"
    if parts.query or parts.fragment:
        return None, "the URL must not have a query string or fragment"
    path = parts.path.rstrip("/")
    if path.endswith("/ari"):
        path = path[: -len("/ari")]
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    if port == {"http": 80, "https": 443}[parts.scheme]:
        port = None  # one spelling per endpoint, so the duplicate check sees through it
    netloc = host if port is None else f"{host}:{port}"
    return f"{parts.scheme}://{netloc}{path}", None


def parse_list(value: Any) -> list[str] | None:
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [v.strip() for v in re.split(r"[,\n]", value) if v.strip()]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return [v.strip() for v in value if v.strip()]
    return None


def validate_dial_template(template: str) -> str | None:
    if not template:
        return "enter a dial template, e.g. PJSIP/{number}"
    if template.count("{number}") != 1:
        return "the dial template must contain {number} exactly once, e.g. PJSIP/{number}@trunk"
    if not DIAL_TEMPLATE_RE.match(template) or "{" in template.replace("{number}", "") or "}" in template.replace(
        "{number}", ""
    ):
        return "the dial template must look like TECH/resource, e.g. PJSIP/{number} or Local/{number}@from-internal"
    return None


def validate_config(data: Mapping[str, Any], *, creating: bool) -> tuple[ConfigFields | None, Errors]:
    errors: Errors = {}
    name = _text(data, "name")
    if not name or len(name) > 100 or CONTROL_CHARS.search(name):
        errors["name"] = "enter a name of at most 100 characters"
    endpoint, endpoint_error = normalise_endpoint(_text(data, "ari_endpoint_url"))
    if endpoint_error:
        errors["ari_endpoint_url"] = endpoint_error
    app_name = _text(data, "stasis_app_name")
    if not NAME_RE.match(app_name):
        errors["stasis_app_name"] = (
            "enter the Stasis app name (the ari.conf user section, e.g. dograh): letters, digits, . _ -"
            if app_name else "the Stasis App Name is required"
        )
    username = _text(data, "ari_username") or None
    if username is not None and not NAME_RE.match(username):
        errors["ari_username"] = "letters, digits, . _ - only (leave blank to use the Stasis App Name)"
    password_raw = data.get("app_password")
    password = password_raw if isinstance(password_raw, str) else None
    if password_raw is not None and password is None:
        errors["app_password"] = "the password must be text"
    elif password == "":
        password = None
    if password is not None and (len(password) > 256 or CONTROL_CHARS.search(password)):
        errors["app_password"] = "at most 256 characters, no control characters"
    if creating and password is None and "app_password" not in errors:
        errors["app_password"] = "enter the App Password from ari.conf"
    ws_name = _text(data, "websocket_client_name")
    if not NAME_RE.match(ws_name):
        errors["websocket_client_name"] = "enter the section name from websocket_client.conf, e.g. dograh"
    extensions = parse_list(data.get("from_extensions"))
    if extensions is None or any(not EXTENSION_RE.match(e) for e in extensions):
        errors["from_extensions"] = "a list of extensions such as PJSIP/6001 or 6001, separated by commas"
    if extensions is not None and len(extensions) > 50:
        errors["from_extensions"] = "at most 50 From Extensions"
    dial_template = _text(data, "dial_template") or "PJSIP/{number}"
    if (dial_error := validate_dial_template(dial_template)) is not None:
        errors["dial_template"] = dial_error
    transfer_context = _text(data, "transfer_context") or "from-internal"
    if not NAME_RE.match(transfer_context):
        errors["transfer_context"] = "a dialplan context name such as from-internal"
    enabled = _bool(data, "enabled", True)
    if enabled is None:
        errors["enabled"] = "must be true or false"
    if errors:
        return None, errors
    assert endpoint is not None and extensions is not None and enabled is not None
    return ConfigFields(name, endpoint, app_name, username, password, ws_name, tuple(extensions),
                        dial_template, transfer_context, enabled), {}


@dataclass(frozen=True)
class NumberFields:
    address: str
    label: str
    inbound_workflow_id: int | None


def parse_id(value: Any) -> int | None | str:
    """An optional id from a form or JSON: int, None when empty, or 'invalid'."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return "invalid"
    if isinstance(value, str) and re.fullmatch(r"[0-9]{1,19}", value.strip()):
        value = int(value.strip())
    if isinstance(value, int):
        return value if 0 < value < 2**63 else "invalid"
    return "invalid"


def validate_number(data: Mapping[str, Any]) -> tuple[NumberFields | None, Errors]:
    errors: Errors = {}
    address = _text(data, "address")
    if not ADDRESS_RE.match(address):
        errors["address"] = "enter the SIP extension, e.g. 8000 (digits, letters, + * # . _ -)"
    label = _text(data, "label")
    if len(label) > 100 or CONTROL_CHARS.search(label):
        errors["label"] = "at most 100 characters"
    workflow_id = parse_id(data.get("inbound_workflow_id"))
    if workflow_id == "invalid":
        errors["inbound_workflow_id"] = "choose one of your workflows"
    if errors:
        return None, errors
    assert not isinstance(workflow_id, str)
    return NumberFields(address, label, workflow_id), {}
