"""The script engine: states, intents on normalised words or DTMF keys, actions. No I/O.

Matching order for what the caller said: the current state's intents in order (keywords as
whole words or phrases, then the regex over the normalised words), then a repeat request
("sorry?", "say that again") which repeats the last thing said, then the fallback reply.
A key press matches the first intent that lists that key; other keys get the fallback.
A state may instead capture the answer into a variable or call a tool (`agent.script_steps`).
"""
from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

from agent.definition import DEFAULT_APOLOGY, DEFAULT_FALLBACK, Intent, ScriptSection, State
from agent.dialog import HangUp, Heard, Pressed, Say, Silent, Step, Transfer, Turn
from agent.script_steps import ScriptSteps
from agent.stt_choice import choose
from agent.text import contains_phrase, render, words
from agent.tools import ToolRunner

_EMPTY_SCRIPT = ScriptSection(start="main", states=(State("main"),))


class ScriptDialog:
    def __init__(self, script: ScriptSection | None, greeting: str, context: dict[str, Any],
                 *, snapshot: dict[str, Any] | None = None, tools: ToolRunner | None = None) -> None:
        self.script = script or _EMPTY_SCRIPT
        self.greeting_text = greeting
        self.context = context
        self.apology = DEFAULT_APOLOGY
        self.state: str = self.script.start
        self.last_said = ""
        self._repeat = [words(p) for p in self.script.repeat_phrases]
        self.steps = ScriptSteps(self, tools)
        if snapshot:
            saved = snapshot.get("state")
            if isinstance(saved, str) and self.script.state(saved) is not None:
                self.state = saved
            self.last_said = str(snapshot.get("last_said", ""))
            self.steps.restore(snapshot.get("tries"), snapshot.get("variables"))

    @property
    def dtmf_gap_s(self) -> float:
        """Keys are turns of their own, except while a state captures a number, a date..."""
        return self.steps.key_gap_s()

    # --- Dialog ----------------------------------------------------------------------------------
    async def greeting(self) -> AsyncIterator[Step]:
        text = " ".join(t for t in (self.greeting_text, self._current().say or "") if t.strip())
        for step in self._said([Say(text)] if text.strip() else []):
            yield step
        async for step in self.steps.after_entry():
            yield step

    async def respond(self, turn: Turn) -> AsyncIterator[Step]:
        captured = self.steps.capture(turn)
        for step in self._said(self.decide(turn) if captured is None else captured):
            yield step
        async for step in self.steps.after_entry():
            yield step

    def heard(self, text: str, *, interrupted: bool) -> None:
        pass  # a repeat says the whole reply again, whatever was heard

    def transfer_failed(self, extension: str, reason: str) -> None:
        pass  # the script stays in its state; the session tells the caller

    def expected_words(self) -> list[str]:
        return [keyword for intent in self._current().intents for keyword in intent.keywords]

    def snapshot(self) -> dict[str, Any]:
        return {"state": self.state, "last_said": self.last_said, "tries": self.steps.tries,
                "variables": self.steps.variables}

    async def aclose(self) -> None:
        pass

    # --- decisions -------------------------------------------------------------------------------
    def decide(self, turn: Turn) -> list[Step]:
        if isinstance(turn, Silent):
            if turn.final:
                return [HangUp("no input from the caller")]
            state = self._current()
            reprompt = state.reprompt or "Sorry, I didn't hear anything."
            again = "" if state.reprompt else (state.say or self.greeting_text)
            return [Say(f"{reprompt} {again}".strip())]
        intent = self.understood(turn)
        if intent is not None:
            return self._act(intent)
        if isinstance(turn, Heard) and self._is_repeat(words(turn.text)) and self.last_said:
            return [Say(self.last_said)]
        return [Say(self._current().fallback or self.script.fallback or DEFAULT_FALLBACK)]

    def match(self, turn: Turn) -> Intent | None:
        intents = self._current().intents
        if isinstance(turn, Pressed):
            for digit in turn.digits:
                for intent in intents:
                    if digit in intent.dtmf:
                        return intent
            return None
        if not isinstance(turn, Heard):
            return None
        said = words(turn.text)
        joined = " ".join(said)[:500]  # a transcript; bounds the regex work
        for intent in intents:
            if any(contains_phrase(said, words(k)) for k in intent.keywords):
                return intent
            if intent.regex and re.search(intent.regex, joined, re.IGNORECASE):
                return intent
        return None

    def _act(self, intent: Intent) -> list[Step]:
        steps: list[Step] = [Say(intent.say)] if intent.say and intent.say.strip() else []
        if intent.action == "transfer" and intent.extension:
            steps.append(Transfer(intent.extension, intent.name))
        elif intent.action == "hang_up":
            steps.append(HangUp(f"intent {intent.name}"))
        elif intent.action == "goto" and intent.goto:
            steps += self.enter(intent.goto)
        return steps

    # --- what the steps use (agent.script_steps.ScriptHost) ----------------------------------------
    def enter(self, name: str) -> list[Step]:
        """Go to state `name`; what is said on entering it."""
        self.state = name
        self.steps.tries = 0
        entry = self._current().say or ""
        return [Say(entry)] if entry.strip() else []

    def current(self) -> State:
        return self._current()

    def act(self, intent: Intent) -> list[Step]:
        return self._act(intent)

    def said(self, steps: list[Step]) -> list[Step]:
        return self._said(steps)

    def understood(self, turn: Turn) -> Intent | None:
        """The intent the caller chose: by words, keys or pattern; else, unless they asked to hear
        it again, the one the audio clearly supports (a blurred short answer)."""
        intent = self.match(turn)
        if intent is None and not (isinstance(turn, Heard) and self._is_repeat(words(turn.text))):
            intent = self._blurred_answer(turn)
        return intent

    def _blurred_answer(self, turn: Turn) -> Intent | None:
        """The intent whose keywords the audio clearly supports when the words named none."""
        if not isinstance(turn, Heard) or not turn.answers:
            return None
        intents = self._current().intents
        chosen = choose(turn.answers, {i: intent.keywords for i, intent in enumerate(intents)})
        return None if chosen is None else intents[chosen]

    def _is_repeat(self, said: list[str]) -> bool:
        return len(said) <= 6 and any(contains_phrase(said, phrase) for phrase in self._repeat)

    def _current(self) -> State:
        state = self.script.state(self.state)
        if state is None:  # a parsed script's start and gotos name its states
            raise LookupError(f"the script has no state {self.state!r}")
        return state

    def _said(self, steps: list[Step]) -> list[Step]:
        final = any(isinstance(s, (Transfer, HangUp)) for s in steps)
        rendered = [Say(render(s.text, self.context, missing=""), not final) if isinstance(s, Say) else s
                    for s in steps]
        text = " ".join(s.text for s in rendered if isinstance(s, Say))
        if text:
            self.last_said = text
        return rendered
