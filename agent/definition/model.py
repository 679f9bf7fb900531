"""The workflow definition as frozen dataclasses, and their stored JSON form (`to_json`).

    WorkflowDefinition        common fields (greeting, timers, voice, ...) and optional sections:
    ├── script: ScriptSection     start, states (State → Intent), fallback, repeat phrases
    │                             (a state may capture a variable or call a tool: CaptureSpec, ToolStep)
    ├── llm: LlmSection           OpenAI-compatible endpoint, instructions, limits
    ├── stt: SttEndpoint          ┐ an OpenAI-compatible HTTP endpoint (or Piper for speech)
    ├── tts: TtsEndpoint          ┘ instead of the embedded models
    ├── transfer: TransferPolicy  blind or attended, ring timeout
    ├── tools: ToolDefinition…    the user's HTTP tools (`agent.tool_definition`), for both engines
    ├── pre_call: PreCallLookup   caller number → variables before the greeting (`agent.lookup`)
    └── webhooks: WebhookTarget…  post-call webhooks (`agent.webhooks`)

Instances come from `agent.definition.parse_definition` (validated; defaults filled in) or are
built directly (tests); every field has the default a missing JSON key gets. Values the stored
format allows to be `null` are `| None` here, so JSON → model → JSON gives back the same document.
Lists are tuples and states a tuple in their JSON order, so a definition is immutable and hashable.
Secrets (`api_key`) are left out of `repr` so a logged definition never shows one.

To add a section: a dataclass with `to_json`, a field here (default None or ()), a reader in
`parse.py`, and its secret paths in `secrets.py`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from agent.capture import CaptureSpec
from agent.lookup import PreCallLookup
from agent.tool_definition import ToolDefinition
from agent.webhooks import WebhookTarget

SCHEMA_VERSION = 1
Engine = Literal["script", "llm"]
Action = Literal["goto", "transfer", "hang_up", "say"]
SttProvider = Literal["embedded", "openai"]
TtsProvider = Literal["embedded", "openai", "piper"]
TransferMode = Literal["blind", "attended"]
ENGINES: tuple[Engine, ...] = ("script", "llm")
ACTIONS: tuple[Action, ...] = ("goto", "transfer", "hang_up", "say")
STT_PROVIDERS: tuple[SttProvider, ...] = ("embedded", "openai")
TTS_PROVIDERS: tuple[TtsProvider, ...] = ("embedded", "openai", "piper")
TRANSFER_MODES: tuple[TransferMode, ...] = ("blind", "attended")

EMBEDDED_VOICES = ("default", "heart")
DEFAULT_REPEAT_PHRASES = ("sorry", "repeat", "say that again", "pardon", "come again", "what was that")
DEFAULT_FALLBACK = "Sorry, I didn't catch that."
DEFAULT_LLM_URL = "http://127.0.0.1:11434/v1"  # Ollama's OpenAI-compatible API on this host
DEFAULT_INSTRUCTIONS = "You are a friendly, concise assistant answering the phone."
DEFAULT_APOLOGY = "Sorry, I'm having trouble answering right now. Please call again later. Goodbye."
DEFAULT_LLM_REPROMPT = "Are you still there?"
DEFAULT_TRANSFER_TIMEOUT_S = 20


@dataclass(frozen=True)
class Intent:
    """What the caller may say or press in a state, and what follows."""
    name: str
    action: Action
    keywords: tuple[str, ...] = ()
    regex: str | None = None
    dtmf: tuple[str, ...] = ()
    say: str | None = ""
    goto: str | None = None
    """The next state (action "goto")."""
    extension: str | None = None
    """Where to transfer (action "transfer")."""

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "keywords": list(self.keywords), "regex": self.regex, "dtmf": list(self.dtmf),
                "say": self.say, "action": self.action, "goto": self.goto, "extension": self.extension}


ArgumentValue = str | int | float | bool


@dataclass(frozen=True)
class ToolStep:
    """A script state that calls one of the workflow's tools as soon as it is entered."""
    name: str
    arguments: tuple[tuple[str, ArgumentValue], ...] = ()
    """Argument values; text may hold `{{variable}}` (a value that is exactly one `{{variable}}`
    keeps the variable's type: a captured number stays a number)."""
    save: tuple[tuple[str, str], ...] = ()
    """(variable, dotted path in the JSON answer): `("ref", "booking.reference")`."""

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "arguments": dict(self.arguments), "save": dict(self.save)}


DEFAULT_RETRIES = 2


@dataclass(frozen=True)
class State:
    name: str
    say: str | None = ""
    """Said on entering the state (after the greeting for the start state)."""
    reprompt: str | None = None
    fallback: str | None = None
    intents: tuple[Intent, ...] = ()
    capture: CaptureSpec | None = None
    """Read the caller's next answer (speech or keys) into a variable; intents are tried when it
    cannot be read."""
    tool: ToolStep | None = None
    next: str | None = None
    """Where a capture or a tool goes when it succeeds (required with either)."""
    failure: str | None = None
    """Where it goes when the capture failed `retries` more times, or the tool failed (None: `next`)."""
    retries: int = DEFAULT_RETRIES
    retry: str | None = None
    """Said when an answer cannot be captured (None: the fallback, then `say` again)."""

    @property
    def step(self) -> bool:
        """A capture or tool state (it has `next`)."""
        return self.capture is not None or self.tool is not None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"say": self.say, "reprompt": self.reprompt, "fallback": self.fallback,
                               "intents": [intent.to_json() for intent in self.intents]}
        if self.capture is not None:
            out["capture"] = self.capture.to_json()
        if self.tool is not None:
            out["tool"] = self.tool.to_json()
        if self.step:
            out |= {"next": self.next, "failure": self.failure, "retries": self.retries, "retry": self.retry}
        return out


