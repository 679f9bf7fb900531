"""Reading request bodies safely: a malformed form or JSON body is a clear 400, never a 500."""
from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request

from web.errors import ApiError

MAX_FORM_FIELDS = 500  # the workflow form: up to 20 tools of 10 fields each, and the rest
MAX_BODY_BYTES = 1_000_000


async def limited_body(request: Request) -> bytes:
    """The whole body, refused with a 413 as soon as it passes MAX_BODY_BYTES (before it is all in
    memory). Starlette keeps it in `request._body`, where `form()` and `body()` read it again."""
    declared = request.headers.get("content-length", "")
    if declared.isdecimal() and int(declared) > MAX_BODY_BYTES:
        raise ApiError(413, "body-too-large", "the request body is larger than 1 MB")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise ApiError(413, "body-too-large", "the request body is larger than 1 MB")
        chunks.append(chunk)
    body = b"".join(chunks)
    request._body = body  # noqa: SLF001 - Starlette's own cache of the body
    return body


async def form_values(request: Request) -> dict[str, str]:
    """The last value of each field, as text (files are refused)."""
    await limited_body(request)
    try:
        form = await request.form(max_files=0, max_fields=MAX_FORM_FIELDS)
    except Exception as exc:  # python-multipart raises several types for malformed bodies
        raise ApiError(400, "bad-form", f"the form could not be read: {exc}") from exc
    values: dict[str, str] = {}
    for key, value in form.multi_items():
        if not isinstance(value, str):
            raise ApiError(400, "bad-form", "file uploads are not accepted here")
        values[key] = value
    return values


def parse_json(text: str | bytes) -> Any:
    """Strict JSON: no NaN/Infinity (or numbers that overflow to it), no lone surrogates (SQLite
    and our responses cannot hold them), no nesting deep enough to exhaust the stack.
    Raises ValueError with a message fit for the user."""
    try:
        data = json.loads(text)
        # Re-encoding is the simplest complete check for non-finite floats and lone surrogates.
        json.dumps(data, ensure_ascii=False, allow_nan=False).encode("utf-8")
    except RecursionError as exc:
        raise ValueError("nested too deeply") from exc
    except UnicodeEncodeError as exc:
        raise ValueError("text must be valid Unicode (no lone surrogates)") from exc
    except ValueError as exc:
        message = str(exc)
        if "JSON compliant" in message:
            message = "NaN, Infinity and numbers too large for a float are not allowed"
        raise ValueError(message) from exc
    return data


async def json_object(request: Request) -> dict[str, Any]:
    body = await limited_body(request)
    try:
        data = parse_json(body or b"{}")
    except ValueError as exc:
        raise ApiError(400, "bad-json", f"the body is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ApiError(400, "bad-json", "the body must be a JSON object")
    return data


def path_id(request: Request, name: str) -> int:
    """Path ids are declared `{name:int}`; anything out of SQLite's range is simply not found."""
    value = request.path_params[name]
    if not isinstance(value, int) or not 0 < value < 2**63:
        raise ApiError(404, "not-found", "not found")
    return value
