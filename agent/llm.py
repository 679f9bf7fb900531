"""The LLM engine: any OpenAI-compatible chat-completions endpoint (OpenAI, Ollama, vLLM, LM Studio,
OpenRouter), streamed; sentences are handed to speech as soon as they are complete.

Tools: the workflow's HTTP tools (`agent.llm_tools`: a filler while they run, the tool's apology
when one fails, the result to the model), `transfer_call(extension)` (blind, or attended when
the workflow's `transfer.mode` says so; limited to `allowed_extensions` when given; an attended
transfer nobody answers comes back as the tool result "transfer failed: …" and the conversation
goes on) and `end_call(reason)` (the session says the farewell and hangs up). Call context
(`caller_number`, `called_number`, `direction`, `call_id`, `provider`) and the pre-call lookup's
variables fill `{{name}}` in the instructions and the greeting (an unknown name becomes empty).
Failures raise `agent.errors.DialogError` subclasses; the session then says `apology` and ends
the call cleanly.
"""
from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx

from agent.definition import DEFAULT_APOLOGY, DEFAULT_LLM_REPROMPT, LlmSection
from agent.dialog import HangUp, Heard, Pressed, Say, Silent, Step, Transfer, Turn
from agent.errors import LlmBadResponse, LlmTimeout, LlmUnreachable
from agent.llm_tools import FunctionCall, assistant_message, is_user_tool, offered, run_calls
from agent.text import SentenceBuffer, render
from agent.tools import ToolRunner

log = logging.getLogger("switchboard.agent.llm")

MAX_TOOL_ROUNDS = 4
TOTAL_REPLY_S = 90.0

PHONE_GUIDANCE = (
    "You are talking with a caller on the telephone; everything you write is spoken aloud. "
    "Answer in one to three short sentences of plain speech: no lists, markdown, emojis or URLs. "
    "If the caller wants a person or a department, use the transfer_call tool with the extension. "
    "When the conversation is finished, use the end_call tool; a goodbye is said for you. "
    "Key presses reach you as text like '[keys pressed: 1]'."
)

TOOLS: list[dict[str, Any]] = [
    {"type": "function", "function": {
        "name": "transfer_call",
        "description": "Transfer the caller to a telephone extension. If it is answered the call leaves "
                       "you; if not, you get the result 'transfer failed: ...' and stay with the caller.",
        "parameters": {"type": "object", "properties": {
            "extension": {"type": "string", "description": "the extension to ring, e.g. 7000"}},
            "required": ["extension"]}}},
    {"type": "function", "function": {
        "name": "end_call",
        "description": "End the call once the conversation is over. A goodbye is spoken for you.",
        "parameters": {"type": "object", "properties": {
            "reason": {"type": "string", "description": "why the call ends, for the call log"}},
            "required": ["reason"]}}},
]


@dataclass
class _ToolCall:
    id: str = ""
    name: str = ""
    arguments: str = ""


@dataclass
class _Completion:
    text: str = ""
    tool_calls: dict[int, _ToolCall] = field(default_factory=dict)