@dataclass(frozen=True)
class ScriptSection:
    start: str
    states: tuple[State, ...]
    fallback: str | None = DEFAULT_FALLBACK
    repeat_phrases: tuple[str, ...] = DEFAULT_REPEAT_PHRASES

    def state(self, name: str) -> State | None:
        return next((state for state in self.states if state.name == name), None)

    def to_json(self) -> dict[str, Any]:
        return {"start": self.start, "states": {state.name: state.to_json() for state in self.states},
                "fallback": self.fallback, "repeat_phrases": list(self.repeat_phrases)}


@dataclass(frozen=True)
class LlmSection:
    model: str
    instructions: str | None = DEFAULT_INSTRUCTIONS
    base_url: str | None = DEFAULT_LLM_URL
    api_key: str | None = field(default="", repr=False)
    temperature: float | None = None
    max_tokens: int | None = 300
    timeout_s: float | None = 10
    allowed_extensions: tuple[str, ...] = ()
    """Where `transfer_call` may go (empty: any extension)."""
    reprompt: str | None = DEFAULT_LLM_REPROMPT
    apology: str | None = DEFAULT_APOLOGY

    def to_json(self) -> dict[str, Any]:
        return {"instructions": self.instructions, "base_url": self.base_url, "model": self.model,
                "api_key": self.api_key, "temperature": self.temperature, "max_tokens": self.max_tokens,
                "timeout_s": self.timeout_s, "allowed_extensions": list(self.allowed_extensions),
                "reprompt": self.reprompt, "apology": self.apology}


@dataclass(frozen=True)
class SttEndpoint:
    """Speech-to-text: the embedded model, or an OpenAI-compatible endpoint (`provider` "openai")."""
    provider: SttProvider = "embedded"
    base_url: str | None = None
    model: str | None = "whisper-1"
    api_key: str | None = field(default="", repr=False)

    def to_json(self) -> dict[str, Any]:
        return {"provider": self.provider, "base_url": self.base_url, "model": self.model, "api_key": self.api_key}


@dataclass(frozen=True)
class TtsEndpoint:
    """Text-to-speech: the embedded voice, Piper, or an OpenAI-compatible endpoint."""
    provider: TtsProvider = "embedded"
    base_url: str | None = None
    model: str | None = "tts-1"
    voice: str | None = None
    api_key: str | None = field(default="", repr=False)

    def to_json(self) -> dict[str, Any]:
        return {"provider": self.provider, "base_url": self.base_url, "model": self.model, "voice": self.voice,
                "api_key": self.api_key}


@dataclass(frozen=True)
class TransferPolicy:
    """Blind hands the caller to the dialplan; attended rings first and keeps the caller when
    nobody answers within `timeout_s`."""
    mode: TransferMode = "blind"
    timeout_s: int | None = DEFAULT_TRANSFER_TIMEOUT_S

    @property
    def attended(self) -> bool:
        return self.mode == "attended"

    def to_json(self) -> dict[str, Any]:
        return {"mode": self.mode, "timeout_s": self.timeout_s}


@dataclass(frozen=True)
class WorkflowDefinition:
    version: int = SCHEMA_VERSION
    engine: Engine = "script"
    greeting: str = ""
    language: str = "en"
    voice: str = "default"
    barge_in: bool = True
    end_of_speech_ms: int = 600
    no_input_reprompt_s: int = 8
    no_input_hangup_s: int = 20
    max_duration_s: int = 900
    recording: bool = False
    farewell: str = "Goodbye."
    script: ScriptSection | None = None
    """None: a single state with no intents (greeting, fallback, no-input handling)."""
    llm: LlmSection | None = None
    """Always set when `engine` is "llm"."""
    stt: SttEndpoint | None = None
    tts: TtsEndpoint | None = None
    transfer: TransferPolicy | None = None
    """None: blind."""
    tools: tuple[ToolDefinition, ...] = ()
    pre_call: PreCallLookup | None = None
    webhooks: tuple[WebhookTarget, ...] = ()

    def tool(self, name: str) -> ToolDefinition | None:
        return next((tool for tool in self.tools if tool.name == name), None)

    def to_json(self) -> dict[str, Any]:
        """The stored form: every common field, and the sections that are set."""
        out: dict[str, Any] = {name: getattr(self, name) for name in _COMMON}
        sections = {"script": self.script, "llm": self.llm, "stt": self.stt, "tts": self.tts,
                    "transfer": self.transfer, "pre_call": self.pre_call}
        out.update({name: section.to_json() for name, section in sections.items() if section is not None})
        if self.tools:
            out["tools"] = [tool.to_json() for tool in self.tools]
        if self.webhooks:
            out["webhooks"] = [target.to_json() for target in self.webhooks]
        return out


_COMMON = ("version", "engine", "greeting", "language", "voice", "barge_in", "end_of_speech_ms",
           "no_input_reprompt_s", "no_input_hangup_s", "max_duration_s", "recording", "farewell")
