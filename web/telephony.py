"""The small interface the web layer uses to reach the ARI side (ARCHITECTURE: web never calls
ARI directly). `app.state.telephony` implements it; `NullTelephony` serves before ARI is wired
and in tests that need no Asterisk."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

STATE_LABELS = {
    "connecting": "Connecting…",
    "connected": "Connected",
    "auth_failed": "Authentication failed",
    "unreachable": "Unreachable",
    "app_taken": "App taken by another client",
    "disabled": "Disabled",
    "stopped": "Stopped",
}


@dataclass(frozen=True)
class StatusView:
    config_id: int
    state: str
    since: str | None = None
    error_id: str | None = None
    last_error: str | None = None
    fix: str | None = None
    asterisk_version: str | None = None
    last_event_at: str | None = None

    @property
    def label(self) -> str:
        return STATE_LABELS.get(self.state, self.state)

    @property
    def detail(self) -> str:
        return " — ".join(p for p in (self.last_error, self.fix) if p) or self.label

    def as_json(self) -> dict[str, Any]:
        return {
            "state": self.state, "since": self.since, "last_error": self.last_error,
            "error_id": self.error_id, "fix": self.fix, "asterisk_version": self.asterisk_version,
            "last_event_at": self.last_event_at,
        }


class Telephony(Protocol):
    async def apply(self, config_id: int) -> None: ...
    async def remove(self, config_id: int) -> None: ...
    def status(self, config_id: int, enabled: bool) -> StatusView: ...
    async def check(self, config_id: int) -> list[dict[str, Any]]: ...


class NullTelephony:
    async def check(self, config_id: int) -> list[dict[str, Any]]:
        return [{"id": "ari-disabled", "ok": False, "message": "ARI links are not running in this server",
                 "fix": "start Switchboard normally (python app.py)"}]

    async def apply(self, config_id: int) -> None:
        return None

    async def remove(self, config_id: int) -> None:
        return None

    def status(self, config_id: int, enabled: bool) -> StatusView:
        return StatusView(config_id, "disabled" if not enabled else "stopped")


class AriTelephony:
    """The real thing: the web layer's view of `ari.service.AriService`."""

    def __init__(self, service: Any) -> None:
        self.service = service

    async def start(self) -> None:
        await self.service.start()

    async def stop(self) -> None:
        await self.service.stop()

    async def apply(self, config_id: int) -> None:
        await self.service.apply(config_id)

    async def remove(self, config_id: int) -> None:
        await self.service.remove(config_id)

    async def check(self, config_id: int) -> list[dict[str, Any]]:
        return [check.as_json() for check in await self.service.check(config_id)]

    def status(self, config_id: int, enabled: bool) -> StatusView:
        status = self.service.status(config_id)
        if status is None:
            return StatusView(config_id, "disabled" if not enabled else "connecting")
        return StatusView(
            config_id=config_id, state=status.state.value, since=_iso(status.since),
            error_id=status.last_error_id, last_error=status.last_error, fix=status.fix,
            asterisk_version=status.asterisk_version, last_event_at=_iso(status.last_event_at),
        )


def _iso(value: Any) -> str | None:
    return None if value is None else value.isoformat(timespec="seconds")
