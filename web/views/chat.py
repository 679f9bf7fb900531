"""HTML: the test chat card of the workflow page (`POST /workflows/{id}/chat`, handled by
`web.views.workflows.chat_turn`). The conversation itself is `web.services.chat`.

    form: state, and text (+ action=send) | press=<key> | action=silence | action=restart
"""
from __future__ import annotations

from typing import Any

from starlette.requests import Request

from agent.outside import Outside
from data.models import Workflow
from web.errors import ApiError
from web.services.chat import ChatStateError, Conversation, Turn, check_digits, check_text, converse, seal, unseal
from web.services.webhooks import hosts_of
from web.state import app_state


def chat_context(request: Request, workflow: Workflow, conversation: Conversation | None = None, *,
                 error: str = "", focus: bool = False) -> dict[str, Any]:
    conversation = conversation or Conversation()
    token = ""
    if conversation.snapshot is not None:
        try:
            token = seal(app_state(request).store.box, workflow, conversation)
        except ApiError as exc:  # too long: show it, and the next action starts over
            error = exc.message
    return {"token": token, "log": conversation.log, "ended": conversation.ended, "error": error, "focus": focus}


def _form_turn(values: dict[str, str], started: bool) -> Turn | None:
    """The turn the chat form asks for. Raises a 422 ApiError for an empty or bad input."""
    action = values.get("action", "send")
    if "press" in values:
        return "digits", check_digits(values["press"], "text")
    if action == "silence":
        return "silence", ""
    if action == "restart" or (not started and not values.get("text", "").strip()):
        return None  # Start / Start over, or Send on a chat that has not started: the greeting alone
    return "text", check_text(values.get("text"))


async def play_turn(request: Request, workflow: Workflow, values: dict[str, str]) -> tuple[dict[str, Any], int]:
    """Play the form's turn: the chat card's context and the status to answer with."""
    state = app_state(request)
    box = state.store.box
    conversation, error, status = Conversation(), "", 200
    try:
        if values.get("state") and values.get("action") != "restart":
            conversation = unseal(box, workflow, values["state"])
        turn = _form_turn(values, started=conversation.snapshot is not None)
        outside = Outside(state.outbound, await hosts_of(state.store, workflow.organization_id))
        conversation, _ = await converse(box, workflow, conversation, turn, outside)
    except ChatStateError as exc:
        conversation, error, status = Conversation(), str(exc), 409
    except ApiError as exc:
        error, status = "; ".join(exc.fields.values()) or exc.message, exc.status
    return chat_context(request, workflow, conversation, error=error, focus=True), status
