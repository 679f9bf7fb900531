"""The steps a script state takes by itself (`agent.definition.parse_script` shows the JSON):

- capture: the caller's next answer (speech, or keys collected until '#' or a 3 s gap) is read
  into a typed variable (`agent.capture`); captured → the variable is set and the script goes to
  `next`. Not captured → the state's intents are tried (say "operator" to get out), else the
  caller hears `retry` and tries again; after `retries` more failures the script goes to
  `failure` (or `next` without the variable).
- tool: on entering the state the tool is called with its arguments (`{{variable}}` filled in; a
  value that is exactly one `{{variable}}` keeps the variable's type), while the caller hears the
  tool's filler; a 2xx answer stores the `save` paths as variables and goes to `next`, anything
  else (timeout, refused host, any other status) says the tool's apology and goes to `failure`
  (or `next`). Tool states may follow each other, up to `MAX_CHAINED_TOOLS`.

Variables land in the dialog's context, so `{{name}}` in later prompts and tool calls sees them,
and come out as "variables" notes (captures as "capture" notes when they fail, tools as "tool").
"""
from __future__ import annotations

import datetime
import json
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any, Protocol

from agent.capture import Captured, capture
from agent.definition import DEFAULT_FALLBACK, Intent, ScriptSection, State, ToolStep
from agent.dialog import Heard, Note, Pressed, Say, Step, Turn
from agent.text import format_value, render
from agent.tool_definition import PLACEHOLDER
from agent.tools import ToolFailure, ToolOutcome, ToolResult, ToolRunner, tool_event, with_filler

log = logging.getLogger("switchboard.agent.script")

MAX_CHAINED_TOOLS = 10
KEY_GAP_S = 3.0
"""While capturing keys: the answer ends at '#' or after this long without another key."""
MAX_SAVED_CHARS = 500


class ScriptHost(Protocol):
    """What the steps need of the script dialog."""
    script: ScriptSection
    context: dict[str, Any]

    def current(self) -> State: ...
    def enter(self, name: str) -> list[Step]: ...
    def match(self, turn: Turn) -> Intent | None: ...
    def act(self, intent: Intent) -> list[Step]: ...
    def said(self, steps: list[Step]) -> list[Step]: ...


class ScriptSteps:
    def __init__(self, host: ScriptHost, tools: ToolRunner | None, *,
                 today: Callable[[], datetime.date] = datetime.date.today) -> None:
        self.host, self.tools, self.today = host, tools, today
        self.tries = 0
        """Failed answers in the current capture state."""
        self.variables: dict[str, Any] = {}
        """What the script has set (captured, saved from tools): kept in the snapshot."""

    def key_gap_s(self) -> float:
        spec = self.host.current().capture
        return KEY_GAP_S if spec is not None and spec.dtmf and spec.kind != "yes_no" else 0.0

    def restore(self, tries: object, variables: object) -> None:
        self.tries = tries if isinstance(tries, int) and not isinstance(tries, bool) else 0
        if isinstance(variables, dict):
            self.variables = dict(variables)
            self.host.context.update(self.variables)

    # --- capture ---------------------------------------------------------------------------------
    def capture(self, turn: Turn) -> list[Step] | None:
        """The steps of an answer in a capture state; None when the state captures nothing."""
        state = self.host.current()
        spec = state.capture
        if spec is None or not isinstance(turn, (Heard, Pressed)):
            return None
        if isinstance(turn, Heard):
            got = capture(spec, today=self.today(), text=turn.text)
        else:
            got = capture(spec, today=self.today(), keys=turn.digits)
        if isinstance(got, Captured):
            self.tries = 0
            return [self._set("capture", {spec.name: got.variable}), *self.host.enter(state.next or state.name)]
        intent = self.host.match(turn)
        if intent is not None:
            self.tries = 0
            return self.host.act(intent)
        self.tries += 1
        gave_up = self.tries > state.retries
        note = Note("capture", f"could not capture {spec.name}: {got.reason}",
                    {"name": spec.name, "reason": got.reason, "attempt": self.tries, "gave_up": gave_up})
        if gave_up:
            self.tries = 0
            return [note, *self.host.enter(state.failure or state.next or state.name)]
        fallback = state.fallback or self.host.script.fallback or DEFAULT_FALLBACK
        return [note, Say(state.retry or " ".join(t for t in (fallback, state.say or "") if t.strip()))]

    def _set(self, source: str, values: dict[str, Any]) -> Note:
        self.host.context.update(values)
        self.variables.update(values)
        text = ", ".join(f"{name} = {format_value(value)}" for name, value in values.items())
        return Note("variables", text, {"source": source, "values": values})

    # --- tools -----------------------------------------------------------------------------------
    async def after_entry(self) -> AsyncIterator[Step]:
        """Run the tool state the script has just entered, and the ones it leads to."""
        for _ in range(MAX_CHAINED_TOOLS):
            state = self.host.current()
            if state.tool is None:
                return
            async for step in self._call(state, state.tool):
                yield step
        log.warning("script stopped after %d tool states in a row error_id=script-tool-loop", MAX_CHAINED_TOOLS)

    async def _call(self, state: State, step: ToolStep) -> AsyncIterator[Step]:
        arguments = self._arguments(step)
        outcome: ToolOutcome = ToolFailure(step.name, "tool-unavailable", "tools cannot be called here")
        tool = self.tools.get(step.name) if self.tools is not None else None
        if self.tools is not None:
            filler = render(tool.filler, self.host.context, missing="") if tool is not None else ""
            async for item in with_filler(self.tools.call(step.name, arguments), filler):
                if isinstance(item, Say):
                    yield item
                else:
                    outcome = item
        yield Note("tool", step.name, tool_event(outcome, arguments))
        if isinstance(outcome, ToolResult) and outcome.ok:
            saved = saved_values(outcome.data, step.save)
            if saved:
                yield self._set("tool", saved)
            target = state.next
        else:
            if tool is not None and tool.apology.strip():
                yield Say(render(tool.apology, self.host.context, missing=""))
            target = state.failure or state.next
        for said in self.host.said(self.host.enter(target or state.name)):
            yield said

    def _arguments(self, step: ToolStep) -> dict[str, Any]:
        context, out = self.host.context, {}
        for name, value in step.arguments:
            whole = PLACEHOLDER.fullmatch(value.strip()) if isinstance(value, str) else None
            if whole is not None:
                if context.get(whole.group(1)) is not None:
                    out[name] = context[whole.group(1)]  # keeps a captured number a number
            elif isinstance(value, str):
                out[name] = render(value, context, missing="")
            else:
                out[name] = value
        return out


def saved_values(data: Any, save: tuple[tuple[str, str], ...]) -> dict[str, Any]:
    """The variables `save` names, read from a JSON answer (missing paths are left out; objects
    and lists are kept as compact JSON text)."""
    values: dict[str, Any] = {}
    for variable, path in save:
        found = _walk(data, path.split("."))
        if found is None:
            continue
        if isinstance(found, (Mapping, list)):
            found = json.dumps(found, ensure_ascii=False, separators=(",", ":"))
        values[variable] = found[:MAX_SAVED_CHARS] if isinstance(found, str) else found
    return values


def _walk(data: Any, parts: list[str]) -> Any:
    for part in parts:
        if isinstance(data, Mapping):
            data = data.get(part)
        elif isinstance(data, list) and part.isdigit() and int(part) < len(data):
            data = data[int(part)]
        else:
            return None
    return data
