"""Workflow definitions: a versioned JSON document, validated here before it is stored.

Version 1 knows the common fields below; the dialog engines add their own sections:

- `script` (engine "script"): states, each with what to say and intents matched on the caller's
  normalised words (keywords, regex) or DTMF keys, leading to another state or an action
  (`transfer` to an extension, `hang_up`, `say` and continue). A missing section means a single
  state with no intents (greeting, fallback, no-input handling).
- `llm` (engine "llm"): instructions, an OpenAI-compatible chat-completions endpoint (`base_url`,
  `model`, `api_key`), timeouts, the extensions `transfer_call` may reach.
- `stt` / `tts` (optional): use an OpenAI-compatible HTTP endpoint instead of the embedded models.
- `transfer` (optional): how both engines transfer, `{"mode": "blind"|"attended", "timeout_s": 20}`.
  Blind (the default) hands the caller to the dialplan; attended rings the extension, bridges it
  with the caller on answer and drops the agent, and if it does not answer within `timeout_s`
  the agent says so and stays on the call.

Unknown keys are refused everywhere so a typo does not silently do nothing. Errors are keyed
`definition.<path>` (list items by index: `definition.script.states.menu.intents.0.dtmf`).

Secrets (`SECRET_PATHS`: API keys) must be stored encrypted: the web layer applies
`map_secrets(definition, box.encrypt)` before saving, `map_secrets(definition, box.decrypt)`
before handing a definition to the runtime, and shows `redact_secrets(definition)`;
`restore_secrets(submitted, stored)` keeps a stored secret when the form sends back the mask.
"""
from __future__ import annotations

import copy
import re
from collections.abc import Callable
from typing import Any

SCHEMA_VERSION = 1
ENGINES = ("script", "llm")

# field -> (type, default)
_FIELDS: dict[str, tuple[type | tuple[type, ...], Any]] = {
    "version": (int, SCHEMA_VERSION),
    "engine": (str, "script"),
    "greeting": (str, ""),
    "language": (str, "en"),
    "voice": (str, "default"),
    "barge_in": (bool, True),
    "end_of_speech_ms": (int, 600),
    "no_input_reprompt_s": (int, 8),
    "no_input_hangup_s": (int, 20),
    "max_duration_s": (int, 900),
    "recording": (bool, False),
    "farewell": (str, "Goodbye."),
    "script": (dict, None),
    "llm": (dict, None),
    "stt": (dict, None),
    "tts": (dict, None),
    "transfer": (dict, None),
}
_SECTIONS = ("script", "llm", "stt", "tts", "transfer")

_RANGES = {
    "end_of_speech_ms": (100, 5000),
    "no_input_reprompt_s": (1, 300),
    "no_input_hangup_s": (1, 600),
    "max_duration_s": (10, 86400),
}

SECRET_PATHS: tuple[str, ...] = ("llm.api_key", "stt.api_key", "tts.api_key")
"""Dotted paths of definition values that are secrets (encrypt at rest, never show)."""
SECRET_MASK = "********"

ACTIONS = ("goto", "transfer", "hang_up", "say")
EMBEDDED_VOICES = ("default", "heart")
DEFAULT_REPEAT_PHRASES = ["sorry", "repeat", "say that again", "pardon", "come again", "what was that"]
DEFAULT_FALLBACK = "Sorry, I didn't catch that."
DEFAULT_LLM_URL = "http://127.0.0.1:11434/v1"  # Ollama's OpenAI-compatible API on this host
DEFAULT_INSTRUCTIONS = "You are a friendly, concise assistant answering the phone."
DEFAULT_APOLOGY = "Sorry, I'm having trouble answering right now. Please call again later. Goodbye."

_NAME = re.compile(r"^[A-Za-z0-9_-]{1,40}$")
_EXTENSION = re.compile(r"^[A-Za-z0-9*#+_.-]{1,40}$")
_DTMF = re.compile(r"^[0-9*#]$")
# a group holding + * or {n,} that is itself followed by + * or {n,}: catastrophic backtracking
_NESTED_REPEAT = re.compile(r"\((?:[^()\\]|\\.)*(?:[+*]|\{\d*,\d*\})(?:[^()\\]|\\.)*\)(?:[+*]|\{\d*,)")
_URL = re.compile(r"^https?://[^\s/?#]+(/[^\s]*)?$")
_MAX_TEXT = 2000


def default_definition(greeting: str = "") -> dict[str, Any]:
    return {k: v for k, (_, v) in _FIELDS.items() if v is not None} | {"greeting": greeting}


