"""Call control for one configuration: inbound routing, answer, external media, bridge, the
agent, and teardown on every path (ARCHITECTURE.md, "Inbound call").

Events: `owners` maps each channel of ours to the object that handles its events (`ari.owners`):
the call (`ari.call.Call`) for its caller and external media channels, the Dialer's `Outbound`
while an outbound call rings, a `TransferLeg` and then a `BridgedPair` (`ari.transfer`), a
diagnostics `ChannelWatch`. Our own channels are recognised by that map (ids are pre-assigned
before any request), never by channel state. A `StasisStart` of a channel nobody owns is an
inbound call, unless its app args say it is ours: a transfer target that answered after we gave
up, or an outbound channel of an earlier process; both are hung up.

Public API (for `ari.outbound` and `ari.service`): `launch(call, body, owner=...)` runs a call
(its channel's events go to `owner` from then on); `talk(...)` is the answered part (external
media, bridge, agent); `end(call, CallEnd)` ends it; `hang_up(run_id)`, `end_all(...)`,
`knows(ari_id)`, `watch`/`unwatch` for diagnostics.

Every way a call can end goes through `Call.request_end` (first reason wins, the call's task is
cancelled) and then `_teardown`, which deletes the bridge and the other channel (Asterisk does
not), finishes the run and so releases the quota slot. `ChannelDestroyed` is never relied on for
the inbound channel: Asterisk may not send it.
"""
from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from ari.call import (
    OUTBOUND_APP_ARG,
    TRANSFER_APP_ARG,
    Call,
    CallEnd,
    CallFailed,
    CallState,
    CallTiming,
    new_channel_id,
)
from ari.cleanup import Cleanup
from ari.errors import AriError
from ari.events import AriEvent, StasisStart
from ari.owners import ChannelWatch, EventOwner, knows, owner_key, release
from ari.records import CallRecords
from ari.rest import AriRestClient, build_transport_data
from ari.routing import Refusal, route_inbound
from ari.stats import CallStats
from ari.transfer import AgentControls, BridgedPair, Transfers
from data.models import TelephonyConfig
from data.store import Store
from media.port import AgentRunner
from media.registry import MediaRegistry
from media.session import MediaSession

__all__ = ["AgentRunner", "Call", "CallControl", "CallEnd", "CallTiming"]

log = logging.getLogger("switchboard.ari.calls")

CallBody = Callable[[Call], Awaitable[None]]


