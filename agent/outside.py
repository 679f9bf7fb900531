"""How one call (or one test chat) reaches the user's systems: the process's outbound client, the
organisation's allowed hosts and the key for secret headers (`Outside`), and what is set up
before the greeting with it:

    outside = Outside(client, hosts)                 # the app builds it per call
    variables, event = await pre_call_variables(definition, context, outside)
    runner = tool_runner(definition, context, outside)   # reads `context` at each call

The pre-call lookup never delays the greeting by more than its own timeout and never stops the
call: a failure gives no variables and a "lookup" run event saying why.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from agent.definition import WorkflowDefinition
from agent.hosts import HostPolicy
from agent.lookup import CallFacts, LookupResult, look_up
from agent.outbound_http import OutboundClient
from agent.tool_schema import Scalar
from agent.tools import ToolRunner

CALL_FACTS = ("caller_number", "called_number", "direction", "call_id", "provider", "run_id", "workflow_id")
"""Context entries set by call control; lookup and captured variables never replace them."""


def _plain(value: str) -> str:
    return value


@dataclass(frozen=True)
class Outside:
    client: OutboundClient
    hosts: HostPolicy = field(default_factory=HostPolicy)
    """The organisation's allowed hosts (the default: public addresses only)."""
    decrypt: Callable[[str], str] = _plain
    """For secret header values still encrypted (the app decrypts whole definitions first)."""


@dataclass(frozen=True)
class LookupEvent:
    """The run event a pre-call lookup leaves: ("lookup", None, text, data)."""
    text: str
    data: dict[str, Any]


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _text(value: object) -> str | None:
    return None if value is None else str(value)


async def pre_call_variables(definition: WorkflowDefinition, context: Mapping[str, Any],
                             outside: Outside) -> tuple[dict[str, Scalar], LookupEvent | None]:
    """The lookup's variables (none when the workflow has no lookup or it failed) and its event."""
    if definition.pre_call is None:
        return {}, None
    facts = CallFacts(_text(context.get("caller_number")), _text(context.get("called_number")),
                      str(context.get("direction") or "inbound"), _int(context.get("workflow_id")),
                      _int(context.get("run_id")))
    result = await look_up(definition.pre_call, facts, outside.client, outside.hosts, decrypt=outside.decrypt,
                           log_context=f"run={facts.run_id} workflow={facts.workflow_id}")
    variables = {name: value for name, value in result.variables.items() if name not in CALL_FACTS}
    return variables, LookupEvent(_summary(result, variables), {
        "variables": variables, "error_id": result.error_id, "message": result.message,
        "dropped": list(result.dropped), "elapsed_ms": result.elapsed_ms})


def _summary(result: LookupResult, variables: Mapping[str, Scalar]) -> str:
    if result.error_id is not None:
        return result.message
    names = ", ".join(variables) or "none"
    return f"pre-call lookup: {len(variables)} variable{'s' if len(variables) != 1 else ''} ({names})"


def tool_runner(definition: WorkflowDefinition, context: Mapping[str, Any], outside: Outside) -> ToolRunner:
    """The call's tools; `context` (call facts and variables, updated as they are captured) fills
    their `{{name}}` placeholders."""
    return ToolRunner(definition.tools, outside.client, outside.hosts, variables=context, decrypt=outside.decrypt,
                      log_context=f"run={context.get('run_id')} workflow={context.get('workflow_id')}")
