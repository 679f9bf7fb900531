"""Channel and bridge state plus their ARI JSON snapshots (pure data, no I/O)."""
from __future__ import annotations

import enum
import itertools
import random
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from .codecs import ULAW, MediaFormat


def ari_timestamp(when: float | None = None) -> str:
    """``2026-11-27T13:08:18.486+0000`` (UTC)."""
    dt = datetime.fromtimestamp(time.time() if when is None else when, tz=timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}+0000"


class Kind(str, enum.Enum):
    INBOUND = "inbound"  # Local ;2 half running Stasis() for an inbound call (app-visible)
    CALLER = "caller"  # Local ;1 half of an inbound call (the far end, not app-visible)
    EXTMEDIA = "extmedia"  # WebSocket/<client>/0x... external media channel
    OUTBOUND = "outbound"  # ;1 half (or single PJSIP channel) of an ARI originate (app-visible)
    CALLEE = "callee"  # Local ;2 half of an ARI originate (events visible, dialplan side)


class IdFactory:
    """Asterisk-like unique ids (``<epoch>.<n>``), Local pair counters and fake pointers."""

    def __init__(self) -> None:
        self._n = itertools.count()
        self._local = itertools.count()
        self._rng = random.Random()

    def channel_id(self) -> str:
        return f"{int(time.time())}.{next(self._n)}"

    def local_seq(self) -> str:
        return f"{next(self._local):08x}"

    def pointer(self) -> str:
        return "0x7f" + "".join(self._rng.choice("0123456789abcdef") for _ in range(9)) + "0"

    def bridge_id(self) -> str:
        return str(uuid.uuid4())


@dataclass
class Channel:
    id: str
    name: str
    kind: Kind
    state: str = "Down"
    caller_name: str = ""
    caller_number: str = ""
    connected_name: str = ""
    connected_number: str = ""
    accountcode: str = ""
    context: str = "default"
    exten: str = "s"
    priority: int = 1
    app_name: str = ""
    app_data: str = ""
    creationtime: str = field(default_factory=ari_timestamp)
    language: str = "en"
    protocol_id: str = ""
    fmt: MediaFormat = ULAW
    variables: dict[str, str] = field(default_factory=dict)
    apps: set[str] = field(default_factory=set)  # apps subscribed to this channel's events
    stasis_app: str | None = None  # app whose Stasis() the channel is in
    stasis_args: list[str] = field(default_factory=list)
    bridge_id: str | None = None
    partner_id: str | None = None  # the other half of a Local pair
    destroyed: bool = False
    hangup_cause: int = 16
    hanging_up: bool = False
    continued_to: tuple[str, str, int] | None = None
    media: Any = None  # ExtMediaSession for EXTMEDIA channels
    leg: Any = None  # FarEnd for INBOUND / OUTBOUND channels
    data: dict[str, Any] = field(default_factory=dict)  # free-form per-kind bookkeeping

    def set_var(self, name: str, value: str) -> None:
        self.variables.pop(name, None)
        self.variables[name] = value

    def channelvars(self) -> dict[str, str]:
        """Channel variables the way Asterisk lists them (newest first)."""
        return dict(reversed(list(self.variables.items())))

    def snapshot(self, *, with_vars: bool = False) -> dict[str, Any]:
        snap: dict[str, Any] = {
            "id": self.id,
            "name": self.name,
            "state": self.state,
            "protocol_id": self.protocol_id,
            "caller": {"name": self.caller_name, "number": self.caller_number},
            "connected": {"name": self.connected_name, "number": self.connected_number},
            "accountcode": self.accountcode,
            "dialplan": {
                "context": self.context,
                "exten": self.exten,
                "priority": self.priority,
                "app_name": self.app_name,
                "app_data": self.app_data,
            },
            "creationtime": self.creationtime,
            "language": self.language,
        }
        if with_vars and self.variables:
            snap["channelvars"] = self.channelvars()
        return snap


@dataclass
class Bridge:
    id: str
    name: str = ""
    bridge_type: str = "mixing"
    creationtime: str = field(default_factory=ari_timestamp)
    channels: list[str] = field(default_factory=list)
    apps: set[str] = field(default_factory=set)
    destroyed: bool = False

    @property
    def technology(self) -> str:
        if self.bridge_type == "holding":
            return "holding_bridge"
        return "simple_bridge" if len(self.channels) <= 2 else "softmix"

    def snapshot(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "technology": self.technology,
            "bridge_type": self.bridge_type,
            "bridge_class": "stasis",
            "creator": "Stasis",
            "name": self.name,
            "channels": list(self.channels),
            "creationtime": self.creationtime,
            "video_mode": "talker",
        }