def validate_definition(raw: Any) -> tuple[dict[str, Any] | None, dict[str, str]]:
    """(definition with defaults filled in, {}) or (None, {"definition.<path>": message})."""
    if not isinstance(raw, dict):
        return None, {"definition": "the definition must be a JSON object"}
    errors: dict[str, str] = {}
    clean = default_definition()
    for key, value in raw.items():
        if key not in _FIELDS:
            errors[f"definition.{key}"] = f"unknown field {key!r}"
            continue
        kind, _ = _FIELDS[key]
        if isinstance(value, bool) and kind is not bool:
            errors[f"definition.{key}"] = f"must be {_type_name(kind)}"
            continue
        if value is None and key in _SECTIONS:
            continue
        if not isinstance(value, kind):
            errors[f"definition.{key}"] = f"must be {_type_name(kind)}"
            continue
        clean[key] = value
    if clean["version"] != SCHEMA_VERSION:
        errors["definition.version"] = f"this server understands version {SCHEMA_VERSION}"
    if clean["engine"] not in ENGINES:
        errors["definition.engine"] = "engine must be 'script' or 'llm'"
    for key, (low, high) in _RANGES.items():
        value = clean[key]
        if isinstance(value, int) and not low <= value <= high:
            errors[f"definition.{key}"] = f"must be between {low} and {high}"
    for key in ("greeting", "farewell"):
        if isinstance(clean[key], str) and len(clean[key]) > _MAX_TEXT:
            errors[f"definition.{key}"] = f"at most {_MAX_TEXT} characters"
    checks: dict[str, Callable[[_Check, dict[str, Any]], dict[str, Any]]] = {
        "script": _script, "llm": _llm, "stt": _stt, "tts": _tts, "transfer": _transfer,
    }
    for key, check in checks.items():
        if isinstance(clean.get(key), dict):
            clean[key] = check(_Check(f"definition.{key}", errors), clean[key])
    if clean["engine"] == "llm" and not isinstance(clean.get("llm"), dict) \
            and "definition.engine" not in errors:
        errors["definition.llm"] = "the llm engine needs an llm section with at least a model"
    tts_provider = clean["tts"]["provider"] if isinstance(clean.get("tts"), dict) else "embedded"
    if tts_provider == "embedded" and isinstance(clean["voice"], str) \
            and clean["voice"] not in EMBEDDED_VOICES:
        errors["definition.voice"] = "the embedded voice is 'default' (also called 'heart')"
    return (None, errors) if errors else (clean, {})


# --- sections ------------------------------------------------------------------------------------

class _Check:
    """Collects errors under a path prefix while reading one object."""

    def __init__(self, path: str, errors: dict[str, str]) -> None:
        self.path, self.errors = path, errors

    def at(self, key: str | int) -> _Check:
        return _Check(f"{self.path}.{key}", self.errors)

    def fail(self, message: str) -> None:
        self.errors.setdefault(self.path, message)

    def only(self, raw: dict[str, Any], allowed: set[str]) -> None:
        for key in raw:
            if key not in allowed:
                self.at(key).fail(f"unknown field {key!r}")

    def text(self, raw: dict[str, Any], key: str, default: str | None = "", *, limit: int = _MAX_TEXT,
             required: bool = False) -> str | None:
        value = raw.get(key, default)
        if value is None and not required:
            return None
        if not isinstance(value, str):
            self.at(key).fail("must be text")
            return default
        if required and not value.strip():
            self.at(key).fail("required")
        if len(value) > limit:
            self.at(key).fail(f"at most {limit} characters")
        return value

    def number(self, raw: dict[str, Any], key: str, default: float | None, low: float, high: float,
               *, whole: bool = False) -> float | None:
        value = raw.get(key, default)
        if value is None:
            return None
        kinds = (int,) if whole else (int, float)
        if isinstance(value, bool) or not isinstance(value, kinds):
            self.at(key).fail("must be a whole number" if whole else "must be a number")
            return default
        if not low <= value <= high:
            self.at(key).fail(f"must be between {low:g} and {high:g}")
        return value

    def text_list(self, raw: dict[str, Any], key: str, *, limit: int = 50) -> list[str]:
        value = raw.get(key, [])
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.at(key).fail("must be a list of text")
            return []
        if len(value) > limit:
            self.at(key).fail(f"at most {limit} entries")
        return list(value)

    def url(self, raw: dict[str, Any], key: str, default: str | None) -> str | None:
        value = self.text(raw, key, default, limit=500)
        if value and not _URL.match(value):
            self.at(key).fail("must be an http:// or https:// URL")
        return value.rstrip("/") if value else value


