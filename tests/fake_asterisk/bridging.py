"""Bridges: create/destroy, add/remove channels, BRIDGEPEER and connected-line updates."""
from __future__ import annotations

from typing import TYPE_CHECKING

from . import events as ev
from .errors import AriError
from .model import Bridge, Channel, Kind

if TYPE_CHECKING:
    from .core import FakeAsterisk


class BridgingMixin:
    def _leave_bridge(self: FakeAsterisk, ch: Channel) -> None:
        if not ch.bridge_id:
            return
        bridge = self.bridges.get(ch.bridge_id)
        ch.bridge_id = None
        if bridge is None:
            return
        ch.set_var("BRIDGEPEER", "")
        self.emit(ev.varset(ch, "BRIDGEPEER", ""), ch.apps)
        if ch.id in bridge.channels:
            bridge.channels.remove(ch.id)
        self.emit(ev.left_bridge(bridge, ch), ch.apps | bridge.apps)

    def _bridge_peers(self: FakeAsterisk, ch: Channel) -> list[Channel]:
        if not ch.bridge_id or ch.bridge_id not in self.bridges:
            return []
        return [self.channels[c] for c in self.bridges[ch.bridge_id].channels if c != ch.id and c in self.channels]

    def create_bridge(self: FakeAsterisk, bridge_type: str | None, name: str | None, bridge_id: str | None) -> Bridge:
        if bridge_id and bridge_id in self.bridges:
            raise AriError(409, "Conflict", f"Bridge with id '{bridge_id}' already exists")
        kinds = [t.strip() for t in (bridge_type or "mixing").split(",") if t.strip()]
        btype = "holding" if "holding" in kinds else "mixing"
        bridge = Bridge(id=bridge_id or self.ids.bridge_id(), name=name or "", bridge_type=btype)
        self.bridges[bridge.id] = bridge
        return bridge

    def find_bridge(self: FakeAsterisk, bridge_id: str) -> Bridge:
        bridge = self.bridges.get(bridge_id)
        if bridge is None:
            raise AriError(404, "Not found", "Bridge not found")
        return bridge

    def _controls(self: FakeAsterisk, ids: list[str]) -> list[Channel]:
        out = []
        for cid in ids:
            ch = self.channels.get(cid)
            if ch is None:
                raise AriError(400, "Bad Request", "Channel not found")
            if ch.stasis_app is None:
                raise AriError(422, "Unprocessable Entity", "Channel not in Stasis application")
            out.append(ch)
        return out

    def add_to_bridge(self: FakeAsterisk, bridge_id: str, ids: list[str]) -> None:
        bridge = self.find_bridge(bridge_id)
        if not ids:
            raise AriError(400, "Bad Request", "Missing parameter channel")
        chans = self._controls(ids)
        entered = []
        for ch in chans:
            if ch.bridge_id == bridge.id:
                continue
            if ch.bridge_id:
                self._leave_bridge(ch)
            bridge.channels.append(ch.id)
            ch.bridge_id = bridge.id
            bridge.apps |= ch.apps
            self.emit(ev.entered_bridge(bridge, ch), ch.apps | bridge.apps)
            entered.append(ch)
        if not entered:
            return
        members = [self.channels[c] for c in bridge.channels if c in self.channels]
        if len(members) >= 2:
            for ch in members:
                peers = ",".join(p.name for p in members if p is not ch)
                if ch.variables.get("BRIDGEPEER") != peers:
                    ch.set_var("BRIDGEPEER", peers)
                    self.emit(ev.varset(ch, "BRIDGEPEER", peers), ch.apps)
        if len(members) == 2:
            self._connected_line_update(members[0], members[1])

    def _connected_line_update(self: FakeAsterisk, x: Channel, y: Channel) -> None:
        changed: list[Channel] = []
        for me, other in ((x, y), (y, x)):
            if (me.connected_name, me.connected_number) != (other.caller_name, other.caller_number):
                me.connected_name, me.connected_number = other.caller_name, other.caller_number
                changed.append(me)
        for ch in changed:
            self.emit(ev.connected_line(ch), ch.apps)
        for ch in changed:
            if ch.kind is Kind.OUTBOUND and ch.partner_id in self.channels:
                callee = self.channels[ch.partner_id]
                callee.caller_name, callee.caller_number = ch.connected_name, ch.connected_number
                self.emit(ev.caller_id(callee), callee.apps)

    def remove_from_bridge(self: FakeAsterisk, bridge_id: str, ids: list[str]) -> None:
        bridge = self.find_bridge(bridge_id)
        if not ids:
            raise AriError(400, "Bad Request", "Missing parameter channel")
        chans = self._controls(ids)
        for ch in chans:
            if ch.bridge_id != bridge.id:
                raise AriError(422, "Unprocessable Entity", "Channel not in this bridge")
        for ch in chans:
            self._leave_bridge(ch)

    def destroy_bridge(self: FakeAsterisk, bridge_id: str) -> None:
        bridge = self.find_bridge(bridge_id)
        for cid in list(bridge.channels):
            ch = self.channels.get(cid)
            if ch is not None:
                self._leave_bridge(ch)
        bridge.destroyed = True
        self.bridges.pop(bridge.id, None)
        self.emit(ev.bridge_destroyed(bridge), bridge.apps)
