"""Frozen records returned by the repositories. Secrets never leave `data/` in clear text:
a configuration carries only whether a password is set; `ConfigRepo.ari_password` decrypts it
for the ARI link."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Organization:
    id: int
    name: str
    max_concurrent_calls: int
    monthly_minutes: int | None
    recording_retention_days: int | None = None


@dataclass(frozen=True)
class User:
    id: int
    organization_id: int
    email: str
    is_admin: bool


@dataclass(frozen=True)
class TelephonyConfig:
    id: int
    organization_id: int
    name: str
    ari_endpoint_url: str
    stasis_app_name: str
    ari_username: str | None
    websocket_client_name: str
    from_extensions: tuple[str, ...]
    dial_template: str
    transfer_context: str
    enabled: bool
    created_at: str
    updated_at: str
    phone_number_count: int = 0

    @property
    def username(self) -> str:
        """The ARI user: the Stasis app name unless an explicit username is set (the guide)."""
        return self.ari_username or self.stasis_app_name


@dataclass(frozen=True)
class PhoneNumber:
    id: int
    organization_id: int
    telephony_configuration_id: int
    address: str
    label: str
    inbound_workflow_id: int | None
    inbound_workflow_name: str | None = None


@dataclass(frozen=True)
class Workflow:
    id: int
    organization_id: int
    name: str
    definition: dict[str, Any]
    created_at: str
    updated_at: str

    @property
    def greeting(self) -> str:
        return str(self.definition.get("greeting", ""))


@dataclass(frozen=True)
class WorkflowRun:
    id: int
    organization_id: int
    workflow_id: int | None
    telephony_configuration_id: int | None
    phone_number_id: int | None
    direction: str
    status: str
    reason: str | None
    error_id: str | None
    call_id: str | None
    caller_number: str | None
    called_number: str | None
    context: dict[str, Any]
    hangup_cause: str | None
    created_at: str
    answered_at: str | None
    ended_at: str | None
    duration_s: float | None
    workflow_name: str | None = None
    configuration_name: str | None = None
    recording_path: str | None = None  # file name under <db dir>/recordings/
    recording_s: float | None = None

    @property
    def live(self) -> bool:
        return self.ended_at is None


@dataclass(frozen=True)
class RunEvent:
    id: int
    run_id: int
    at: str
    kind: str
    role: str | None
    text: str | None
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class OutboundSetting:
    """An organisation's allowed hosts for requests to its systems (entries as `agent.hosts` reads them)."""
    allowed_hosts: tuple[str, ...] = ()
    only_listed: bool = False


@dataclass(frozen=True)
class WebhookDelivery:
    id: int
    organization_id: int
    run_id: int | None
    workflow_id: int | None
    event: str
    url: str
    body: str
    status: str  # pending | delivered | failed
    attempts: int
    next_attempt_at: str | None
    last_status_code: int | None
    last_error_id: str | None
    created_at: str
    updated_at: str


@dataclass(frozen=True)
class WebhookAttempt:
    id: int
    delivery_id: int
    attempt: int
    at: str
    status_code: int | None
    error_id: str | None
    message: str
    duration_ms: int


@dataclass(frozen=True)
class DueDelivery:
    """A pending delivery with its secret decrypted (None: it cannot be), for the delivery worker."""
    id: int
    organization_id: int
    run_id: int | None
    url: str
    body: str
    secret: str | None
    attempts: int