class LlmDialog:
    dtmf_gap_s = 1.5

    def __init__(self, config: LlmSection, greeting: str, context: dict[str, Any], *,
                 http: httpx.AsyncClient | None = None, snapshot: dict[str, Any] | None = None,
                 tools: ToolRunner | None = None) -> None:
        self.config = config
        self.context = context
        self.tools = tools
        self.greeting_text = render(greeting, context, missing="")
        self.apology = render(config.apology or DEFAULT_APOLOGY, context, missing="")
        self._own_http = http is None
        self.http = http or httpx.AsyncClient(trust_env=False)
        self.messages: list[dict[str, Any]] = list(snapshot["messages"]) if snapshot and snapshot.get("messages") \
            else [{"role": "system", "content": self._system_prompt()}]
        self._transfer_call: _ToolCall | None = None  # the tool call of the transfer under way

    def _system_prompt(self) -> str:
        facts = ", ".join(f"{k}={self.context[k]}" for k in
                          ("caller_number", "called_number", "direction", "call_id", "provider")
                          if self.context.get(k) not in (None, ""))
        instructions = render(self.config.instructions or "", self.context, missing="")
        return f"{instructions}\n\n{PHONE_GUIDANCE}" + (f"\nThis call: {facts}." if facts else "")

    # --- Dialog ----------------------------------------------------------------------------------
    async def greeting(self) -> AsyncIterator[Step]:
        if self.greeting_text.strip():
            yield Say(self.greeting_text)
            return
        async for step in self._complete():
            yield step

    async def respond(self, turn: Turn) -> AsyncIterator[Step]:
        if isinstance(turn, Silent):
            if turn.final:
                yield HangUp("no input from the caller")
                return
            reprompt = render(self.config.reprompt or DEFAULT_LLM_REPROMPT, self.context, missing="")
            yield Say(reprompt)
            return
        if isinstance(turn, Heard):
            self.messages.append({"role": "user", "content": turn.text})
        elif isinstance(turn, Pressed):
            self.messages.append({"role": "user", "content": f"[keys pressed: {' '.join(turn.digits)}]"})
        async for step in self._complete():
            yield step

    def heard(self, text: str, *, interrupted: bool) -> None:
        if not text and not interrupted:
            return
        content = f"{text} [interrupted by the caller]" if interrupted else text
        self.messages.append({"role": "assistant", "content": content})

    def transfer_failed(self, extension: str, reason: str) -> None:
        """The transfer asked for was not answered: the model learns it as the tool's result."""
        call, self._transfer_call = self._transfer_call, None
        if call is None:
            return
        self.messages.append({"role": "assistant", "content": None, "tool_calls": [
            {"id": call.id, "type": "function", "function": {"name": call.name, "arguments": call.arguments}}]})
        self.messages.append(_tool_result(call, f"transfer failed: {reason}; you are still talking with the caller"))

    def expected_words(self) -> tuple[str, ...]:
        return ()  # open conversation: any hint would bias what the caller says towards it

    def snapshot(self) -> dict[str, Any]:
        return {"messages": list(self.messages)}

    async def aclose(self) -> None:
        if self._own_http:
            await self.http.aclose()

    # --- completion ------------------------------------------------------------------------------
    async def _complete(self) -> AsyncIterator[Step]:
        for _ in range(MAX_TOOL_ROUNDS):
            sentences = SentenceBuffer()
            completion = _Completion()
            async for delta in self._stream(completion):
                for sentence in sentences.feed(delta):
                    yield Say(sentence)
            for sentence in sentences.flush():
                yield Say(sentence)
            if not completion.tool_calls:
                if not completion.text.strip():
                    yield Say("Sorry, could you say that again?")
                return
            calls = [FunctionCall(c.id, c.name, c.arguments) for c in completion.tool_calls.values()]
            results: list[dict[str, Any]] = []
            if self.tools is not None:
                mine = [call for call in calls if is_user_tool(self.tools, call.name)]
                async for step in run_calls(mine, self.tools, self.context, results):
                    yield step
            ending, refusals = self._tools(completion)
            if ending is not None:
                yield ending
                return
            self.messages.append(assistant_message(completion.text, calls))
            answered = {m["tool_call_id"]: m for m in [*refusals, *results]}
            self.messages.extend(answered[call.id] for call in calls if call.id in answered)
        yield Say("Sorry, I can't do that.")

    def _tools(self, completion: _Completion) -> tuple[Step | None, list[dict[str, Any]]]:
        """The ending action asked for, or tool-result messages explaining why not."""
        refusals: list[dict[str, Any]] = []
        allowed = self.config.allowed_extensions
        for call in completion.tool_calls.values():
            try:
                args = json.loads(call.arguments or "{}")
            except json.JSONDecodeError:
                args = None
            if not isinstance(args, dict):
                refusals.append(_tool_result(call, "error: arguments must be a JSON object"))
            elif call.name == "end_call":
                return HangUp(str(args.get("reason") or "the assistant ended the call")[:200]), []
            elif call.name == "transfer_call":
                extension = str(args.get("extension", "")).strip()
                if not extension or (allowed and extension not in allowed):
                    choices = ", ".join(allowed) if allowed else "a valid extension"
                    refusals.append(_tool_result(call, f"error: cannot transfer to {extension!r}; use {choices}"))
                else:
                    self._transfer_call = call
                    return Transfer(extension), []
            elif not is_user_tool(self.tools, call.name):
                refusals.append(_tool_result(call, f"error: no tool named {call.name!r}"))
        return None, refusals

    async def _stream(self, completion: _Completion) -> AsyncIterator[str]:
        """Yield text deltas; collect tool calls into `completion`. Maps failures to DialogErrors."""
        timeout_s = float(self.config.timeout_s or 10)
        body: dict[str, Any] = {"model": self.config.model, "messages": self.messages, "stream": True,
                                "tools": TOOLS + offered(self.tools), "max_tokens": self.config.max_tokens or 300}
        if self.config.temperature is not None:
            body["temperature"] = self.config.temperature
        headers = {"Accept": "text/event-stream"}
        if self.config.api_key:
            headers["Authorization"] = f"Bearer {self.config.api_key}"
        url = f"{(self.config.base_url or '').rstrip('/')}/chat/completions"
        timeout = httpx.Timeout(timeout_s, connect=min(timeout_s, 5.0))
        try:
            async with asyncio.timeout(TOTAL_REPLY_S):
                async with self.http.stream("POST", url, json=body, headers=headers, timeout=timeout) as response:
                    if response.status_code >= 400:
                        detail = (await response.aread())[:200].decode("utf-8", "replace")
                        raise LlmBadResponse(f"HTTP {response.status_code} from {url}: {detail}",
                                             error_id="llm-http-error")
                    async for line in response.aiter_lines():
                        text = _parse_line(line, completion)
                        if text is None:
                            break
                        if text:
                            completion.text += text
                            yield text
        except httpx.TimeoutException as exc:
            raise LlmTimeout(f"no answer from {url} within {timeout_s:g} s ({type(exc).__name__})") from exc
        except TimeoutError as exc:
            raise LlmTimeout(f"the reply from {url} took longer than {TOTAL_REPLY_S:g} s") from exc
        except httpx.TransportError as exc:
            raise LlmUnreachable(f"cannot reach {url}: {exc or type(exc).__name__}") from exc


def _parse_line(line: str, completion: _Completion) -> str | None:
    """The text in one SSE line ('' when none), or None at `[DONE]`."""
    if not line.startswith("data:"):
        return ""
    data = line[5:].strip()
    if data == "[DONE]":
        return None
    try:
        chunk = json.loads(data)
        choices = chunk.get("choices") or []
        if not choices:
            return ""
        delta = choices[0].get("delta") or {}
    except (json.JSONDecodeError, AttributeError, TypeError) as exc:
        raise LlmBadResponse(f"unreadable stream chunk: {data[:100]!r}") from exc
    for part in delta.get("tool_calls") or []:
        call = completion.tool_calls.setdefault(int(part.get("index", 0)), _ToolCall())
        call.id = part.get("id") or call.id
        function = part.get("function") or {}
        call.name = function.get("name") or call.name
        call.arguments += function.get("arguments") or ""
    content = delta.get("content")
    return content if isinstance(content, str) else ""


def _tool_result(call: _ToolCall, content: str) -> dict[str, Any]:
    return {"role": "tool", "tool_call_id": call.id, "content": content}
