"""Transfers, and what the agent may do to its call (`AgentControls`: hang up, transfer).

Blind (`Transfers.blind`): the caller goes back to the dialplan (`continue`); the call is
`transferring` while the request is out (its StasisEnd is expected then), `transferred` after.

Attended (`Transfers.attended`): the target is originated through the configuration's dial
template with a pre-assigned `sbo-` id (app args `switchboard-transfer,run=<id>`, so it is not
taken for an orphaned outbound call) whose events its `TransferLeg` owns, and we wait up to
`timeout_s` for its `StasisStart` (Asterisk sends it only once the target answered). Answered:
the target joins the caller's bridge, a `BridgedPair` takes over both channels, the agent's
external media channel is removed and hung up, and the run ends `completed` ("transferred to X
(attended)") while the caller and the target keep talking in our bridge. When either of them
leaves Stasis or is destroyed, the other is hung up and the bridge deleted. Busy, no answer or a
failure: the target leg is hung up and the agent keeps the call (`TransferResult(False, why)`).
A Switchboard restart while a pair talks leaves them to the next reconcile, which hangs them up.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from ari.call import TRANSFER_APP_ARG, Call, CallEnd, CallState, CallTiming, new_channel_id
from ari.cleanup import Cleanup
from ari.dialstring import DialError, caller_id_param, endpoint_for
from ari.errors import AriError
from ari.events import AriEvent, ChannelDestroyed, Dial, StasisEnd, StasisStart
from ari.owners import Owners, release
from ari.records import CallRecords
from ari.rest import AriRestClient
from data.models import TelephonyConfig
from media.port import TransferResult

log = logging.getLogger("switchboard.ari.calls")

TRANSFER_GRACE_S = 5.0  # beyond the ring timeout, before we stop waiting for Asterisk's outcome
TRANSFER_FINAL_DIAL = frozenset({"BUSY", "NOANSWER", "CANCEL", "CONGESTION", "CHANUNAVAIL"})


def leg_outcome(dial_status: str, cause: int | None, cause_txt: str) -> str:
    """Why a transfer target did not answer, in the words the agent hears."""
    if dial_status == "BUSY" or cause == 17:
        return "the extension is busy"
    if dial_status == "NOANSWER" or cause in (18, 19):
        return "no answer"
    if dial_status in ("CHANUNAVAIL", "CONGESTION") or cause in (20, 27, 34, 38):
        return "the extension is unavailable"
    if dial_status:
        return f"the call failed (Dial {dial_status})"
    return f"the call ended before it was answered (cause {cause} {cause_txt})".strip()


@dataclass(eq=False)
class TransferLeg:
    """The target of an attended transfer while it rings (owns its channel's events)."""

    channel_id: str
    extension: str
    call: Call
    answered: asyncio.Event = field(default_factory=asyncio.Event)
    gone: asyncio.Event = field(default_factory=asyncio.Event)
    outcome: str = ""  # why it did not answer (Dial status or destroy cause)
    bridge_id: str | None = None

    @property
    def active(self) -> bool:
        return self.call.live

    async def on_event(self, event: AriEvent) -> None:
        if isinstance(event, StasisStart):
            self.answered.set()
        elif isinstance(event, ChannelDestroyed):
            self.outcome = self.outcome or leg_outcome("", event.cause, event.cause_txt)
            self.gone.set()
        elif isinstance(event, StasisEnd):
            self.gone.set()
        elif isinstance(event, Dial):
            status = event.dialstatus.upper()
            if status in TRANSFER_FINAL_DIAL and not self.answered.is_set():
                self.outcome = leg_outcome(status, None, "")
                self.gone.set()


@dataclass(eq=False)
class BridgedPair:
    """Caller and transfer target talking in our bridge after an attended transfer: no run, no
    agent; when one of them leaves, `on_end` hangs up the other and deletes the bridge."""

    bridge_id: str
    channels: tuple[str, str]
    label: str
    on_end: Callable[[BridgedPair, str], None]
    ending: bool = False

    @property
    def active(self) -> bool:
        return not self.ending

    async def on_event(self, event: AriEvent) -> None:
        if isinstance(event, (StasisEnd, ChannelDestroyed)) and not self.ending:
            self.ending = True
            self.on_end(self, event.channel.id)


class Transfers:
    def __init__(self, *, rest: AriRestClient, owners: Owners, records: CallRecords, cleanup: Cleanup,
                 timing: CallTiming, config: Callable[[], Awaitable[TelephonyConfig]]) -> None:
        self.rest = rest
        self.owners = owners
        self.records = records
        self.cleanup = cleanup
        self.timing = timing
        self.config = config  # the configuration as saved now

    async def blind(self, call: Call, extension: str) -> None:
        """Hand the caller back to the dialplan; AriError when Asterisk refuses (the call is the
        agent's again)."""
        config = await self.config()
        call.blind_transfer_sent()
        try:
            await self.rest.continue_in_dialplan(call.channel_id, config.transfer_context, extension, 1)
        except AriError:
            call.blind_transfer_refused()
            raise
        call.transferred()
        await self.records.action(call, f"transfer to {extension}",
                                  {"extension": extension, "context": config.transfer_context})
        call.settle(CallEnd("completed", f"transferred to {extension}"))

    async def attended(self, call: Call, extension: str, timeout_s: float) -> TransferResult:
        """Ring `extension`; on answer bridge it with the caller and drop the agent (ok). Not
        answered, busy or failed: the target leg is hung up and the agent keeps the call."""
        if call.bridge_id is None or call.transfer_target is not None or call.end is not None \
                or call.state is not CallState.CONNECTED:
            return TransferResult(False, "the call cannot be transferred now")
        config = await self.config()
        try:
            endpoint = endpoint_for(config.dial_template, extension)
        except DialError as exc:
            return TransferResult(False, exc.message)
        leg = TransferLeg(new_channel_id("o"), extension, call)
        call.transfer_target = leg.channel_id
        self.owners[leg.channel_id] = leg  # before the request: its events may overtake the response
        log.info("attended transfer %s to %s endpoint=%s target=%s", call.label, extension, endpoint, leg.channel_id)
        why: str | None = "not connected"
        try:
            why = await self._ring_and_bridge(call, leg, config, endpoint, max(1, round(timeout_s)))
        finally:
            if why is not None:
                await asyncio.shield(self._drop_target(call, leg))
        if why is not None:
            return TransferResult(False, why)
        self._hand_over(call, leg)
        await self._drop_agent(call, extension, leg.channel_id)
        return TransferResult(True)

    async def _ring_and_bridge(self, call: Call, leg: TransferLeg, config: TelephonyConfig, endpoint: str,
                               ring_s: int) -> str | None:
        """None once the target is in the caller's bridge, else why not."""
        assert call.bridge_id is not None
        far_end = call.caller if call.direction == "inbound" else call.called
        try:
            await asyncio.wait_for(self.rest.originate(
                endpoint=endpoint, app=config.stasis_app_name, app_args=[TRANSFER_APP_ARG, f"run={call.run_id}"],
                caller_id=caller_id_param(far_end) if far_end else None, timeout=ring_s, channel_id=leg.channel_id,
            ), self.timing.rest_timeout_s)
        except (AriError, TimeoutError) as exc:
            return f"Asterisk could not dial {endpoint}: {exc}"
        answered = asyncio.ensure_future(leg.answered.wait())
        gone = asyncio.ensure_future(leg.gone.wait())
        try:
            await asyncio.wait({answered, gone}, timeout=ring_s + TRANSFER_GRACE_S, return_when=asyncio.FIRST_COMPLETED)
        finally:
            answered.cancel()
            gone.cancel()
        if not leg.answered.is_set() or leg.gone.is_set():
            return leg.outcome or f"no answer within {ring_s} s"
        try:
            await asyncio.wait_for(self.rest.add_to_bridge(call.bridge_id, leg.channel_id), self.timing.rest_timeout_s)
        except (AriError, TimeoutError) as exc:
            return f"could not bridge {leg.extension}: {exc}"
        if leg.gone.is_set():  # hung up while being connected: the agent keeps the caller
            return leg.outcome or f"{leg.extension} hung up as it was connected"
        if call.state is not CallState.CONNECTED:  # the call ended meanwhile
            return "the call ended before the target was connected"
        return None

    def _hand_over(self, call: Call, leg: TransferLeg) -> None:
        """The target is in the caller's bridge: the pair takes both channels over."""
        assert call.bridge_id is not None
        call.transfer_target = None
        release(self.owners, leg.channel_id, leg)
        pair = BridgedPair(call.bridge_id, (call.channel_id, leg.channel_id), call.label, self._end_pair)
        for channel_id in pair.channels:
            self.owners[channel_id] = pair
        call.transferred()
        call.settle(CallEnd("completed", f"transferred to {leg.extension} (attended)"))
        release(self.owners, call.media_id, call)  # its StasisEnd is expected now, not a failure
        log.info("attended transfer answered %s target=%s bridge=%s", call.label, leg.channel_id, call.bridge_id)

    async def _drop_agent(self, call: Call, extension: str, target_id: str) -> None:
        await self.records.action(call, f"transfer to {extension} (attended)",
                                  {"extension": extension, "mode": "attended", "target_channel": target_id})
        if call.media_id is not None and call.bridge_id is not None:
            await self.cleanup.safely(call.label, "remove the agent from the bridge",
                                      self.rest.remove_from_bridge(call.bridge_id, call.media_id))
            await self.cleanup.safely(call.label, "hang up the media channel", self.rest.hangup(call.media_id))
        if call.session is not None:
            await call.session.close(1000, f"transferred to {extension}")

    async def _drop_target(self, call: Call, leg: TransferLeg) -> None:
        await self.cleanup.safely(call.label, "hang up the transfer target", self.rest.hangup(leg.channel_id))
        release(self.owners, leg.channel_id, leg)
        if call.transfer_target == leg.channel_id:
            call.transfer_target = None

    def _end_pair(self, pair: BridgedPair, left: str) -> None:
        """One side of a transferred pair left: hang up the other and delete the bridge."""
        for channel_id in pair.channels:
            release(self.owners, channel_id, pair)

        async def finish() -> None:
            for other in pair.channels:
                if other != left:
                    await self.cleanup.hang_up_quietly(other)
            await self.cleanup.delete_bridge_quietly(pair.bridge_id)
            log.info("transferred call ended %s (%s left)", pair.label, left)

        self.cleanup.spawn(finish(), f"end-pair-{pair.bridge_id}")


class AgentControls:
    """What the agent may do to its call (`media.port.CallControls`, attached to its session)."""

    def __init__(self, call: Call, transfers: Transfers) -> None:
        self.call = call
        self.transfers = transfers

    async def hangup(self, reason: str) -> None:
        self.call.settle(CallEnd("completed", f"agent hung up: {reason}" if reason else "agent hung up"))
        if self.call.session is not None:
            await self.call.session.close(1000, "agent hung up")

    async def transfer(self, extension: str, *, attended: bool = False, timeout_s: float = 20.0) -> TransferResult:
        if not attended:
            await self.transfers.blind(self.call, extension)
            return TransferResult(True)
        result = await self.transfers.attended(self.call, extension, timeout_s)
        if not result.ok:
            log.info("attended transfer not completed %s to %s: %s", self.call.label, extension, result.why)
        return result
