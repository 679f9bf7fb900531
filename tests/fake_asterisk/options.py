"""Pure parsers: chan_websocket dial-string options, v() URI params, caller ids, query strings."""
from __future__ import annotations

import string
from urllib.parse import parse_qsl

_URI_OK = set(string.ascii_letters + string.digits + "-_.+")
_HEX = set(string.hexdigits)


class OptionParseError(ValueError):
    """The transport_data option string could not be parsed (missing ')')."""


def parse_app_options(opts: str) -> dict[str, str | None]:
    """Parse Asterisk app options like ``v(a=1,b=2)f(json)d(both)n`` (ast_app_parse_options).

    Each letter may carry a parenthesised argument; nested parentheses are balanced.
    Unknown letters are kept (the caller decides whether to ignore them).
    """
    out: dict[str, str | None] = {}
    i = 0
    while i < len(opts):
        letter = opts[i]
        i += 1
        if i < len(opts) and opts[i] == "(":
            depth = 1
            j = i + 1
            while j < len(opts) and depth:
                if opts[j] == "(":
                    depth += 1
                elif opts[j] == ")":
                    depth -= 1
                j += 1
            if depth:
                raise OptionParseError(f"Missing closing parenthesis for argument '{letter}'")
            out[letter] = opts[i + 1 : j - 1]
            i = j
        else:
            out[letter] = None
    return out


def uri_verify_encoded(value: str) -> bool:
    """``ast_uri_verify_encoded``: alnum, ``-_.+`` and ``%XX`` only."""
    i = 0
    while i < len(value):
        ch = value[i]
        if ch == "%":
            # at least two characters must follow, the first of them hex (sscanf "%2x")
            if i + 2 >= len(value) or value[i + 1] not in _HEX:
                return False
            i += 3
            continue
        if ch not in _URI_OK:
            return False
        i += 1
    return True


def validate_uri_params(params: str) -> bool:
    """chan_websocket ``validate_uri_parameters``: every name and value must be URI-encoded."""
    for pair in params.split(","):
        for part in pair.split("="):
            if not uri_verify_encoded(part):
                return False
    return True


def uri_params_to_query(params: str) -> str:
    """Commas become ampersands; nothing is URL-encoded."""
    return params.replace(",", "&")


def parse_caller_id(value: str | None) -> tuple[str, str]:
    """``ast_callerid_parse``-ish: ``"Name" <num>``, ``Name <num>`` or ``num`` -> (name, number)."""
    if not value:
        return "", ""
    value = value.strip()
    if "<" in value and value.endswith(">"):
        name, _, rest = value.partition("<")
        number = rest[:-1].strip()
        name = name.strip().strip('"').strip()
        return name, number
    if all(c in "0123456789+*#-() " for c in value):
        return "", value.replace(" ", "").replace("-", "").replace("(", "").replace(")", "")
    return value.strip('"'), ""


def parse_query(query: str) -> list[tuple[str, str]]:
    """Decode a query string the way Asterisk does (``+`` is a space)."""
    return parse_qsl(query, keep_blank_values=True)


def ast_true(value: object) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("yes", "true", "y", "t", "1", "on")
