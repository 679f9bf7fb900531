"""Test chat: the workflow's dialog engine on typed text, no phone and no audio.

    chat = TestChat(definition, context)          # stored JSON (secrets decrypted) or a WorkflowDefinition
    first = await chat.start()                    # ChatReply: the greeting
    reply = await chat.send("I want to buy")      # as if the caller said it
    reply = await chat.press("1")                 # DTMF keys
    reply = await chat.silence()                  # a no-input timeout (reprompt, then the end)
    state = chat.snapshot()                       # JSON-able; TestChat(definition, context, snapshot=state)
    await chat.aclose()                           # resumes a conversation across HTTP requests

Endings follow the voice session's rules: a hang-up adds the farewell, a transfer ends the chat,
a dialog failure (an unreachable LLM) gives the apology and ends it. With `outside`
(`agent.outside`) the chat runs the pre-call lookup at the start (the caller number is "test")
and calls the workflow's tools for real; lookups, tool calls and variables show as actions.
"""
from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from agent.definition import WorkflowDefinition, as_definition
from agent.dialog import Dialog, HangUp, Heard, Note, Pressed, Say, Silent, Step, Transfer
from agent.engines import build_dialog
from agent.errors import AgentError
from agent.outside import Outside, pre_call_variables, tool_runner
from agent.text import render


@dataclass(frozen=True)
class ChatReply:
    says: list[str] = field(default_factory=list)
    """What the agent says, sentence groups in order."""
    actions: list[dict[str, Any]] = field(default_factory=list)
    """{"action": "transfer", "extension": "7000"} / {"action": "hang_up", "reason": ...} /
    {"action": "error", "error_id": ..., "message": ...} / {"action": "tool", "name", "arguments",
    "status", "error_id", "result", "elapsed_ms"} / {"action": "variables", "source", "values"} /
    {"action": "capture", "name", "reason", "gave_up"} / {"action": "lookup", "variables", "error_id", ...}"""
    ended: bool = False

    @property
    def text(self) -> str:
        return " ".join(self.says)

    def as_dict(self) -> dict[str, Any]:
        return {"says": self.says, "text": self.text, "actions": self.actions, "ended": self.ended}


class TestChat:
    __test__ = False  # not a pytest class

    def __init__(self, definition: WorkflowDefinition | Mapping[str, Any], context: dict[str, Any] | None = None, *,
                 http: httpx.AsyncClient | None = None, snapshot: dict[str, Any] | None = None,
                 outside: Outside | None = None) -> None:
        """Raises `DefinitionInvalid` for stored JSON that is not a valid definition."""
        self.definition = as_definition(definition)
        self.http, self.outside = http, outside
        state = dict(snapshot or {})
        variables = state.get("variables")
        self.variables: dict[str, Any] = dict(variables) if isinstance(variables, dict) else {}
        self.context = self.variables | {"caller_number": "test", "called_number": "test", "direction": "inbound",
                                         "call_id": "test-chat", "provider": "chat"} | (context or {})
        self.farewell = render(self.definition.farewell, self.context, missing="")
        self.ended: bool = bool(state.get("ended", False))
        self._reprompted: bool = bool(state.get("reprompted", False))
        self.dialog: Dialog = self._build(state.get("dialog"))

    def _build(self, snapshot: dict[str, Any] | None) -> Dialog:
        tools = tool_runner(self.definition, self.context, self.outside) if self.outside is not None else None
        return build_dialog(self.definition, self.context, http=self.http, snapshot=snapshot, tools=tools)

    async def start(self) -> ChatReply:
        actions: list[dict[str, Any]] = []
        if self.outside is not None:
            variables, event = await pre_call_variables(self.definition, self.context, self.outside)
            if event is not None:
                actions.append({"action": "lookup", "text": event.text, **event.data})
            if variables:
                self.variables = variables
                self.context = variables | self.context
                await self.dialog.aclose()
                self.dialog = self._build(None)  # the greeting and the prompt see the variables
        reply = await self._run(self.dialog.greeting())
        return ChatReply(reply.says, actions + reply.actions, reply.ended)

    async def send(self, text: str) -> ChatReply:
        return await self._run(self.dialog.respond(Heard(text)))

    async def press(self, digits: str) -> ChatReply:
        return await self._run(self.dialog.respond(Pressed(digits)))

    async def silence(self) -> ChatReply:
        """The first call is the reprompt timeout; a second in a row is the hang-up timeout."""
        final, self._reprompted = self._reprompted, True
        return await self._run(self.dialog.respond(Silent(final=final)), silence=True)

    def snapshot(self) -> dict[str, Any]:
        return {"dialog": self.dialog.snapshot(), "ended": self.ended, "reprompted": self._reprompted,
                "variables": self.variables}

    async def aclose(self) -> None:
        await self.dialog.aclose()

    async def _run(self, steps: AsyncIterator[Step], *, silence: bool = False) -> ChatReply:
        if not silence:
            self._reprompted = False
        if self.ended:
            return ChatReply([], [], True)
        says: list[str] = []
        actions: list[dict[str, Any]] = []
        try:
            async for step in steps:
                if isinstance(step, Say):
                    if step.text.strip():
                        says.append(step.text)
                elif isinstance(step, Note):
                    actions.append({"action": step.kind, "text": step.text, **step.data})
                elif isinstance(step, Transfer):
                    actions.append({"action": "transfer", "extension": step.extension})
                    self.ended = True
                elif isinstance(step, HangUp):
                    if self.farewell.strip():
                        says.append(self.farewell)
                    actions.append({"action": "hang_up", "reason": step.reason})
                    self.ended = True
                if self.ended:
                    break
        except AgentError as exc:
            says.append(self.dialog.apology)
            actions.append({"action": "error", "error_id": exc.error_id, "message": str(exc)})
            actions.append({"action": "hang_up", "reason": exc.error_id})
            self.ended = True
        if says:
            self.dialog.heard(" ".join(says), interrupted=False)
        return ChatReply(says, actions, self.ended)
