"""ARI error responses as exceptions."""
from __future__ import annotations

from .httpserver import HttpResponse


class AriError(Exception):
    """An ARI error response: ``{"message": ...}`` (or ``{"error": ...}`` when ``key="error"``)."""

    def __init__(self, status: int, reason: str, message: str, key: str = "message") -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.message = message
        self.key = key

    def response(self) -> HttpResponse:
        return HttpResponse.json(self.status, self.reason, {self.key: self.message})


def alloc_failed() -> AriError:
    return AriError(500, "Internal Server Error", "Allocation failed", key="error")


def internal_error() -> AriError:
    return AriError(500, "Internal Server Error", "An internal error prevented this request from being handled")