def _script(check: _Check, raw: dict[str, Any]) -> dict[str, Any]:
    check.only(raw, {"start", "states", "fallback", "repeat_phrases"})
    states_raw = raw.get("states")
    states: dict[str, Any] = {}
    if not isinstance(states_raw, dict) or not states_raw:
        check.at("states").fail("needs at least one state, e.g. {\"menu\": {\"intents\": []}}")
        states_raw = {}
    if len(states_raw) > 100:
        check.at("states").fail("at most 100 states")
    names = set(states_raw)
    for name, state in states_raw.items():
        state_check = check.at("states").at(name)
        if not _NAME.match(name):
            state_check.fail("a state name has 1-40 letters, digits, '-' or '_'")
        if not isinstance(state, dict):
            state_check.fail("must be an object")
            continue
        states[name] = _state(state_check, state, names)
    start = raw.get("start", next(iter(states_raw), ""))
    if not isinstance(start, str) or (states_raw and start not in states_raw):
        check.at("start").fail("must name one of the states")
    phrases = check.text_list(raw, "repeat_phrases") if "repeat_phrases" in raw else list(DEFAULT_REPEAT_PHRASES)
    return {"start": start, "states": states, "fallback": check.text(raw, "fallback", DEFAULT_FALLBACK),
            "repeat_phrases": phrases}


def _state(check: _Check, raw: dict[str, Any], names: set[str]) -> dict[str, Any]:
    check.only(raw, {"say", "reprompt", "fallback", "intents"})
    intents_raw = raw.get("intents", [])
    intents: list[dict[str, Any]] = []
    if not isinstance(intents_raw, list):
        check.at("intents").fail("must be a list")
        intents_raw = []
    if len(intents_raw) > 50:
        check.at("intents").fail("at most 50 intents")
    for i, intent in enumerate(intents_raw):
        if not isinstance(intent, dict):
            check.at("intents").at(i).fail("must be an object")
            continue
        intents.append(_intent(check.at("intents").at(i), intent, names))
    return {"say": check.text(raw, "say"), "reprompt": check.text(raw, "reprompt", None),
            "fallback": check.text(raw, "fallback", None), "intents": intents}


def _intent(check: _Check, raw: dict[str, Any], names: set[str]) -> dict[str, Any]:
    check.only(raw, {"name", "keywords", "regex", "dtmf", "say", "action", "goto", "extension"})
    name = check.text(raw, "name", "", limit=40, required=True)
    keywords = [k.strip() for k in check.text_list(raw, "keywords")]
    for j, keyword in enumerate(keywords):
        if not keyword or len(keyword) > 100:
            check.at("keywords").at(j).fail("a keyword has 1-100 characters")
    regex = check.text(raw, "regex", None, limit=500)
    if regex:
        try:
            re.compile(regex)
        except (re.error, OverflowError, RecursionError) as exc:  # a{4294967296}: OverflowError
            check.at("regex").fail(f"not a valid regular expression: {exc}")
        else:
            if _NESTED_REPEAT.search(regex):
                check.at("regex").fail("a repeated group that itself repeats, like (a+)+, can take exponential "
                                       "time; rewrite it without nesting")
    dtmf = check.text_list(raw, "dtmf", limit=12)
    for j, key in enumerate(dtmf):
        if not _DTMF.match(key):
            check.at("dtmf").at(j).fail("one key: 0-9, * or #")
    if not (keywords or regex or dtmf):
        check.fail("an intent needs keywords, a regex or dtmf keys to match")
    goto = check.text(raw, "goto", None, limit=40)
    action = raw.get("action", "goto" if goto else None)
    say = check.text(raw, "say")
    extension = check.text(raw, "extension", None, limit=40)
    if action not in ACTIONS:
        check.at("action").fail("must be one of goto, transfer, hang_up, say (or give goto)")
    elif action == "goto" and (not goto or goto not in names):
        check.at("goto").fail("must name one of the states")
    elif action == "transfer" and (not extension or not _EXTENSION.match(extension)):
        check.at("extension").fail("a transfer needs an extension (digits, letters, * # + _ . -)")
    elif action == "say" and not (say or "").strip():
        check.at("say").fail("say-and-continue needs something to say")
    return {"name": name, "keywords": keywords, "regex": regex, "dtmf": dtmf, "say": say,
            "action": action, "goto": goto, "extension": extension}


