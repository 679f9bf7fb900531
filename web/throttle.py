"""Login throttling: after `limit` failed logins for one email within `window_s`, further attempts
for it are refused until the oldest failure leaves the window. In memory: Switchboard is one
process, and a restart forgetting failures is acceptable."""
from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable


class LoginThrottle:
    def __init__(self, limit: int = 5, window_s: float = 900.0, clock: Callable[[], float] = time.monotonic,
                 max_keys: int = 10_000) -> None:
        self.limit = limit
        self.window_s = window_s
        self._clock = clock
        self._max_keys = max_keys
        self._failures: dict[str, deque[float]] = {}

    def _recent(self, key: str) -> deque[float]:
        now = self._clock()
        failures = self._failures.get(key, deque())
        while failures and now - failures[0] > self.window_s:
            failures.popleft()
        if not failures:
            self._failures.pop(key, None)
        return failures

    def retry_after(self, email: str) -> float:
        """Seconds until `email` may try again; 0 when it may now."""
        failures = self._recent(email.lower())
        if len(failures) < self.limit:
            return 0.0
        return max(0.0, self.window_s - (self._clock() - failures[0]))

    def failed(self, email: str) -> None:
        key = email.lower()
        if key not in self._failures and len(self._failures) >= self._max_keys:
            self._failures.pop(next(iter(self._failures)))  # bounded memory under a spray of emails
        self._failures.setdefault(key, deque()).append(self._clock())

    def succeeded(self, email: str) -> None:
        self._failures.pop(email.lower(), None)
