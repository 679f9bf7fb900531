"""Sample workflows created with each new organisation, so a new install can take a call at once."""
from __future__ import annotations

from typing import Any

from agent.definition import default_definition

FRONT_DESK_GREETING = (
    "Thanks for calling. Say sales or support, or press 1 for sales and 2 for support."
)


def front_desk() -> dict[str, Any]:
    definition = default_definition(FRONT_DESK_GREETING)
    definition["farewell"] = "Thanks for calling. Goodbye."
    return definition


def sample_workflows() -> list[tuple[str, dict[str, Any]]]:
    return [("Front desk", front_desk())]
