"""How the events link retries (``ari.link``): which failure to open the socket is a
configuration error (`AriAuthFailed`: the slow retry) and which is transient (the backoff), and
the backoff itself: capped exponential with full jitter."""
from __future__ import annotations

import random
from collections.abc import Callable

from websockets.exceptions import InvalidStatus

from ari.errors import AriError, AriTimeout, AriUnreachable, error_for_status
from ari.rest import asterisk_message

Backoff = Callable[[int], float]


def full_jitter(initial: float = 0.5, factor: float = 2.0, maximum: float = 30.0) -> Backoff:
    """`n` ≥ 1 → uniform(0, min(maximum, initial * factor**(n-1)))."""

    def backoff(n: int) -> float:
        return random.uniform(0.0, min(maximum, initial * factor ** max(0, n - 1)))

    return backoff


def classify(exc: BaseException) -> AriError:
    """Why an attempt to open the events socket failed (`AriAuthFailed`: credentials refused)."""
    if isinstance(exc, InvalidStatus):
        response = exc.response
        error = error_for_status(response.status_code, asterisk_message(bytes(response.body or b"")))
        error.message = f"events websocket rejected: {error.message}"
        return error
    if isinstance(exc, TimeoutError):
        return AriTimeout("opening the events websocket timed out")
    if isinstance(exc, OSError):
        return AriUnreachable(f"cannot connect: {exc.strerror or exc!r}")
    return AriUnreachable(f"events websocket failed: {type(exc).__name__}: {exc}")
