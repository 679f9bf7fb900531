"""Turning workflow form fields, API JSON or an imported file into a validated (name,
`WorkflowDefinition`), and the one rule for secrets at rest.

The form edits the common fields one by one (`FORM_FIELDS`, `LLM_FIELDS`), the tools, the
pre-call lookup and the webhooks as rows of fields (`web.workflow_sections`), and the rest of the
definition as raw JSON (`definition`); a key given both ways is refused rather than silently
dropped. Errors are keyed like the API's (`definition.<path>`); `form_errors` moves those of a
field that is on the form to that field's name, so they show inline beside it.

Secrets (`SECRET_PATHS`, secret tool and lookup headers, webhook signing secrets): the stored
definition (its JSON, `to_json()`) always holds ciphertext.
Whatever is submitted (form, API, import) is validated in plain text, then `seal_secrets` gives
the JSON to store: new values encrypted, the stored ciphertext put back where the submission sent
`SECRET_MASK` ("keep"). Pages, API
responses and exports show `redact_secrets(definition)`; the call path and the test chat use
`map_secrets(definition, box.decrypt)`.
"""
from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any

from agent.definition import SECRET_MASK, WorkflowDefinition, map_secrets, read_definition, restore_secrets
from agent.webhooks import new_secret
from web.forms import CONTROL_CHARS
from web.requests import parse_json
from web.workflow_sections import MARKER, SECTION_KEYS, place_errors, section_values, sections_from_form

Errors = dict[str, str]
Clean = tuple[str, WorkflowDefinition]
"""A validated workflow: its name and definition."""

TEXT_FIELDS = ("greeting", "farewell", "language", "voice")
NUMBER_FIELDS = ("end_of_speech_ms", "no_input_reprompt_s", "no_input_hangup_s", "max_duration_s")
FLAG_FIELDS = ("barge_in", "recording")
FORM_FIELDS = ("engine", *TEXT_FIELDS, *NUMBER_FIELDS, *FLAG_FIELDS)
"""Top-level definition keys with a field of their own on the form (same name)."""
LLM_FIELDS = {"llm_instructions": "instructions", "llm_base_url": "base_url", "llm_model": "model",
              "llm_api_key": "api_key"}
"""Form field -> key of the `llm` section."""
CLEAR_KEY = "llm_api_key_clear"
_WHOLE = re.compile(r"^-?\d{1,9}\Z")
_ON = ("on", "true", "1", "yes")
_OFF = ("", "off", "false", "0", "no")


def validate_name(raw: Any) -> tuple[str | None, Errors]:
    name = raw.strip() if isinstance(raw, str) else ""
    if not name or len(name) > 100 or CONTROL_CHARS.search(name):
        return None, {"name": "enter a name of at most 100 characters"}
    return name, {}


def from_api(data: Mapping[str, Any], current: dict[str, Any] | None = None) -> tuple[Clean | None, Errors]:
    """`current` (a redacted stored definition) is used when `data` has no definition (PATCH)."""
    name, errors = validate_name(data.get("name"))
    raw = data.get("definition", current if current is not None else {})
    if not isinstance(raw, dict):
        return None, {**errors, "definition": "the definition must be a JSON object"}
    if "greeting" in data:
        raw = {**raw, "greeting": data["greeting"]}
    definition, def_errors = read_definition(raw)
    errors.update(def_errors)
    if errors or name is None or definition is None:
        return None, errors
    return (name, definition), {}


def from_import(data: Any, name: str | None = None) -> tuple[Clean | None, Errors]:
    """An exported file (`export_document`) or any {"name", "definition"} object. Redacted secrets
    arrive as the mask; with nothing stored to restore they become empty."""
    if not isinstance(data, dict):
        return None, {"file": "the file must hold a JSON object with a name and a definition"}
    if not isinstance(data.get("definition"), dict):
        return None, {"definition": "the file has no definition object (is it a Switchboard workflow export?)"}
    return from_api({"name": name if name else data.get("name"), "definition": data["definition"]})


def export_document(name: str, definition: dict[str, Any]) -> dict[str, Any]:
    """What an export file holds; the caller passes a redacted definition."""
    return {"switchboard": "workflow", "format": 1, "name": name, "definition": definition}


def seal_secrets(definition: WorkflowDefinition, stored: dict[str, Any] | None,
                 encrypt: Callable[[str], str]) -> tuple[dict[str, Any], dict[str, str]]:
    """The JSON to store: new secret values encrypted; a submitted mask takes the stored
    ciphertext back (or empty when nothing is stored). Never encrypts a value twice. A webhook
    left without a secret gets a new one: the second element maps its URL to the secret in clear,
    to be shown once."""
    fresh = map_secrets(definition.to_json(), lambda value: value if value == SECRET_MASK else encrypt(value))
    sealed = restore_secrets(fresh, stored)
    generated: dict[str, str] = {}
    for target in sealed.get("webhooks") or []:
        if not target.get("secret"):
            generated[target["url"]] = secret = new_secret()
            target["secret"] = encrypt(secret)
    return sealed, generated


