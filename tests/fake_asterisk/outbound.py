"""Per-destination behaviour of outbound calls (what the far end does when the app originates)."""
from __future__ import annotations

import enum
import fnmatch
from dataclasses import dataclass

from .line import EchoPath


class Outcome(enum.StrEnum):
    ANSWER = "answer"
    NO_ANSWER = "noanswer"  # rings until the originate timeout: cause 19
    BUSY = "busy"  # Dial BUSY; ;1 destroyed with cause 0 "Unknown", ;2 with 17
    NO_SUCH_EXTENSION = "nosuchexten"  # 200, then two ChannelDestroyed cause 0, no Dial, no StasisStart
    CONGESTION = "congestion"  # Dial CONGESTION, cause 34 (not traced; extrapolated)


_ALIASES = {
    "answer": Outcome.ANSWER,
    "answered": Outcome.ANSWER,
    "noanswer": Outcome.NO_ANSWER,
    "no_answer": Outcome.NO_ANSWER,
    "no-answer": Outcome.NO_ANSWER,
    "busy": Outcome.BUSY,
    "nosuchexten": Outcome.NO_SUCH_EXTENSION,
    "no_such_extension": Outcome.NO_SUCH_EXTENSION,
    "no-such-extension": Outcome.NO_SUCH_EXTENSION,
    "invalid": Outcome.NO_SUCH_EXTENSION,
    "congestion": Outcome.CONGESTION,
}


def parse_outcome(value: str | Outcome) -> Outcome:
    if isinstance(value, Outcome):
        return value
    try:
        return _ALIASES[value.strip().lower()]
    except KeyError:
        raise ValueError(f"unknown outbound behavior {value!r}; use one of {sorted(set(_ALIASES))}") from None


@dataclass
class OutboundBehavior:
    outcome: Outcome = Outcome.ANSWER
    ringing_s: float = 1.0  # time spent ringing before the outcome
    early_media: bool = False  # Dial PROGRESS after RINGING (audio before answer is not heard by the app)
    audio: bytes | None = None  # µ-law the callee plays after answering (Playback)
    echo: bool | EchoPath = False  # callee runs Echo() after its audio (an EchoPath: with a delay and gain)


def destination_keys(endpoint: str) -> list[str]:
    """What a pattern may match: ``Local/6001@agent-outbound``, ``6001@agent-outbound``, ``6001``."""
    tech, _, resource = endpoint.partition("/")
    number = resource.partition("@")[0]
    return [endpoint, resource, number] if resource else [endpoint]


class OutboundRules:
    def __init__(self, default: OutboundBehavior | None = None) -> None:
        self.default = default or OutboundBehavior()
        self._rules: list[tuple[str, OutboundBehavior]] = []

    def set(self, pattern: str, behavior: OutboundBehavior) -> None:
        self._rules = [(p, b) for p, b in self._rules if p != pattern]
        self._rules.append((pattern, behavior))

    def clear(self) -> None:
        self._rules.clear()

    def lookup(self, endpoint: str) -> OutboundBehavior:
        keys = destination_keys(endpoint)
        for pattern, behavior in reversed(self._rules):
            if any(fnmatch.fnmatchcase(k, pattern) for k in keys):
                return behavior
        return self.default
