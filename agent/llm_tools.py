"""The workflow's HTTP tools in the LLM engine: offered as function tools beside `transfer_call`
and `end_call`, and run when the model calls them.

Each call runs through the tool runner (`agent.tools`) without barge-in; the caller hears the
tool's filler while it is slow, and its apology when it fails (timeout, refused host, HTTP 5xx),
so nobody waits in silence. The model gets every outcome as the tool message (a failure says the
caller has heard the apology, so it does not apologise twice) and carries on from there. Each
call becomes a "tool" note for the run's events, the call page and the post-call webhook.
"""
from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

from agent.dialog import Note, Say, Step
from agent.text import render
from agent.tools import ToolFailure, ToolOutcome, ToolRunner, tool_event, with_filler

MAX_CALLS_PER_ROUND = 5


@dataclass(frozen=True)
class FunctionCall:
    """One function call the model asked for (its id, the function's name, the arguments' JSON text)."""
    id: str
    name: str
    arguments: str


def offered(tools: ToolRunner | None) -> list[dict[str, Any]]:
    """The workflow's tools as chat-completions `tools` entries."""
    return tools.function_tools() if tools is not None else []


def is_user_tool(tools: ToolRunner | None, name: str) -> bool:
    return tools is not None and tools.get(name) is not None


async def run_calls(calls: Sequence[FunctionCall], tools: ToolRunner, context: dict[str, Any],
                    results: list[dict[str, Any]]) -> AsyncIterator[Step]:
    """Run the model's calls of the workflow's tools in order: yields what the caller hears (filler,
    apology) and the "tool" notes; appends one tool message per call to `results`."""
    for index, call in enumerate(calls):
        if index >= MAX_CALLS_PER_ROUND:
            results.append(_message(call, f"error: at most {MAX_CALLS_PER_ROUND} tool calls at once"))
            continue
        tool = tools.get(call.name)
        filler = render(tool.filler, context, missing="") if tool is not None else ""
        outcome: ToolOutcome | None = None
        async for item in with_filler(tools.call(call.name, call.arguments), filler):
            if isinstance(item, Say):
                yield item
            else:
                outcome = item
        if outcome is None:  # with_filler always ends with the outcome
            outcome = ToolFailure(call.name, "tool-error", "the tool call did not finish")
        yield Note("tool", call.name, tool_event(outcome, call.arguments))
        content = outcome.for_llm()
        if outcome.failed and tool is not None and tool.apology.strip():
            apology = render(tool.apology, context, missing="")
            yield Say(apology)
            content += f" (the caller has already heard: {apology!r})"
        results.append(_message(call, content))


def assistant_message(text: str, calls: Sequence[FunctionCall]) -> dict[str, Any]:
    return {"role": "assistant", "content": text or None, "tool_calls": [
        {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}} for c in calls]}


def _message(call: FunctionCall, content: str) -> dict[str, Any]:
    return {"role": "tool", "tool_call_id": call.id, "content": content}
