"""Dial strings for outbound calls: pure, checked before anything is sent to Asterisk.

    plan_dial("PJSIP/{number}@trunk", "6001", ("PJSIP/6001",), None)
        → DialPlan(endpoint="PJSIP/6001@trunk", caller_id="6001", from_extension="PJSIP/6001")

- A destination that already names a technology (`PJSIP/6001`, `SIP/…`, `IAX2/…`,
  `Local/6001@from-internal`, `DAHDI/g1/…`) is used verbatim; the template is not applied.
- A plain number or extension (`[+]?[0-9A-Za-z*#]+`) goes into the configuration's template in
  place of `{number}`, exactly as typed: `6001` stays `6001`, never `+6001` (Dograh dialled plain
  extensions as `PJSIP/+E164` and FreePBX answered "Allocation failed").
- Nothing that could end or extend the endpoint is accepted (`,` `&` `;` `(` `)` `|` `{` `}` `$`
  quotes, spaces, newlines, control characters): the endpoint goes into an ARI query parameter
  and from there into Asterisk's channel drivers and dialplan.
- The caller id is the number part of the chosen (or first) From Extension: `PJSIP/6001` → `6001`.

Errors are `DialError(field, message)`; `field` is the request field to blame (`to`, `from`,
`dial_template`) and `error_id` says which rule failed.
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

TECH = r"[A-Za-z][A-Za-z0-9_]{0,15}"
RESOURCE_CHARS = r"[A-Za-z0-9_+*#.@/:\-]"
PLAIN_NUMBER_RE = re.compile(r"\+?[0-9A-Za-z*#]{1,64}")
TECH_DESTINATION_RE = re.compile(rf"({TECH})/({RESOURCE_CHARS}{{1,200}})")
TEMPLATE_RE = re.compile(rf"({TECH})/({RESOURCE_CHARS}|\{{number\}}){{1,200}}")
FROM_EXTENSION_RE = re.compile(rf"(?:{TECH}/)?([A-Za-z0-9_+*#.\-]{{1,64}})(?:@[A-Za-z0-9_.\-]{{1,64}})?")
DEFAULT_TEMPLATE = "PJSIP/{number}"


class DialError(ValueError):
    def __init__(self, error_id: str, field: str, message: str) -> None:
        super().__init__(message)
        self.error_id = error_id
        self.field = field
        self.message = message


@dataclass(frozen=True)
class DialPlan:
    endpoint: str
    caller_id: str | None
    from_extension: str | None


def _resource_ok(resource: str) -> bool:
    return not resource.startswith("/") and not resource.endswith("/") and "//" not in resource


def check_template(template: str) -> str:
    """The template itself, or DialError: `TECH/…{number}…` with `{number}` exactly once."""
    if template.count("{number}") != 1:
        raise DialError("invalid-dial-template", "dial_template",
                        f"the dial template {template!r} must contain {{number}} exactly once, e.g. PJSIP/{{number}}")
    match = TEMPLATE_RE.fullmatch(template)
    if match is None or not _resource_ok(template.partition("/")[2]):
        raise DialError("invalid-dial-template", "dial_template",
                        f"the dial template {template!r} must look like TECH/resource with {{number}}, e.g. "
                        "PJSIP/{number}, PJSIP/{number}@trunk or Local/{number}@from-internal")
    return template


def names_technology(destination: str) -> bool:
    """True when the destination starts with `TECH/`, such as `PJSIP/6001`."""
    tech, slash, _ = destination.partition("/")
    return bool(slash) and re.fullmatch(TECH, tech) is not None


def endpoint_for(template: str, destination: str) -> str:
    """The ARI `endpoint` for a destination: verbatim when it names a technology, else the template."""
    if not destination:
        raise DialError("invalid-destination", "to", "enter the number or extension to call, e.g. 6001")
    if names_technology(destination):
        match = TECH_DESTINATION_RE.fullmatch(destination)
        if match is None or not _resource_ok(match.group(2)):
            raise DialError("invalid-destination", "to",
                            f"{_shown(destination)} is not a dial string Switchboard accepts: use TECH/resource "
                            "with letters, digits and + * # . @ / : - _ only, e.g. PJSIP/6001 or "
                            "Local/6001@from-internal")
        return destination
    if PLAIN_NUMBER_RE.fullmatch(destination) is None:
        raise DialError("invalid-destination", "to",
                        f"{_shown(destination)} is not a number or extension: use digits, letters, * and # "
                        "(optionally a leading +), without spaces or punctuation, e.g. 6001 or +15551234567")
    return check_template(template).replace("{number}", destination)


def caller_id_param(number: str) -> str:
    """The ARI `callerId` value: the bare number, or `<name>` when Asterisk would not read it as one."""
    return number if re.fullmatch(r"\+?[0-9*#]+", number) else f"<{number}>"


def caller_id_of(extension: str) -> str:
    """`PJSIP/6001` → `6001`; `6001` → `6001`; `PJSIP/6001@trunk` → `6001`."""
    match = FROM_EXTENSION_RE.fullmatch(extension)
    if match is None:
        raise DialError("invalid-from", "from", f"{_shown(extension)} is not a From Extension such as PJSIP/6001")
    return match.group(1)


def choose_from(from_extensions: Sequence[str], chosen: str | None) -> str | None:
    """The From Extension to use: the chosen one (by full name or by its number) or the first."""
    if not chosen:
        return from_extensions[0] if from_extensions else None
    for extension in from_extensions:
        if chosen == extension:
            return extension
    for extension in from_extensions:
        if FROM_EXTENSION_RE.fullmatch(extension) and chosen == caller_id_of(extension):
            return extension
    allowed = ", ".join(from_extensions) or "none"
    raise DialError("from-not-allowed", "from",
                    f"{_shown(chosen)} is not one of this configuration's From Extensions ({allowed})")


def plan_dial(template: str, destination: str, from_extensions: Sequence[str], chosen_from: str | None,
              *, require_from: bool = True) -> DialPlan:
    """Everything the originate needs, or DialError for the first thing that is wrong."""
    endpoint = endpoint_for(template, destination)
    if require_from and not from_extensions:
        raise DialError("no-from-extension", "from",
                        "this configuration has no From Extension to use as the caller id: add one (e.g. "
                        "PJSIP/6001) to the configuration")
    extension = choose_from(from_extensions, chosen_from)
    return DialPlan(endpoint, caller_id_of(extension) if extension else None, extension)


def _shown(value: str) -> str:
    """A value quoted for an error message, control characters made visible."""
    return repr(value[:80])
