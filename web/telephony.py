"""The small interface the web layer uses to reach the ARI side (ARCHITECTURE: web never calls
ARI directly). `AppState.telephony` implements it; `NullTelephony` serves before ARI is wired
and in tests that need no Asterisk."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from ari.stats import Snapshot
from data.models import Workflow

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


class CallRefused(Exception):
    """Nothing was dialled: `error_id` says why, `field` names the request field to blame, and
    `run_id` is the run recorded for the refusal (quota), if any."""

    def __init__(self, error_id: str, message: str, field: str | None = None, run_id: int | None = None) -> None:
        super().__init__(message)
        self.error_id = error_id
        self.message = message
        self.field = field
        self.run_id = run_id


class Telephony(Protocol):
    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    async def apply(self, config_id: int) -> None: ...
    async def remove(self, config_id: int) -> None: ...
    def status(self, config_id: int, enabled: bool) -> StatusView: ...
    async def check(self, config_id: int) -> list[dict[str, Any]]: ...
    def hang_up(self, run_id: int) -> bool: ...
    def snapshot(self) -> Snapshot: ...
    async def initiate_call(self, config_id: int, workflow: Workflow, to: str, from_extension: str | None = None,
                            timeout_s: int | None = None) -> int: ...
    def cancel_call(self, run_id: int) -> bool: ...


class NullTelephony:
    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def check(self, config_id: int) -> list[dict[str, Any]]:
        return [{"id": "ari-disabled", "ok": False, "message": "ARI links are not running in this server",
                 "fix": "start Switchboard normally (python app.py)"}]

    async def apply(self, config_id: int) -> None:
        return None

    async def remove(self, config_id: int) -> None:
        return None

    def status(self, config_id: int, enabled: bool) -> StatusView:
        return StatusView(config_id, "disabled" if not enabled else "stopped")

    def hang_up(self, run_id: int) -> bool:
        return False

    def snapshot(self) -> Snapshot:
        return Snapshot.empty()

    async def initiate_call(self, config_id: int, workflow: Workflow, to: str, from_extension: str | None = None,
                            timeout_s: int | None = None) -> int:
        raise CallRefused("ari-not-connected", "ARI links are not running in this server: start Switchboard "
                          "normally (python app.py)")

    def cancel_call(self, run_id: int) -> bool:
        return False


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

    def hang_up(self, run_id: int) -> bool:
        return bool(self.service.hang_up(run_id))

    def snapshot(self) -> Snapshot:
        result: Snapshot = self.service.snapshot()
        return result

    async def initiate_call(self, config_id: int, workflow: Workflow, to: str, from_extension: str | None = None,
                            timeout_s: int | None = None) -> int:
        """The run id of the call now dialling, or CallRefused."""
        result = await self.service.initiate_call(config_id, workflow, to, from_extension, timeout_s)
        if result.error_id is not None:
            raise CallRefused(result.error_id, result.message or result.error_id, result.field, result.run_id)
        return int(result.run_id)

    def cancel_call(self, run_id: int) -> bool:
        return bool(self.service.cancel_call(run_id))

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
