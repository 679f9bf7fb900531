"""Q.850 hangup causes and their Asterisk texts (main/channel.c ``causes[]``)."""
from __future__ import annotations

UNKNOWN = 0
UNALLOCATED = 1
NO_ROUTE_DESTINATION = 3
NORMAL_CLEARING = 16
USER_BUSY = 17
NO_USER_RESPONSE = 18
NO_ANSWER = 19
CALL_REJECTED = 21
ANSWERED_ELSEWHERE = 26
INVALID_NUMBER_FORMAT = 28
NORMAL_UNSPECIFIED = 31
CONGESTION = 34
NETWORK_OUT_OF_ORDER = 38
BEARERCAPABILITY_NOTAVAIL = 58
INTERWORKING = 127

# Soft-hangup flags, reported as ``cause`` in ChannelHangupRequest when ``soft`` is true.
SOFTHANGUP_SHUTDOWN = 4
SOFTHANGUP_EXPLICIT = 32

_TEXT: dict[int, str] = {
    0: "Unknown",
    1: "Unallocated (unassigned) number",
    2: "No route to specified transmit network",
    3: "No route to destination",
    5: "Misdialed trunk prefix",
    6: "Channel unacceptable",
    7: "Call awarded and being delivered in an established channel",
    8: "Pre-empted",
    14: "Number ported elsewhere",
    16: "Normal Clearing",
    17: "User busy",
    18: "No user responding",
    19: "User alerting, no answer",
    20: "Subscriber absent",
    21: "Call Rejected",
    22: "Number changed",
    23: "Redirected to new destination",
    26: "Answered elsewhere",
    27: "Destination out of order",
    28: "Invalid number format",
    29: "Facility rejected",
    30: "Response to STATus ENQuiry",
    31: "Normal, unspecified",
    34: "Circuit/channel congestion",
    38: "Network out of order",
    41: "Temporary failure",
    42: "Switching equipment congestion",
    43: "Access information discarded",
    44: "Requested channel not available",
    50: "Facility not subscribed",
    52: "Outgoing call barred",
    54: "Incoming call barred",
    57: "Bearer capability not authorized",
    58: "Bearer capability not available",
    65: "Bearer capability not implemented",
    66: "Channel not implemented",
    69: "Facility not implemented",
    81: "Invalid call reference value",
    88: "Incompatible destination",
    95: "Invalid message unspecified",
    96: "Mandatory information element is missing",
    97: "Message type nonexist.",
    98: "Wrong message",
    99: "Info. element nonexist or not implemented",
    100: "Invalid information element contents",
    101: "Message not compatible with call state",
    102: "Recover on timer expiry",
    103: "Mandatory IE length error",
    111: "Protocol error, unspecified",
    127: "Interworking, unspecified",
}

# ARI ``DELETE /channels/{id}?reason=`` names (resource_channels.c convert_reason_to_hangup_code).
HANGUP_REASONS: dict[str, int] = {
    "normal": 16,
    "busy": 17,
    "congestion": 34,
    "no_answer": 19,
    "timeout": 18,
    "rejected": 21,
    "unallocated": 1,
    "normal_unspecified": 31,
    "number_incomplete": 28,
    "codec_mismatch": 58,
    "interworking": 127,
    "failure": 38,
    "answered_elsewhere": 26,
}


def cause_text(cause: int) -> str:
    """The ``cause_txt`` Asterisk reports for a Q.850 cause."""
    return _TEXT.get(cause, "Unknown")
