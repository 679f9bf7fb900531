"""Secrets in the stored JSON of a definition: encrypted at rest, masked when shown.

The web layer applies `map_secrets(definition, box.encrypt)` before saving, `map_secrets(definition,
box.decrypt)` before handing a definition to the runtime or the test chat, and shows
`redact_secrets(definition)`; `restore_secrets(submitted, stored)` keeps a stored secret when a
form or client sends back the mask. A path segment `*` stands for every item of a list or every
value of an object.

Besides `SECRET_PATHS`, the sections that reach the user's systems hold secrets: tool and
pre-call headers marked `"secret": true` (restored by tool name and header name, so reordering
or adding tools keeps them) and webhook signing secrets (restored by the webhook's URL).
"""
from __future__ import annotations

import copy
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from agent.tool_definition import map_header_secrets, map_tool_secrets, restore_header_secrets, restore_tool_secrets
from agent.webhooks import map_webhook_secrets, restore_webhook_secrets

SECRET_PATHS: tuple[str, ...] = ("llm.api_key", "stt.api_key", "tts.api_key")
"""Dotted paths of definition values that are secrets (encrypt at rest, never show)."""
SECRET_MASK = "********"

_Slot = tuple[Any, str | int, tuple[str | int, ...]]
"""(the object or list holding a secret, its key there, its path from the top)"""


def map_secrets(definition: Mapping[str, Any], transform: Callable[[str], str],
                paths: tuple[str, ...] = SECRET_PATHS) -> dict[str, Any]:
    """A copy with `transform` (encrypt or decrypt) applied to every non-empty secret value."""
    out = copy.deepcopy(dict(definition))
    for holder, key, _ in _secret_slots(out, paths):
        value = holder[key]
        if isinstance(value, str) and value:
            holder[key] = transform(value)
    if "tools" in out:
        out["tools"] = map_tool_secrets(out["tools"], transform)
    pre_call = out.get("pre_call")
    if isinstance(pre_call, dict) and "headers" in pre_call:
        pre_call["headers"] = map_header_secrets(pre_call["headers"], transform)
    if "webhooks" in out:
        out["webhooks"] = map_webhook_secrets(out["webhooks"], transform)
    return out


def redact_secrets(definition: Mapping[str, Any], paths: tuple[str, ...] = SECRET_PATHS) -> dict[str, Any]:
    """A copy safe to show or export: each set secret becomes `SECRET_MASK`."""
    return map_secrets(definition, lambda _: SECRET_MASK, paths)


def restore_secrets(submitted: Mapping[str, Any], stored: Mapping[str, Any] | None,
                    paths: tuple[str, ...] = SECRET_PATHS) -> dict[str, Any]:
    """`submitted` with every secret still equal to `SECRET_MASK` replaced by the stored value
    at the same place ('' when nothing is stored there)."""
    out = copy.deepcopy(dict(submitted))
    for holder, key, path in _secret_slots(out, paths):
        if holder[key] == SECRET_MASK:
            holder[key] = _lookup(stored or {}, path)
    old = stored or {}
    if "tools" in out:
        out["tools"] = restore_tool_secrets(out["tools"], old.get("tools"))
    pre_call, old_pre_call = out.get("pre_call"), old.get("pre_call")
    if isinstance(pre_call, dict) and "headers" in pre_call:
        pre_call["headers"] = restore_header_secrets(
            pre_call["headers"], old_pre_call.get("headers") if isinstance(old_pre_call, dict) else None)
    if "webhooks" in out:
        out["webhooks"] = restore_webhook_secrets(out["webhooks"], old.get("webhooks"))
    return out


def _secret_slots(document: Mapping[str, Any], paths: tuple[str, ...]) -> Iterator[_Slot]:
    for path in paths:
        yield from _slots(document, path.split("."), ())


def _slots(holder: Any, parts: list[str], at: tuple[str | int, ...]) -> Iterator[_Slot]:
    """Each (container, key, path) the dotted path `parts` reaches in `holder` that exists."""
    head, rest = parts[0], parts[1:]
    if isinstance(holder, dict):
        keys: list[str | int] = list(holder) if head == "*" else [head] if head in holder else []
    elif isinstance(holder, list) and head == "*":
        keys = list(range(len(holder)))
    else:
        return
    for key in keys:
        if rest:
            yield from _slots(holder[key], rest, (*at, key))
        else:
            yield holder, key, (*at, key)


def _lookup(document: Any, path: tuple[str | int, ...]) -> Any:
    for key in path:
        if isinstance(document, dict) and isinstance(key, str) and key in document:
            document = document[key]
        elif isinstance(document, list) and isinstance(key, int) and key < len(document):
            document = document[key]
        else:
            return ""
    return document
