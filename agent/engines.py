"""Building the dialog engine a workflow definition asks for (`agent.script` or `agent.llm`).

Kept apart from `agent.dialog` (the protocol and the steps) so that the engines import the
protocol and nothing imports them back: no import cycle.
"""
from __future__ import annotations

from typing import Any

import httpx

from agent.definition import WorkflowDefinition
from agent.dialog import Dialog
from agent.errors import DefinitionInvalid
from agent.llm import LlmDialog
from agent.script import ScriptDialog
from agent.tools import ToolRunner


def build_dialog(definition: WorkflowDefinition, context: dict[str, Any], *, http: httpx.AsyncClient | None = None,
                 snapshot: dict[str, Any] | None = None, tools: ToolRunner | None = None) -> Dialog:
    """The engine the definition asks for. `http` is used (not closed) by the LLM engine; `tools`
    runs the definition's HTTP tools (without it a tool call fails as tool-unavailable)."""
    if definition.engine == "llm":
        if definition.llm is None:
            raise DefinitionInvalid({"definition.llm": "the llm engine needs an llm section with at least a model"})
        return LlmDialog(definition.llm, definition.greeting, context, http=http, snapshot=snapshot, tools=tools)
    return ScriptDialog(definition.script, definition.greeting, context, snapshot=snapshot, tools=tools)
