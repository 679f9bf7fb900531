"""Who handles the events of a channel: `owners` maps a channel id to its `EventOwner`, so call
control dispatches an event with one lookup.

Owners: a call (`ari.call.Call`: its caller channel and external media channel), an outbound
dial before answer (`ari.outbound.Outbound`), a ringing attended-transfer target and a bridged
pair after an attended transfer (`ari.transfer`), a diagnostics probe (`ChannelWatch`). An
event is keyed by its `channel`, a `Dial` by its `peer`; an event of a channel nobody owns is
ignored, except a `StasisStart`, which call control routes (inbound call, late transfer target,
orphan of an earlier process).
"""
from __future__ import annotations

import asyncio
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import Protocol

from ari.events import AriEvent, ChannelDestroyed, Dial, StasisEnd, StasisStart


class EventOwner(Protocol):
    @property
    def active(self) -> bool:
        """Its channels (and bridge) are in use: reconcile must leave them alone."""
        ...

    @property
    def bridge_id(self) -> str | None: ...

    async def on_event(self, event: AriEvent) -> None: ...


Owners = MutableMapping[str, EventOwner]


def owner_key(event: AriEvent) -> str | None:
    """The channel whose owner gets `event`: a Dial's peer (the dialled channel), else its channel."""
    if isinstance(event, Dial):
        return event.peer.id
    channel = getattr(event, "channel", None)
    return channel.id if channel is not None else None


def release(owners: Owners, channel_id: str | None, owner: EventOwner) -> None:
    """Forget `channel_id`, unless another owner has taken it over meanwhile."""
    if channel_id is not None and owners.get(channel_id) is owner:
        del owners[channel_id]


def knows(owners: Mapping[str, EventOwner], ari_id: str) -> bool:
    """A channel or bridge id in use here (reconcile leaves these alone). A call being torn down
    is deleting its own, and reconcile may finish the job if that fails."""
    owner = owners.get(ari_id)
    if owner is not None:
        return owner.active
    return any(o.bridge_id == ari_id and o.active for o in owners.values())


@dataclass(eq=False)
class ChannelWatch:
    """A channel of ours that is not a call (a diagnostics probe): never routed as inbound."""

    channel_id: str
    started: asyncio.Event = field(default_factory=asyncio.Event)
    destroyed: ChannelDestroyed | None = None
    gone: asyncio.Event = field(default_factory=asyncio.Event)
    active: bool = True
    bridge_id: str | None = None

    async def on_event(self, event: AriEvent) -> None:
        if isinstance(event, StasisStart):
            self.started.set()
        elif isinstance(event, ChannelDestroyed):
            self.destroyed = event
            self.gone.set()
        elif isinstance(event, StasisEnd):
            self.gone.set()
