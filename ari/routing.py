"""Inbound routing: called extension → phone number of this configuration → inbound workflow of
the same organisation. Refusals use the guide's words, so an admin who searches the logs for
"no matching phone number registered for config" finds them."""
from __future__ import annotations

from dataclasses import dataclass

from data.models import PhoneNumber, TelephonyConfig, Workflow
from data.store import Store


class Refusal(Exception):
    """The call is hung up at once; the run records `message` and `error_id`."""

    def __init__(self, error_id: str, message: str, hangup_reason: str = "normal") -> None:
        super().__init__(message)
        self.error_id = error_id
        self.message = message
        self.hangup_reason = hangup_reason


@dataclass(frozen=True)
class InboundRoute:
    number: PhoneNumber
    workflow: Workflow


async def route_inbound(store: Store, config: TelephonyConfig, exten: str) -> InboundRoute:
    number = await store.numbers.find(config.id, exten)
    if number is None:
        raise Refusal(
            "no-phone-number",
            f"no matching phone number registered for config {config.id} ({config.name}) "
            f"for extension {exten!r}: add it under Phone numbers",
            "unallocated",
        )
    if number.inbound_workflow_id is None:
        raise Refusal(
            "no-inbound-workflow",
            f"phone number {exten} of config {config.id} ({config.name}) has no inbound_workflow_id "
            "assigned: choose its Inbound workflow",
            "unallocated",
        )
    workflow = await store.workflows.get(config.organization_id, number.inbound_workflow_id)
    if workflow is None:
        raise Refusal(
            "workflow-not-in-organization",
            f"workflow {number.inbound_workflow_id} of phone number {exten} does not exist in the "
            f"organisation of config {config.id} ({config.name})",
            "unallocated",
        )
    return InboundRoute(number, workflow)
