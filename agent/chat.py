"""Test chat: the workflow's dialog engine on typed text, no phone and no audio.

    chat = TestChat(definition, context)          # stored JSON (secrets decrypted) or a WorkflowDefinition
    first = await chat.start()                    # ChatReply: the greeting
    reply = await chat.send("I want to buy")      # as if the caller said it
    reply = await chat.press("1")                 # DTMF keys
    reply = await chat.silence()                  # a no-input timeout (reprompt, then the end)
    state = chat.snapshot()                       # JSON-able; TestChat(definition, context, snapshot=state)
    await chat.aclose()                           # resumes a conversation across HTTP requests

Endings follow the voice session's rules: a hang-up adds the farewell, a transfer ends the chat,
a dialog failure (an unreachable LLM) gives the apology and ends it.
"""
from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from agent.definition import WorkflowDefinition, as_definition
from agent.dialog import Dialog, HangUp, Heard, Pressed, Say, Silent, Step, Transfer, build_dialog
from agent.errors import AgentError
from agent.text import render


@dataclass(frozen=True)
class ChatReply:
    says: list[str] = field(default_factory=list)
    """What the agent says, sentence groups in order."""
    actions: list[dict[str, Any]] = field(default_factory=list)
    """{"action": "transfer", "extension": "7000"} / {"action": "hang_up", "reason": ...} /
    {"action": "error", "error_id": ..., "message": ...}"""
    ended: bool = False

    @property
    def text(self) -> str:
        return " ".join(self.says)

    def as_dict(self) -> dict[str, Any]:
        return {"says": self.says, "text": self.text, "actions": self.actions, "ended": self.ended}


class TestChat:
    __test__ = False  # not a pytest class

    def __init__(self, definition: WorkflowDefinition | Mapping[str, Any], context: dict[str, Any] | None = None, *,
                 http: httpx.AsyncClient | None = None, snapshot: dict[str, Any] | None = None) -> None:
        """Raises `DefinitionInvalid` for stored JSON that is not a valid definition."""
        definition = as_definition(definition)
        self.context = {"caller_number": "test", "called_number": "test", "direction": "inbound",
                        "call_id": "test-chat", "provider": "chat"} | (context or {})
        self.farewell = render(definition.farewell, self.context)
        state = dict(snapshot or {})
        self.ended: bool = bool(state.get("ended", False))
        self._reprompted: bool = bool(state.get("reprompted", False))
        self.dialog: Dialog = build_dialog(definition, self.context, http=http, snapshot=state.get("dialog"))

    async def start(self) -> ChatReply:
        return await self._run(self.dialog.greeting())

    async def send(self, text: str) -> ChatReply:
        return await self._run(self.dialog.respond(Heard(text)))

    async def press(self, digits: str) -> ChatReply:
        return await self._run(self.dialog.respond(Pressed(digits)))

    async def silence(self) -> ChatReply:
        """The first call is the reprompt timeout; a second in a row is the hang-up timeout."""
        final, self._reprompted = self._reprompted, True
        return await self._run(self.dialog.respond(Silent(final=final)), silence=True)

    def snapshot(self) -> dict[str, Any]:
        return {"dialog": self.dialog.snapshot(), "ended": self.ended, "reprompted": self._reprompted}

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
                    says.append(step.text)
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