# --- the HTML form ----------------------------------------------------------------------------

def from_form(values: Mapping[str, str]) -> tuple[Clean | None, Errors]:
    """The form: a name, the common fields, and the raw JSON of the rest of the definition.
    A field missing from the submission leaves that key to the JSON (or its default)."""
    _, name_errors = validate_name(values.get("name"))
    try:
        raw = parse_json(values.get("definition", "").strip() or "{}")
    except ValueError as exc:
        return None, {**name_errors, "definition": f"not valid JSON: {exc}"}
    if not isinstance(raw, dict):
        return None, {**name_errors, "definition": "the definition must be a JSON object"}
    merged, errors = _merge_fields(raw, values)
    places: dict[str, str] = {}
    if MARKER in values:
        form = sections_from_form(values)
        both = [key for key in SECTION_KEYS if key in raw]
        if both:
            errors.setdefault("definition", f"{', '.join(both)}: set {'these' if len(both) > 1 else 'this'} with "
                                            "the fields above and remove it from the JSON")
        merged |= {key: value for key, value in form.sections.items() if value}
        errors |= form.errors
        places = form.places
    if errors:
        return None, {**name_errors, **errors}
    clean, errors = from_api({"name": values.get("name"), "definition": merged})
    return (clean, {}) if clean is not None else (None, form_errors(place_errors(errors, places), values))


def _merge_fields(raw: dict[str, Any], values: Mapping[str, str]) -> tuple[dict[str, Any], Errors]:
    merged = dict(raw)
    errors: Errors = {}
    twice = [key for key in FORM_FIELDS if key in values and key in raw]
    for key in FORM_FIELDS:
        if key not in values:
            continue
        value = values[key].strip()
        if key in NUMBER_FIELDS:
            if _WHOLE.match(value):
                merged[key] = int(value)
            else:
                errors[key] = "enter a whole number"
        elif key in FLAG_FIELDS:
            merged[key] = value.lower() in _ON if value.lower() in _ON + _OFF else value
        else:
            merged[key] = value
    if "llm_model" in values:
        section = raw.get("llm")
        if section is None or isinstance(section, dict):
            section = dict(section or {})
            twice += [f"llm.{key}" for key in LLM_FIELDS.values() if key in section]
            llm = _llm_fields(section, values, engine=str(merged.get("engine", "")))
            if llm is not None:
                merged["llm"] = llm
    if twice:
        errors["definition"] = (f"{', '.join(twice)}: set {'these' if len(twice) > 1 else 'this'} with the "
                                "fields above and remove it from the JSON")
    return merged, errors


def _llm_fields(section: dict[str, Any], values: Mapping[str, str], *, engine: str) -> dict[str, Any] | None:
    """The llm section with the form's fields in; None when nothing asks for one."""
    fields = {key: values.get(name, "").strip() for name, key in LLM_FIELDS.items()}
    new_key = values.get("llm_api_key", "")
    if engine != "llm" and not section and not any(fields.values()):
        return None
    for key in ("instructions", "base_url"):
        if fields[key]:
            section[key] = fields[key]
    section["model"] = fields["model"]
    if values.get(CLEAR_KEY, "").lower() in _ON:
        section["api_key"] = ""
    else:
        section["api_key"] = new_key.strip() if new_key.strip() else SECRET_MASK  # blank: keep the stored key
    return section


def form_errors(errors: Errors, values: Mapping[str, str]) -> Errors:
    """API-style keys moved to the form field that shows them, when that field was submitted."""
    paths = {f"definition.{key}": key for key in FORM_FIELDS} | {
        f"definition.llm.{key}": name for name, key in LLM_FIELDS.items()}
    out: Errors = {}
    for key, message in errors.items():
        field = paths.get(key)
        out[field if field is not None and field in values else key] = message
    return out


def form_fields(definition: Mapping[str, Any], name: str = "") -> dict[str, Any]:
    """The form's values for a (redacted) definition: the common fields, and the JSON of the rest."""
    values: dict[str, Any] = {"name": name}
    values.update({key: definition.get(key) for key in FORM_FIELDS})
    section = definition.get("llm")
    llm: Mapping[str, Any] = section if isinstance(section, dict) else {}
    values.update({field: llm.get(key) or "" for field, key in LLM_FIELDS.items() if key != "api_key"})
    values["llm_api_key_set"] = bool(llm.get("api_key"))
    values["definition"] = definition_json(definition)
    return values | section_values(definition)


def definition_json(definition: Mapping[str, Any]) -> str:
    """The definition without the keys the form edits in their own fields (the tools, lookup and
    webhooks included), pretty-printed."""
    rest = {k: v for k, v in definition.items() if k not in FORM_FIELDS and k not in SECTION_KEYS}
    if isinstance(rest.get("llm"), dict):
        rest["llm"] = {k: v for k, v in rest["llm"].items() if k not in LLM_FIELDS.values()}
    return json.dumps(rest, indent=2, ensure_ascii=False)
