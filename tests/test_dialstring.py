"""Dial strings for outbound calls: templates, verbatim technologies, caller ids, injection."""
from __future__ import annotations

import pytest

from ari.dialstring import DialError, caller_id_of, caller_id_param, check_template, endpoint_for, plan_dial

PJSIP = "PJSIP/{number}"


@pytest.mark.parametrize(("template", "destination", "endpoint"), [
    # plain numbers and extensions go into the template exactly as typed (never +E.164)
    (PJSIP, "6001", "PJSIP/6001"),
    (PJSIP, "+15551234567", "PJSIP/+15551234567"),
    (PJSIP, "0044207946000", "PJSIP/0044207946000"),
    (PJSIP, "*97", "PJSIP/*97"),
    (PJSIP, "123#", "PJSIP/123#"),
    (PJSIP, "alice", "PJSIP/alice"),
    ("PJSIP/{number}@trunk", "6001", "PJSIP/6001@trunk"),
    ("PJSIP/{number}@trunk", "+4930123456", "PJSIP/+4930123456@trunk"),
    ("Local/{number}@from-internal", "6001", "Local/6001@from-internal"),
    ("SIP/provider/{number}", "5551234", "SIP/provider/5551234"),
    ("PJSIP/trunk/sip:{number}@10.0.0.1:5060", "6001", "PJSIP/trunk/sip:6001@10.0.0.1:5060"),
    ("DAHDI/g1/{number}", "5551234", "DAHDI/g1/5551234"),
    # a destination that names a technology is used verbatim; the template is not applied
    ("PJSIP/{number}@trunk", "PJSIP/6001", "PJSIP/6001"),
    (PJSIP, "SIP/6001", "SIP/6001"),
    (PJSIP, "IAX2/otherpbx/6001", "IAX2/otherpbx/6001"),
    (PJSIP, "Local/6001@from-internal", "Local/6001@from-internal"),
    (PJSIP, "Local/6001@agent-outbound/n", "Local/6001@agent-outbound/n"),
    (PJSIP, "DAHDI/1/5551234", "DAHDI/1/5551234"),
    (PJSIP, "pjsip/6001", "pjsip/6001"),
    ("Local/{number}@ctx", "Bogus/123", "Bogus/123"),  # Asterisk answers "Allocation failed": an outcome
    # a broken template does not matter when the destination names its own technology
    ("nonsense", "PJSIP/6001", "PJSIP/6001"),
])
def test_endpoints(template: str, destination: str, endpoint: str) -> None:
    assert endpoint_for(template, destination) == endpoint


@pytest.mark.parametrize("destination", [
    "", "6001,1", "6001&PJSIP/6002", "6001;foo", "6001(x)", "6001)", "60|01", "60 01", " 6001", "6001 ",
    "6001\n", "6001\nChannel: PJSIP/6002", "6001\r", "60\t01", "60\x0001", "60\x1b01", "60\x7f01", "{number}",
    "6001{", "6001}", "${SHELL}", "$[1+1]", "6001'", '6001"', "6001\\", "6001<", "6001>", "60.01", "60-01",
    "6001@ctx", "++6001", "6001+", "6" * 65, "ext\u00e9", "\uff16\uff10\uff10\uff11",
    "PJSIP/", "PJSIP/6001,Local/1@x", "PJSIP/6001&PJSIP/6002", "PJSIP/60 01", "PJSIP/6001\n", "PJSIP/6001;x",
    "PJSIP/${EXTEN}", "PJSIP/6001(x)", "PJSIP//6001", "PJSIP/6001/", "1PJSIP/6001", "PJ SIP/6001",
    "Local/6001@from-internal|x", "PJSIP/" + "6" * 201,
])
def test_destinations_refused(destination: str) -> None:
    with pytest.raises(DialError) as caught:
        endpoint_for(PJSIP, destination)
    assert caught.value.error_id == "invalid-destination" and caught.value.field == "to"


@pytest.mark.parametrize("template", [
    "PJSIP/6001",  # no {number}
    "PJSIP/{number}/{number}",
    "PJSIP/{num}",
    "{number}",
    "/{number}",
    "PJSIP{number}",
    "PJSIP/{number},t",
    "PJSIP/{number}&PJSIP/6002",
    "PJSIP/{number};x",
    "PJSIP/{number} @trunk",
    "PJSIP/{number}\n",
    "PJSIP/{number}(x)",
    "PJSIP/{number}|x",
    "PJSIP/{{number}}",
    "PJSIP/{number}${X}",
    "",
])
def test_templates_refused(template: str) -> None:
    with pytest.raises(DialError) as caught:
        check_template(template)
    assert caught.value.error_id == "invalid-dial-template" and caught.value.field == "dial_template"
    with pytest.raises(DialError):
        endpoint_for(template, "6001")


@pytest.mark.parametrize("template", [PJSIP, "PJSIP/{number}@trunk", "Local/{number}@from-internal",
                                      "SIP/{number}", "IAX2/peer/{number}", "PJSIP/9{number}@out"])
def test_templates_accepted(template: str) -> None:
    assert check_template(template) == template


@pytest.mark.parametrize(("extension", "number"), [
    ("PJSIP/6001", "6001"), ("6001", "6001"), ("SIP/6001", "6001"), ("PJSIP/6001@trunk", "6001"),
    ("+15551234567", "+15551234567"), ("PJSIP/alice", "alice"),
])
def test_caller_id_of_from_extension(extension: str, number: str) -> None:
    assert caller_id_of(extension) == number


@pytest.mark.parametrize(("number", "param"), [("6001", "6001"), ("+15551234567", "+15551234567"),
                                               ("alice", "<alice>")])
def test_caller_id_parameter(number: str, param: str) -> None:
    assert caller_id_param(number) == param


def test_plan_uses_the_chosen_or_first_from_extension() -> None:
    extensions = ("PJSIP/6001", "PJSIP/6002")
    assert plan_dial(PJSIP, "7000", extensions, None).caller_id == "6001"
    chosen = plan_dial(PJSIP, "7000", extensions, "PJSIP/6002")
    assert (chosen.endpoint, chosen.caller_id, chosen.from_extension) == ("PJSIP/7000", "6002", "PJSIP/6002")
    assert plan_dial(PJSIP, "7000", extensions, "6002").from_extension == "PJSIP/6002"  # by its number


@pytest.mark.parametrize(("extensions", "chosen", "error_id"), [
    ((), None, "no-from-extension"),
    ((), "PJSIP/6001", "no-from-extension"),
    (("PJSIP/6001",), "PJSIP/6002", "from-not-allowed"),
    (("PJSIP/6001",), "6001\n", "from-not-allowed"),
])
def test_plan_refuses_a_missing_or_foreign_from_extension(extensions: tuple[str, ...], chosen: str | None,
                                                          error_id: str) -> None:
    with pytest.raises(DialError) as caught:
        plan_dial(PJSIP, "7000", extensions, chosen)
    assert caught.value.error_id == error_id and caught.value.field == "from"


def test_plan_checks_the_destination_first() -> None:
    with pytest.raises(DialError) as caught:
        plan_dial(PJSIP, "70,00", (), None)
    assert caught.value.error_id == "invalid-destination"
