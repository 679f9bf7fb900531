"""Builders for ARI event JSON, with the key order of the traces.

Every builder returns the event without ``asterisk_id``/``application``; the dispatcher appends those
two keys last, per receiving application, exactly like Asterisk does.
"""
from __future__ import annotations

from typing import Any

from .causes import cause_text
from .model import Bridge, Channel, ari_timestamp

Event = dict[str, Any]


def _ev(type_: str, pre: dict[str, Any] | None = None, post: dict[str, Any] | None = None) -> Event:
    ev: Event = dict(pre or {})
    ev["type"] = type_
    ev["timestamp"] = ari_timestamp()
    ev.update(post or {})
    return ev


def stasis_start(ch: Channel, args: list[str]) -> Event:
    return _ev("StasisStart", post={"args": list(args), "channel": ch.snapshot()})


def stasis_end(ch: Channel) -> Event:
    return _ev("StasisEnd", post={"channel": ch.snapshot()})


def state_change(ch: Channel) -> Event:
    return _ev("ChannelStateChange", post={"channel": ch.snapshot()})


def varset(ch: Channel, variable: str, value: str) -> Event:
    return _ev("ChannelVarset", pre={"variable": variable, "value": value}, post={"channel": ch.snapshot()})


def hangup_request(ch: Channel, cause: int, *, soft: bool = False, tech_cause: int | None = None) -> Event:
    pre: dict[str, Any] = {"cause": cause}
    if soft:
        pre["soft"] = True
    if tech_cause is not None:
        pre["tech_cause"] = tech_cause
    return _ev("ChannelHangupRequest", pre=pre, post={"channel": ch.snapshot()})


def destroyed(ch: Channel, cause: int, tech_cause: int | None = None) -> Event:
    post: dict[str, Any] = {"cause": cause, "cause_txt": cause_text(cause)}
    if tech_cause is not None:
        post["tech_cause"] = tech_cause
    post["channel"] = ch.snapshot()
    return _ev("ChannelDestroyed", post=post)


def dial(peer: Channel, dialstatus: str, dialstring: str) -> Event:
    return _ev(
        "Dial",
        post={"dialstatus": dialstatus, "forward": "", "dialstring": dialstring, "peer": peer.snapshot()},
    )


def entered_bridge(bridge: Bridge, ch: Channel) -> Event:
    return _ev("ChannelEnteredBridge", post={"bridge": bridge.snapshot(), "channel": ch.snapshot()})


def left_bridge(bridge: Bridge, ch: Channel) -> Event:
    return _ev("ChannelLeftBridge", post={"bridge": bridge.snapshot(), "channel": ch.snapshot()})


def bridge_destroyed(bridge: Bridge) -> Event:
    return _ev("BridgeDestroyed", post={"bridge": bridge.snapshot()})


def dtmf_received(ch: Channel, digit: str, duration_ms: int) -> Event:
    return _ev("ChannelDtmfReceived", post={"digit": digit, "duration_ms": duration_ms, "channel": ch.snapshot()})


def caller_id(ch: Channel) -> Event:
    return _ev(
        "ChannelCallerId",
        post={
            "caller_presentation": 0,
            "caller_presentation_txt": "Presentation Allowed, Not Screened",
            "channel": ch.snapshot(),
        },
    )


def connected_line(ch: Channel) -> Event:
    return _ev("ChannelConnectedLine", post={"channel": ch.snapshot()})


def dialplan(ch: Channel, app: str, app_data: str) -> Event:
    return _ev("ChannelDialplan", post={"dialplan_app": app, "dialplan_app_data": app_data, "channel": ch.snapshot()})


def application_replaced(app: str) -> Event:
    return _ev("ApplicationReplaced", post={"application": app})
