"""Errors of the ARI layer: one tree, each class with a stable id, a message and a fix.

    AriError                      ari-error           base; never raised as such
     ├── AriUnreachable           ari-unreachable     TCP/DNS/TLS failure, connection lost
     ├── AriTimeout               ari-timeout         Asterisk did not answer in time
     ├── AriAuthFailed            ari-auth-failed     HTTP 401 (wrong user or password)
     │    └── AriForbidden        ari-forbidden       HTTP 403 (ARI user is read_only)
     ├── AriBadResponse           ari-bad-response    the endpoint does not speak ARI
     ├── AriAppTaken              ari-app-taken       another client took the Stasis app
     └── AriHttpError             (status_code, asterisk_message)
          ├── AriNotFound         ari-not-found       HTTP 404
          ├── AriBadRequest       ari-bad-request     HTTP 400 / 409 / 422 / other 4xx
          └── AriServerError      ari-server-error    HTTP 5xx

`ari.events.AriEventError` (`ari-bad-event`, a `ValueError`) is raised by the pure event parser;
it lives beside the parser so that module stays free of I/O concerns.

`error_id` is stable: logs, the run history and the UI show it, tests assert on it. `message`
says what happened in plain language (with Asterisk's own message when there is one); `fix` tells
the administrator what to check, taken from the integration guide's troubleshooting list.
"""
from __future__ import annotations

from typing import Any, ClassVar

UNREACHABLE_FIX = (
    "Check the ARI Endpoint URL (for example http://asterisk.example.com:8088) and that Asterisk is "
    "running. http.conf must have `enabled = yes`, a `bindaddr` this server can reach and "
    "`bindport = 8088` (or the port in the URL); allow that port through the firewall; confirm the "
    "ARI module is loaded with `module show like res_ari` in the Asterisk CLI."
)
AUTH_FIX = (
    "Check that the Stasis App Name (or ARI username) matches the user section in ari.conf and the "
    "App Password matches its password (no extra spaces); run `ari reload` after editing ari.conf."
)
FORBIDDEN_FIX = (
    "The ARI user may only read: set `read_only = no` in its ari.conf section and run `ari reload`."
)
TIMEOUT_FIX = (
    "Asterisk did not answer in time. Check the network path to the ARI port (a firewall that drops "
    "packets instead of refusing them looks like this) and the load on Asterisk (`core show channels`)."
)
BAD_RESPONSE_FIX = (
    "The ARI Endpoint URL answered, but not like Asterisk ARI. Point it at Asterisk's own HTTP server "
    "(http://host:8088, without a path), not at a web server or proxy."
)
APP_TAKEN_FIX = (
    "Another ARI client opened an events connection for the same Stasis app and Asterisk now sends "
    "the calls to it. Stop the other client (another Switchboard or Dograh instance, a test script) "
    "or give this configuration its own app name and ARI user in ari.conf."
)
NOT_FOUND_FIX = (
    "The channel or bridge no longer exists in Asterisk (the call may already have ended). If the "
    "message is `Resource not found`, the ARI Endpoint URL must not carry a path and res_ari must be "
    "loaded (`module show like res_ari`)."
)
BAD_REQUEST_FIX = (
    "Asterisk refused the request (see its message). For externalMedia, the WebSocket Client Name "
    "must match a `type = websocket_client` section in websocket_client.conf "
    "(`module reload res_websocket_client.so` after editing); module look-ups need the `.so` suffix."
)
SERVER_ERROR_FIX = (
    "Asterisk failed while handling the request; look at the Asterisk CLI (`asterisk -rvvv`). "
    "`Allocation failed` on originate means the dial endpoint (technology/number) is wrong; for "
    "externalMedia check that chan_websocket is loaded (`module show like chan_websocket`)."
)


class AriError(Exception):
    """Base of every ARI error. `str(exc)` is `"<error_id>: <message>"`."""

    error_id: ClassVar[str] = "ari-error"
    default_message: ClassVar[str] = "ARI request failed"
    default_fix: ClassVar[str] = ""

    def __init__(self, message: str | None = None, *, fix: str | None = None) -> None:
        self.message = message or self.default_message
        self.fix = fix if fix is not None else self.default_fix
        super().__init__(self.message)

    def __str__(self) -> str:
        return f"{self.error_id}: {self.message}"

    def as_dict(self) -> dict[str, Any]:
        """What the UI and the JSON API show."""
        return {"error_id": self.error_id, "message": self.message, "fix": self.fix}


class AriUnreachable(AriError):
    error_id = "ari-unreachable"
    default_message = "cannot connect to the ARI endpoint"
    default_fix = UNREACHABLE_FIX


class AriTimeout(AriError):
    error_id = "ari-timeout"
    default_message = "Asterisk did not answer in time"
    default_fix = TIMEOUT_FIX


class AriAuthFailed(AriError):
    error_id = "ari-auth-failed"
    default_message = "Asterisk refused the ARI username or password (HTTP 401)"
    default_fix = AUTH_FIX


class AriForbidden(AriAuthFailed):
    error_id = "ari-forbidden"
    default_message = "the ARI user is not allowed to change anything (HTTP 403)"
    default_fix = FORBIDDEN_FIX


class AriBadResponse(AriError):
    error_id = "ari-bad-response"
    default_message = "the ARI endpoint sent a response Asterisk would not send"
    default_fix = BAD_RESPONSE_FIX


class AriAppTaken(AriError):
    error_id = "ari-app-taken"
    default_message = "another client took this Stasis app (ApplicationReplaced)"
    default_fix = APP_TAKEN_FIX


class AriHttpError(AriError):
    """Asterisk answered with an error status; `asterisk_message` is its own text."""

    def __init__(
        self,
        message: str | None = None,
        *,
        status_code: int,
        asterisk_message: str | None = None,
        fix: str | None = None,
    ) -> None:
        self.status_code = status_code
        self.asterisk_message = asterisk_message
        if message is None:
            message = f"HTTP {status_code}: {asterisk_message or self.default_message}"
        super().__init__(message, fix=fix)


class AriNotFound(AriHttpError):
    error_id = "ari-not-found"
    default_message = "not found"
    default_fix = NOT_FOUND_FIX


class AriBadRequest(AriHttpError):
    error_id = "ari-bad-request"
    default_message = "bad request"
    default_fix = BAD_REQUEST_FIX


class AriServerError(AriHttpError):
    error_id = "ari-server-error"
    default_message = "internal error in Asterisk"
    default_fix = SERVER_ERROR_FIX


def error_for_status(status_code: int, asterisk_message: str | None) -> AriError:
    """The error for an HTTP error status from Asterisk (REST call or events handshake)."""
    if status_code == 401:
        return AriAuthFailed(
            f"HTTP 401: {asterisk_message or 'Authentication required'}"
            " (wrong ARI username or password)"
        )
    if status_code == 403:
        return AriForbidden(f"HTTP 403: {asterisk_message or 'Forbidden'}")
    if status_code == 404:
        return AriNotFound(status_code=404, asterisk_message=asterisk_message)
    if 400 <= status_code < 500:
        return AriBadRequest(status_code=status_code, asterisk_message=asterisk_message)
    if status_code >= 500:
        return AriServerError(status_code=status_code, asterisk_message=asterisk_message)
    return AriBadResponse(f"unexpected HTTP {status_code} from the ARI endpoint")
