"""Error ids and the JSON error shape shared by the API and the HTML views.

`{"error": {"id": "...", "message": "...", "fields": {...}}}` — the id is stable and is what
logs and the UI show, so an admin can search for it.
"""
from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse


class ApiError(Exception):
    def __init__(
        self, status: int, error_id: str, message: str, fields: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error_id = error_id
        self.message = message
        self.fields = fields or {}

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"id": self.error_id, "message": self.message}
        if self.fields:
            error["fields"] = self.fields
        return {"error": error}

    def response(self) -> JSONResponse:
        return JSONResponse(self.body(), status_code=self.status)


def not_found(what: str = "resource") -> ApiError:
    return ApiError(404, "not-found", f"{what} not found")


def invalid(fields: dict[str, str], message: str = "some fields are not valid") -> ApiError:
    return ApiError(422, "validation-failed", message, fields)