class CallControl:
    def __init__(
        self, *, config: TelephonyConfig, store: Store, rest: AriRestClient, registry: MediaRegistry,
        agent: AgentRunner, timing: CallTiming | None = None, stats: CallStats | None = None,
    ) -> None:
        self.config = config
        timing = timing or CallTiming()
        self.stats = stats or CallStats()
        self.store = store
        self.rest = rest
        self.registry = registry
        self.agent = agent
        self.timing = timing
        self.calls: dict[str, Call] = {}  # inbound/outbound channel id → live call
        self.owners: dict[str, EventOwner] = {}  # every channel id of ours → who handles its events
        self.records = CallRecords(store, self.stats)
        self.cleanup = Cleanup(rest, timing.rest_timeout_s)
        self.transfers = Transfers(rest=rest, owners=self.owners, records=self.records, cleanup=self.cleanup,
                                   timing=timing, config=self.current_config)

    async def current_config(self) -> TelephonyConfig:
        """The configuration as saved now (it may have changed since this control was built)."""
        return await self.store.configs.get_any(self.config.id) or self.config

    @property
    def pairs(self) -> list[BridgedPair]:
        """Callers talking with an attended transfer's target in our bridge."""
        return list({id(o): o for o in self.owners.values() if isinstance(o, BridgedPair)}.values())

    def watch(self, channel_id: str) -> ChannelWatch:
        watch = ChannelWatch(channel_id)
        self.owners[channel_id] = watch
        return watch

    def unwatch(self, channel_id: str) -> None:
        watch = self.owners.get(channel_id)
        if isinstance(watch, ChannelWatch):
            release(self.owners, channel_id, watch)

    def knows(self, ari_id: str) -> bool:
        """A channel or bridge id of a live call or probe here: reconcile leaves these alone."""
        return knows(self.owners, ari_id)

    # --- events -----------------------------------------------------------------------------
    async def on_event(self, event: AriEvent) -> None:
        channel_id = owner_key(event)
        owner = self.owners.get(channel_id) if channel_id is not None else None
        if owner is not None:
            await owner.on_event(event)
        elif isinstance(event, StasisStart):
            self._unowned_start(event)

    def _unowned_start(self, event: StasisStart) -> None:
        channel_id = event.channel.id
        kind = event.args[:1]
        if kind == (TRANSFER_APP_ARG,):
            log.info("hanging up a late transfer target channel=%s", channel_id)
            self.cleanup.spawn(self.cleanup.hang_up_quietly(channel_id), f"late-target-{channel_id}")
        elif kind == (OUTBOUND_APP_ARG,):
            log.warning("hanging up an outbound channel no live call knows error_id=unknown-outbound channel=%s "
                        "args=%s", channel_id, ",".join(event.args))
            self.cleanup.spawn(self.cleanup.hang_up_quietly(channel_id), f"orphan-{channel_id}")
        else:
            channel = event.channel
            call = Call(channel_id, self.config.id, self.config.organization_id, channel.caller_number, channel.exten)
            self.launch(call, self._setup_and_talk)

    # --- the public call API ----------------------------------------------------------------
    def launch(self, call: Call, body: CallBody, *, owner: EventOwner | None = None) -> asyncio.Task[None]:
        """Run a call: its channel's events go to `owner` (the call itself by default) from now on,
        so register it before any request about the channel; then `body` runs and, however it
        ends, the call is torn down and its run finished."""
        self.calls[call.channel_id] = call
        self.owners[call.channel_id] = owner or call
        call.task = asyncio.create_task(self._lifecycle(call, body), name=f"call-{call.channel_id}")
        return call.task

    def end(self, call: Call, end: CallEnd) -> None:
        """End a call (first reason wins); its teardown follows."""
        call.request_end(end)

    def hang_up(self, run_id: int, reason: str) -> bool:
        """End the live call of this run (the admin's Hang up button); False when there is none."""
        for call in list(self.calls.values()):
            if call.run_id == run_id and call.live:
                log.info("hang-up requested %s reason=%s", call.label, reason)
                call.request_end(CallEnd("completed", reason))
                return True
        return False

    async def end_all(self, status: str, reason: str, error_id: str) -> None:
        """End every live call (link lost, configuration removed, shutdown) and wait for teardown."""
        calls = list(self.calls.values())
        for call in calls:
            call.request_end(CallEnd(status, reason, error_id))
        for call in calls:
            await call.reached(CallState.ENDED)

    async def talk(self, call: Call, config: TelephonyConfig, workflow_id: int, definition: Mapping[str, Any],
                   context: dict[str, Any]) -> None:
        """The answered part, the same for both directions: external media, bridge, the agent."""
        session = await self._connect_media(call, config, workflow_id)
        session.controls = AgentControls(call, self.transfers)
        call.session = session
        if definition.get("recording"):
            await self.records.start_recording(call, session)
        if call.state is not CallState.CONNECTED:
            # Ended while connecting, and the cancellation was lost: Python 3.11's wait_for returns
            # the result when it completes together with a cancel. Never start the agent then.
            return
        context = {**context, "run_id": call.run_id, "workflow_id": workflow_id}  # the agent's lookups and tools
        result = await self.agent(session, definition, context, self.records.sink(call))
        if session.closed and not call.handed_over and result.status != "completed":
            call.settle(CallEnd("failed", f"media connection closed: {session.close_reason}", "media-closed"))
        else:
            call.settle(CallEnd(result.status, result.reason))

    # --- one call, start to end -------------------------------------------------------------
    async def _lifecycle(self, call: Call, body: CallBody) -> None:
        """Run `body`, record how it ended, and always tear down."""
        self.stats.call_started(call.direction)
        try:
            await body(call)
        except asyncio.CancelledError:
            pass  # ended by an event; call.end says why
        except Refusal as refusal:
            log.warning("inbound call refused error_id=%s config=%s extension=%s channel=%s: %s",
                        refusal.error_id, self.config.id, call.called, call.channel_id, refusal.message)
            await self._refuse(call, refusal)
        except CallFailed as fail:
            log.warning("call failed error_id=%s %s: %s", fail.error_id, call.label, fail.message)
            call.request_end(CallEnd("failed", fail.message, fail.error_id))
        except AriError as exc:
            log.warning("call failed error_id=%s %s: %s", exc.error_id, call.label, exc)
            call.request_end(CallEnd("failed", f"Asterisk refused a request: {exc}", exc.error_id))
        except sqlite3.Error as exc:  # busy, read-only or full: not a bug, and the PBX can fail over
            await self._database_unavailable(call, exc)
        except Exception as exc:  # a bug must still hang up and record why
            log.exception("call failed error_id=call-internal %s", call.label)
            call.request_end(CallEnd("failed", f"internal error: {exc}", "call-internal"))
        finally:
            await asyncio.shield(self._teardown(call))

    async def _setup_and_talk(self, call: Call) -> None:
        """Inbound: route, create the run within the quota, answer, then talk."""
        config = await self.current_config()
        route = await route_inbound(self.store, config, call.called)
        context = {"caller_number": call.caller, "called_number": call.called, "direction": "inbound",
                   "call_id": call.channel_id, "provider": "ari"}
        run, refusal = await self.store.runs.create_within_quota(
            org_id=config.organization_id, workflow_id=route.workflow.id, direction="inbound", status="queued",
            telephony_configuration_id=config.id, phone_number_id=route.number.id, call_id=call.channel_id,
            caller_number=call.caller, called_number=call.called, context=context,
        )
        call.run_id = run.id
        if refusal is not None:
            call.settle(CallEnd("rejected", refusal, "quota-exceeded"))
            raise Refusal("quota-exceeded", refusal, "congestion")
        log.info("inbound call accepted %s extension=%s workflow=%s", call.label, call.called, route.workflow.id)
        await self.rest.answer(call.channel_id)
        await self.store.runs.set_status(run.id, "in_progress", answered=True)
        await self.talk(call, config, route.workflow.id, route.workflow.definition, context)

    async def _connect_media(self, call: Call, config: TelephonyConfig, workflow_id: int) -> MediaSession:
        assert call.run_id is not None
        call.media_id = new_channel_id("m")
        self.owners[call.media_id] = call
        call.media_requested()
        call.pending = self.registry.expect(call.media_id, run_id=call.run_id, workflow_id=workflow_id,
                                            config_id=config.id)
        transport_data = build_transport_data({
            "workflow_id": str(workflow_id), "user_id": str(config.organization_id),
            "workflow_run_id": str(call.run_id),
        })
        await self.rest.external_media(channel_id=call.media_id, app=config.stasis_app_name,
                                       external_host=config.websocket_client_name, transport_data=transport_data)
        timeout = self.timing.media_timeout_s
        try:
            await asyncio.wait_for(call.reached(CallState.CONNECTED), timeout)
        except TimeoutError:
            raise CallFailed("media-no-stasis-start", (
                f"the external media channel never entered the Stasis app within {timeout:g} s: "
                "check websocket_client.conf (its uri must reach Switchboard's /api/v1/telephony/ws/ari)"
            )) from None
        call.bridge_id = new_channel_id("b")
        await self.rest.create_bridge(call.bridge_id, "mixing", name=f"switchboard-run-{call.run_id}")
        await self.rest.add_to_bridge(call.bridge_id, [call.channel_id, call.media_id])
        try:
            return await asyncio.wait_for(asyncio.shield(call.pending.connected), timeout)
        except TimeoutError:
            raise CallFailed("media-no-socket", (
                f"no media WebSocket arrived within {timeout:g} s: check that the uri in "
                "websocket_client.conf points at this server's /api/v1/telephony/ws/ari"
            )) from None

    async def _database_unavailable(self, call: Call, exc: sqlite3.Error) -> None:
        """Before the run exists: refuse like a full quota (congestion). Later: the call fails."""
        if call.run_id is None:
            log.warning("call refused error_id=db-unavailable %s: the database cannot be written: %s", call.label, exc)
            call.settle(CallEnd("rejected", f"the database cannot be written: {exc}", "db-unavailable"))
            await self.cleanup.safely(call.label, "hang up the refused call",
                                      self.rest.hangup(call.channel_id, "congestion"))
        else:
            log.warning("call failed error_id=db-unavailable %s: the database cannot be written: %s", call.label, exc)
            call.request_end(CallEnd("failed", f"the database cannot be written: {exc}", "db-unavailable"))

    async def _refuse(self, call: Call, refusal: Refusal) -> None:
        await self.records.refused(call, refusal)
        call.settle(CallEnd("rejected", refusal.message, refusal.error_id))
        await self.cleanup.safely(call.label, "hang up the refused call",
                                  self.rest.hangup(call.channel_id, refusal.hangup_reason))

    async def _teardown(self, call: Call) -> None:
        """Asterisk side first, then the metrics, then the run's end in the database (so whoever
        sees the run ended also sees it counted), and only then the call leaves the live tables."""
        was = call.begin_teardown()
        end = call.end or CallEnd("failed", "call ended without a reason", "call-internal")
        try:
            try:
                await self._release_media(call, end)
                await self._hang_up_channels(call, end,
                                             handed_over=was in (CallState.TRANSFERRING, CallState.TRANSFERRED))
            finally:
                self.stats.call_ended(end.status, call.session.stats if call.session is not None else None)
            if call.run_id is not None:
                await self.records.finish(call, end)
            log.info("call ended %s status=%s reason=%s", call.label, end.status, end.reason)
        except Exception:
            log.exception("teardown failed error_id=teardown-failed %s", call.label)
        finally:
            for channel_id in (call.channel_id, call.media_id, call.transfer_target):
                owner = self.owners.get(channel_id) if channel_id is not None else None
                if owner is not None and not isinstance(owner, BridgedPair):
                    release(self.owners, channel_id, owner)
            self.calls.pop(call.channel_id, None)
            call.finished()

    async def _release_media(self, call: Call, end: CallEnd) -> None:
        if call.media_id is not None:
            self.registry.discard(call.media_id)
        if call.session is not None:
            await call.session.close(1000, end.reason)
        if call.recorder is not None:
            await self.records.save_recording(call, call.recorder)

    async def _hang_up_channels(self, call: Call, end: CallEnd, *, handed_over: bool) -> None:
        """Hang up what is ours: the caller (unless transferred or refused), the media channel, a
        ringing transfer target, and the bridge unless a transferred pair still talks in it."""
        safely, rest = self.cleanup.safely, self.rest
        if not handed_over and end.status != "rejected":
            await safely(call.label, "hang up the caller", rest.hangup(call.channel_id))
        if call.media_id is not None:
            await safely(call.label, "hang up the media channel", rest.hangup(call.media_id))
        if call.transfer_target is not None:
            await safely(call.label, "hang up the transfer target", rest.hangup(call.transfer_target))
        if call.bridge_id is not None and not isinstance(self.owners.get(call.channel_id), BridgedPair):
            await safely(call.label, "delete the bridge", rest.delete_bridge(call.bridge_id))