def _llm(check: _Check, raw: dict[str, Any]) -> dict[str, Any]:
    check.only(raw, {"instructions", "base_url", "model", "api_key", "temperature", "max_tokens",
                     "timeout_s", "allowed_extensions", "reprompt", "apology"})
    extensions = check.text_list(raw, "allowed_extensions", limit=100)
    for j, extension in enumerate(extensions):
        if not _EXTENSION.match(extension):
            check.at("allowed_extensions").at(j).fail("not a valid extension")
    return {
        "instructions": check.text(raw, "instructions", DEFAULT_INSTRUCTIONS, limit=20000),
        "base_url": check.url(raw, "base_url", DEFAULT_LLM_URL),
        "model": check.text(raw, "model", "", limit=200, required=True),
        "api_key": check.text(raw, "api_key", "", limit=1000),
        "temperature": check.number(raw, "temperature", None, 0, 2),
        "max_tokens": check.number(raw, "max_tokens", 300, 1, 8192, whole=True),
        "timeout_s": check.number(raw, "timeout_s", 10, 0.1, 120),
        "allowed_extensions": extensions,
        "reprompt": check.text(raw, "reprompt", "Are you still there?"),
        "apology": check.text(raw, "apology", DEFAULT_APOLOGY),
    }


def _stt(check: _Check, raw: dict[str, Any]) -> dict[str, Any]:
    check.only(raw, {"provider", "base_url", "model", "api_key"})
    provider = raw.get("provider", "embedded")
    if provider not in ("embedded", "openai"):
        check.at("provider").fail("must be 'embedded' or 'openai' (any OpenAI-compatible endpoint)")
    base_url = check.url(raw, "base_url", None)
    if provider == "openai" and not base_url:
        check.at("base_url").fail("required for an OpenAI-compatible endpoint")
    return {"provider": provider, "base_url": base_url, "model": check.text(raw, "model", "whisper-1"),
            "api_key": check.text(raw, "api_key", "", limit=1000)}


def _tts(check: _Check, raw: dict[str, Any]) -> dict[str, Any]:
    check.only(raw, {"provider", "base_url", "model", "voice", "api_key"})
    provider = raw.get("provider", "embedded")
    if provider not in ("embedded", "openai", "piper"):
        check.at("provider").fail("must be 'embedded', 'piper' or 'openai' (any OpenAI-compatible endpoint)")
    base_url = check.url(raw, "base_url", None)
    if provider == "openai" and not base_url:
        check.at("base_url").fail("required for an OpenAI-compatible endpoint")
    return {"provider": provider, "base_url": base_url, "model": check.text(raw, "model", "tts-1"),
            "voice": check.text(raw, "voice", None, limit=100), "api_key": check.text(raw, "api_key", "", limit=1000)}


TRANSFER_MODES = ("blind", "attended")
DEFAULT_TRANSFER_TIMEOUT_S = 20


def _transfer(check: _Check, raw: dict[str, Any]) -> dict[str, Any]:
    check.only(raw, {"mode", "timeout_s"})
    mode = raw.get("mode", "blind")
    if mode not in TRANSFER_MODES:
        check.at("mode").fail("must be 'blind' (hand the caller to the dialplan) or 'attended' (ring, then bridge)")
    timeout = check.number(raw, "timeout_s", DEFAULT_TRANSFER_TIMEOUT_S, 1, 120, whole=True)
    return {"mode": mode, "timeout_s": timeout}


def _type_name(kind: type | tuple[type, ...]) -> str:
    names = {int: "a whole number", str: "text", bool: "true or false", dict: "an object"}
    if isinstance(kind, tuple):
        return " or ".join(names.get(k, k.__name__) for k in kind)
    return names.get(kind, kind.__name__)


# --- secrets -------------------------------------------------------------------------------------

def map_secrets(definition: dict[str, Any], transform: Callable[[str], str]) -> dict[str, Any]:
    """A copy with `transform` (encrypt or decrypt) applied to every non-empty secret value."""
    out = copy.deepcopy(definition)
    for path in SECRET_PATHS:
        section, key = path.split(".")
        holder = out.get(section)
        if isinstance(holder, dict) and isinstance(holder.get(key), str) and holder[key]:
            holder[key] = transform(holder[key])
    return out


def redact_secrets(definition: dict[str, Any]) -> dict[str, Any]:
    """A copy safe to show or export: each set secret becomes `SECRET_MASK`."""
    return map_secrets(definition, lambda _: SECRET_MASK)


def restore_secrets(submitted: dict[str, Any], stored: dict[str, Any] | None) -> dict[str, Any]:
    """`submitted` with every secret still equal to `SECRET_MASK` replaced by the stored value."""
    out = copy.deepcopy(submitted)
    for path in SECRET_PATHS:
        section, key = path.split(".")
        holder = out.get(section)
        if isinstance(holder, dict) and holder.get(key) == SECRET_MASK:
            old = (stored or {}).get(section)
            holder[key] = old.get(key, "") if isinstance(old, dict) else ""
    return out
