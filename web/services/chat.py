"""Test chat: the workflow's dialog engine on typed text, for the workflow page (`web.views.chat`)
and the API (`POST /api/v1/workflows/{id}/chat`, `web.api.workflows`).

Stateless between requests: the conversation (the engine's `TestChat.snapshot()` and, for the
page, the transcript) travels as an opaque token sealed with the server's secret box (Fernet:
encrypted and authenticated), bound to the organisation and the workflow and valid for
`CHAT_TTL_S`. It never holds the definition or a secret; it may hold an LLM's message history,
which is why it is encrypted rather than only signed. Each turn runs on the workflow as stored now
(secrets decrypted in memory only). A failing LLM gives the apology and ends the chat, as on a call.
Tools and the pre-call lookup are called for real, through `outside` (the process's outbound
client and the organisation's allowed hosts); the transcript shows them.
"""
from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from typing import Any

from agent.chat import ChatReply, TestChat
from agent.definition import DefinitionInvalid, map_secrets
from agent.outside import Outside
from data.models import Workflow
from data.secretbox import SecretBox
from web.errors import ApiError, invalid

CHAT_TTL_S = 12 * 3600
MAX_TEXT = 2000
MAX_LOG = 200
"""Transcript entries kept (the oldest go first)."""
MAX_STATE_BYTES = 200_000
"""A conversation larger than this (a long LLM history) must start over."""
_DIGITS = re.compile(r"^[0-9*#]{1,20}\Z")
_FORMAT = 1

Turn = tuple[str, str]
"""("text", what the caller says) | ("digits", keys) | ("silence", "")."""


@dataclass
class Conversation:
    snapshot: dict[str, Any] | None = None
    """`TestChat.snapshot()`; None before the greeting."""
    log: list[dict[str, Any]] = field(default_factory=list)
    """The transcript: {"who": "caller", "text"|"keys"|"silent": …}, {"who": "agent", "text": …},
    {"who": "action", "action": {…}} (a ChatReply action)."""

    @property
    def ended(self) -> bool:
        return bool(self.snapshot and self.snapshot.get("ended"))


class ChatStateError(Exception):
    """The token is not ours, not for this workflow, or too old (error id `chat-state-invalid`)."""


# --- the token ----------------------------------------------------------------------------------

def seal(box: SecretBox, workflow: Workflow, conversation: Conversation) -> str:
    payload = json.dumps({"v": _FORMAT, "org": workflow.organization_id, "wf": workflow.id, "at": int(time.time()),
                          "chat": conversation.snapshot, "log": conversation.log[-MAX_LOG:]},
                         separators=(",", ":"), ensure_ascii=False)
    if len(payload.encode()) > MAX_STATE_BYTES:
        raise ApiError(422, "chat-too-long", "this test chat has grown too long: start a new one")
    return box.encrypt(payload)


def unseal(box: SecretBox, workflow: Workflow, token: str) -> Conversation:
    try:
        data = json.loads(box.decrypt(token))
    except (ValueError, TypeError, UnicodeError) as exc:
        raise ChatStateError("this test chat state is not valid: start a new chat") from exc
    if not isinstance(data, dict) or data.get("v") != _FORMAT or data.get("org") != workflow.organization_id \
            or data.get("wf") != workflow.id:
        raise ChatStateError("this test chat belongs to another workflow: start a new chat")
    if not isinstance(data.get("at"), int) or time.time() - data["at"] > CHAT_TTL_S:
        raise ChatStateError("this test chat has expired: start a new chat")
    snapshot, log = data.get("chat"), data.get("log")
    return Conversation(snapshot if isinstance(snapshot, dict) else None, log if isinstance(log, list) else [])


# --- one exchange -------------------------------------------------------------------------------

async def converse(box: SecretBox, workflow: Workflow, conversation: Conversation,
                   turn: Turn | None, outside: Outside | None = None) -> tuple[Conversation, list[ChatReply]]:
    """Start the chat when it has not started (the greeting), then play `turn`."""
    if conversation.ended and turn is not None:
        raise ApiError(409, "chat-ended", "this test chat has ended: start a new one")
    try:
        definition = map_secrets(workflow.definition, box.decrypt)
    except ValueError as exc:
        raise ApiError(409, "secret-undecryptable", f"{exc} (a secret of the workflow: enter it again)") from exc
    try:
        chat = TestChat(definition, snapshot=conversation.snapshot, outside=outside)
    except DefinitionInvalid as exc:  # stored before a stricter check: the editor shows what to fix
        raise ApiError(409, exc.error_id, f"this workflow's definition is not valid: {exc.args[0]}") from exc
    log = list(conversation.log)
    replies: list[ChatReply] = []
    try:
        if conversation.snapshot is None:
            replies.append(await chat.start())
            log += _entries(replies[-1])
        if turn is not None and not chat.ended:
            kind, value = turn
            if kind == "text":
                log.append({"who": "caller", "text": value})
                replies.append(await chat.send(value))
            elif kind == "digits":
                log.append({"who": "caller", "keys": value})
                replies.append(await chat.press(value))
            else:
                log.append({"who": "caller", "silent": True})
                replies.append(await chat.silence())
            log += _entries(replies[-1])
        snapshot = chat.snapshot()
    finally:
        await chat.aclose()
    return Conversation(snapshot, log[-MAX_LOG:]), replies


def _entries(reply: ChatReply) -> list[dict[str, Any]]:
    said = [{"who": "agent", "text": reply.text}] if reply.text.strip() else []
    return said + [{"who": "action", "action": action} for action in reply.actions]


def check_text(value: Any, key: str = "text") -> str:
    if not isinstance(value, str) or not value.strip():
        raise invalid({key: "type what the caller says"})
    if len(value) > MAX_TEXT:
        raise invalid({key: f"at most {MAX_TEXT} characters"})
    return value.strip()


def check_digits(value: Any, key: str = "digits") -> str:
    if not isinstance(value, str) or not _DIGITS.match(value):
        raise invalid({key: "1 to 20 keys: 0-9, * or #"})
    return value
