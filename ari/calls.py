"""Call control for one configuration: inbound routing, answer, external media, bridge, the
agent, and teardown on every path (ARCHITECTURE.md, "Inbound call").

Our own channels (pre-assigned external-media ids, outbound originates) are recognised by the
`_channels` bookkeeping, never by channel state. Every way a call can end goes through
`_request_end` (first reason wins) and then `_teardown`, which deletes the bridge and the other
channel (Asterisk does not), finishes the run and so releases the quota slot. `ChannelDestroyed`
is never relied on for the inbound channel: Asterisk may not send it.

Transfers (`transfer`): blind hands the caller back to the dialplan (`continue`). Attended
(`attended=True`) originates the target through the configuration's dial template with a
pre-assigned `sbo-` id (app args `switchboard-transfer,run=<id>`, so the Dialer does not take it
for an orphan of its own) registered in `_channels`, and waits up to `timeout_s` for its
`StasisStart` (Asterisk sends it only once the target answered). Answered: the target joins the
caller's bridge, the agent's external media channel is removed and hung up, the run ends
`completed` ("transferred to X (attended)") and the caller and the target keep talking in our
bridge. That pair is kept in `_pairs` (and `knows()` spares it from reconcile); when either of
them leaves Stasis or is destroyed, the other is hung up and the bridge deleted. Busy, no answer
or a failure: the target leg is hung up and `transfer` returns False; the agent stays on the call.
A Switchboard restart while a pair talks leaves them to the next reconcile, which hangs them up.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import sqlite3
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from ari.dialstring import DialError, caller_id_param, endpoint_for
from ari.errors import AriError
from ari.events import (
    AriEvent, ChannelDestroyed, ChannelDtmfReceived, ChannelHangupRequest, Dial, StasisEnd, StasisStart,
)
from ari.rest import AriRestClient, build_transport_data
from ari.routing import Refusal, route_inbound
from ari.stats import CallStats
from data.models import TelephonyConfig
from data.retention import recordings_dir
from data.store import Store
from media.recording import Recorder
from media.registry import MediaRegistry, PendingMedia
from media.session import MediaSession

log = logging.getLogger("switchboard.ari.calls")

SHUTDOWN_FLAG = 4  # ChannelHangupRequest soft cause on `core restart` / shutdown
# Recording a run's end while the database cannot be written (busy past its timeout, read-only,
# full): the call is torn down in Asterisk at once; the row is retried after these delays.
FINISH_RETRY_DELAYS_S = (0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 60.0, 60.0, 60.0, 60.0, 60.0, 60.0, 60.0)
TRANSFER_APP_ARG = "switchboard-transfer"
TRANSFER_GRACE_S = 5.0  # beyond the ring timeout, before we stop waiting for Asterisk's outcome
TRANSFER_FINAL_DIAL = frozenset({"BUSY", "NOANSWER", "CANCEL", "CONGESTION", "CHANUNAVAIL"})
EventSink = Callable[[str, str | None, str | None, dict[str, Any]], Awaitable[None]]


class AgentOutcome(Protocol):
    status: str
    reason: str


class AgentRunner(Protocol):
    async def __call__(
        self, session: MediaSession, definition: dict[str, Any], context: dict[str, Any], on_event: EventSink
    ) -> AgentOutcome: ...


@dataclass(frozen=True)
class CallTiming:
    media_timeout_s: float = 5.0  # StasisStart of the media channel, then its socket
    rest_timeout_s: float = 5.0


@dataclass
class CallEnd:
    status: str
    reason: str
    error_id: str | None = None
    cause: str | None = None


@dataclass
class Call:
    channel_id: str
    config_id: int
    org_id: int
    caller: str
    called: str
    direction: str = "inbound"
    run_id: int | None = None
    media_id: str | None = None
    bridge_id: str | None = None
    pending: PendingMedia | None = None
    session: MediaSession | None = None
    media_started: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None
    end: CallEnd | None = None
    transferred_to: str | None = None
    tearing_down: bool = False
    done: asyncio.Event = field(default_factory=asyncio.Event)
    recorder: Recorder | None = None
    target: TransferLeg | None = None  # an attended transfer's leg while it rings

    @property
    def label(self) -> str:
        return f"config={self.config_id} channel={self.channel_id} run={self.run_id}"

    @property
    def far_end_hung_up(self) -> str:
        return "caller hung up" if self.direction == "inbound" else "the called party hung up"


@dataclass
class TransferLeg:
    """The target of an attended transfer while it rings."""

    channel_id: str
    extension: str
    answered: asyncio.Event = field(default_factory=asyncio.Event)
    gone: asyncio.Event = field(default_factory=asyncio.Event)
    outcome: str = ""  # why it did not answer (Dial status or destroy cause)


@dataclass
class BridgedPair:
    """Caller and transfer target talking in our bridge after an attended transfer: no run, no
    agent; when one of them leaves, the other is hung up and the bridge deleted."""

    bridge_id: str
    channels: tuple[str, str]
    label: str
    ending: bool = False


@dataclass
class ChannelWatch:
    """A channel of ours that is not a call (a diagnostics probe): never routed as inbound."""

    channel_id: str
    started: asyncio.Event = field(default_factory=asyncio.Event)
    destroyed: ChannelDestroyed | None = None
    gone: asyncio.Event = field(default_factory=asyncio.Event)


def new_channel_id(kind: str) -> str:
    """Unguessable ids we assign before Asterisk creates the channel or bridge."""
    return f"sb{kind}-{secrets.token_hex(12)}"


class CallControl:
    def __init__(
        self, *, config: TelephonyConfig, store: Store, rest: AriRestClient, registry: MediaRegistry,
        agent: AgentRunner, timing: CallTiming = CallTiming(), stats: CallStats | None = None,
    ) -> None:
        self.config = config
        self.stats = stats or CallStats()
        self.store = store
        self.rest = rest
        self.registry = registry
        self.agent = agent
        self.timing = timing
        self.calls: dict[str, Call] = {}  # inbound/outbound channel id → call
        self._channels: dict[str, Call] = {}  # every channel id of ours (caller and media) → call
        self._watches: dict[str, ChannelWatch] = {}
        self._finishing: set[asyncio.Task[None]] = set()  # runs whose end waits for the database
        self._pairs: dict[str, BridgedPair] = {}  # caller and target channel ids → their pair
        self._background: set[asyncio.Task[None]] = set()

    def watch(self, channel_id: str) -> ChannelWatch:
        watch = self._watches[channel_id] = ChannelWatch(channel_id)
        return watch

    def unwatch(self, channel_id: str) -> None:
        self._watches.pop(channel_id, None)

    def knows(self, ari_id: str) -> bool:
        """A channel or bridge id of a live call or probe here: reconcile leaves these alone. A call
        being torn down is deleting its own, and reconcile may finish the job if that fails."""
        if ari_id in self._watches:
            return True
        if ari_id in self._pairs or any(p.bridge_id == ari_id for p in self._pairs.values()):
            return True
        call = self._channels.get(ari_id)
        if call is not None:
            return not call.tearing_down
        return any(c.bridge_id == ari_id and not c.tearing_down for c in self.calls.values())

    # --- events -----------------------------------------------------------------------------
    async def on_event(self, event: AriEvent) -> None:
        channel = getattr(event, "channel", None)
        watch = self._watches.get(channel.id) if channel is not None else None
        if watch is not None:
            if isinstance(event, StasisStart):
                watch.started.set()
            elif isinstance(event, ChannelDestroyed):
                watch.destroyed = event
                watch.gone.set()
            elif isinstance(event, StasisEnd):
                watch.gone.set()
            return
        if isinstance(event, Dial):
            self._on_transfer_dial(event)
            return
        if channel is not None and channel.id in self._pairs:
            if isinstance(event, (StasisEnd, ChannelDestroyed)):
                self._end_pair(self._pairs[channel.id], channel.id)
            return
        if channel is not None and self._on_transfer_leg(event, channel.id):
            return
        if isinstance(event, StasisStart):
            call = self._channels.get(event.channel.id)
            if call is not None:
                if event.channel.id == call.media_id:
                    call.media_started.set()
                return
            if event.args[:1] == (TRANSFER_APP_ARG,):
                # a transfer target that answered after we gave up on it
                log.info("hanging up a late transfer target channel=%s", event.channel.id)
                self._spawn(self._hang_up_quietly(event.channel.id), f"late-target-{event.channel.id}")
                return
            self._start_inbound(event)
        elif isinstance(event, ChannelHangupRequest):
            self._on_hangup_request(event)
        elif isinstance(event, StasisEnd):
            self._on_gone(event.channel.id, "left the Stasis app", None)
        elif isinstance(event, ChannelDestroyed):
            self._on_gone(event.channel.id, f"destroyed: {event.cause} {event.cause_txt}", event)
        elif isinstance(event, ChannelDtmfReceived):
            call = self._channels.get(event.channel.id)
            if call is not None and call.session is not None and event.channel.id == call.channel_id:
                call.session.dtmf(event.digit, "ari")

    def _on_hangup_request(self, event: ChannelHangupRequest) -> None:
        call = self._channels.get(event.channel.id)
        if call is None or call.tearing_down:
            return
        if event.soft and event.cause == SHUTDOWN_FLAG:
            self._request_end(call, CallEnd("failed", "Asterisk is shutting down or restarting",
                                            "asterisk-shutdown", "shutdown"))
        elif event.channel.id == call.channel_id and not event.soft:
            self._request_end(call, CallEnd("completed", call.far_end_hung_up, None, f"cause {event.cause}"))

    def _on_gone(self, channel_id: str, what: str, destroyed: ChannelDestroyed | None) -> None:
        call = self._channels.get(channel_id)
        if call is None or call.tearing_down:
            return
        if channel_id == call.channel_id:
            if call.transferred_to is None:
                self._request_end(call, CallEnd("completed", call.far_end_hung_up, None, what))
        elif not call.media_started.is_set() and destroyed is not None:
            self._request_end(call, CallEnd(
                "failed",
                f"Asterisk could not open the media WebSocket (cause {destroyed.cause} {destroyed.cause_txt}): "
                "check that the uri in websocket_client.conf reaches Switchboard",
                "media-connect-failed", what,
            ))
        else:
            self._request_end(call, CallEnd("failed", f"the media channel ended ({what})", "media-channel-ended"))

    def _request_end(self, call: Call, end: CallEnd) -> None:
        if call.end is None:
            call.end = end
        if call.task is not None and not call.tearing_down and call.task is not asyncio.current_task():
            call.task.cancel()

    # --- inbound ----------------------------------------------------------------------------
    def _start_inbound(self, event: StasisStart) -> None:
        channel = event.channel
        call = Call(channel.id, self.config.id, self.config.organization_id, channel.caller_number,
                    channel.exten)
        self.calls[channel.id] = call
        self._channels[channel.id] = call
        call.task = asyncio.create_task(self._lifecycle(call), name=f"call-{channel.id}")

    def register(self, call: Call) -> None:
        """Our own call (an outbound originate): its channel is known before Asterisk creates it."""
        self.calls[call.channel_id] = call
        self._channels[call.channel_id] = call

    async def _lifecycle(self, call: Call, body: Callable[[Call], Awaitable[None]] | None = None) -> None:
        """Run `body` (inbound set-up by default), record how it ended, and always tear down."""
        self.stats.call_started(call.direction)
        try:
            await (body or self._setup_and_talk)(call)
        except asyncio.CancelledError:
            pass  # ended by an event; call.end says why
        except Refusal as refusal:
            log.warning("inbound call refused error_id=%s config=%s extension=%s channel=%s: %s",
                        refusal.error_id, self.config.id, call.called, call.channel_id, refusal.message)
            await self._refuse(call, refusal)
        except _Fail as fail:
            log.warning("call failed error_id=%s %s: %s", fail.error_id, call.label, fail.message)
            self._request_end(call, CallEnd("failed", fail.message, fail.error_id))
        except AriError as exc:
            log.warning("call failed error_id=%s %s: %s", exc.error_id, call.label, exc)
            self._request_end(call, CallEnd("failed", f"Asterisk refused a request: {exc}", exc.error_id))
        except sqlite3.Error as exc:  # busy, read-only or full: not a bug, and the PBX can fail over
            await self._database_unavailable(call, exc)
        except Exception as exc:  # a bug must still hang up and record why
            log.exception("call failed error_id=call-internal %s", call.label)
            self._request_end(call, CallEnd("failed", f"internal error: {exc}", "call-internal"))
        finally:
            await asyncio.shield(self._teardown(call))

    async def _setup_and_talk(self, call: Call) -> None:
        config = await self.store.configs.get_any(self.config.id) or self.config
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
            call.end = CallEnd("rejected", refusal, "quota-exceeded")
            raise Refusal("quota-exceeded", refusal, "congestion")
        log.info("inbound call accepted %s extension=%s workflow=%s", call.label, call.called, route.workflow.id)
        await self.rest.answer(call.channel_id)
        await self.store.runs.set_status(run.id, "in_progress", answered=True)
        await self._talk(call, config, route.workflow.id, route.workflow.definition, context)

    async def _talk(self, call: Call, config: TelephonyConfig, workflow_id: int, definition: dict[str, Any],
                    context: dict[str, Any]) -> None:
        """The answered part, the same for both directions: external media, bridge, the agent."""
        session = await self._connect_media(call, config, workflow_id)
        session.controls = _Controls(self, call)
        call.session = session
        if definition.get("recording"):
            await self._start_recording(call, session)
        if call.end is not None:
            # Ended while connecting, and the cancellation was lost: Python 3.11's wait_for returns
            # the result when it completes together with a cancel. Never start the agent then.
            return
        result = await self.agent(session, definition, context, self._sink(call))
        if call.end is None:
            if session.closed and call.transferred_to is None and result.status != "completed":
                call.end = CallEnd("failed", f"media connection closed: {session.close_reason}", "media-closed")
            else:
                call.end = CallEnd(result.status, result.reason)

    async def _connect_media(self, call: Call, config: TelephonyConfig, workflow_id: int) -> MediaSession:
        assert call.run_id is not None
        call.media_id = new_channel_id("m")
        self._channels[call.media_id] = call
        call.pending = self.registry.expect(call.media_id, run_id=call.run_id, workflow_id=workflow_id,
                                            config_id=config.id)
        transport_data = build_transport_data({
            "workflow_id": str(workflow_id), "user_id": str(config.organization_id),
            "workflow_run_id": str(call.run_id),
        })
        await self.rest.external_media(channel_id=call.media_id, app=config.stasis_app_name,
                                       external_host=config.websocket_client_name, transport_data=transport_data)
        try:
            await asyncio.wait_for(call.media_started.wait(), self.timing.media_timeout_s)
        except TimeoutError:
            raise _Fail("media-no-stasis-start", (
                f"the external media channel never entered the Stasis app within {self.timing.media_timeout_s:g} s: "
                "check websocket_client.conf (its uri must reach Switchboard's /api/v1/telephony/ws/ari)"
            )) from None
        call.bridge_id = new_channel_id("b")
        await self.rest.create_bridge(call.bridge_id, "mixing", name=f"switchboard-run-{call.run_id}")
        await self.rest.add_to_bridge(call.bridge_id, [call.channel_id, call.media_id])
        try:
            return await asyncio.wait_for(asyncio.shield(call.pending.connected), self.timing.media_timeout_s)
        except TimeoutError:
            raise _Fail("media-no-socket", (
                f"no media WebSocket arrived within {self.timing.media_timeout_s:g} s: check that the uri in "
                "websocket_client.conf points at this server's /api/v1/telephony/ws/ari"
            )) from None

    async def _database_unavailable(self, call: Call, exc: sqlite3.Error) -> None:
        """Before the run exists: refuse like a full quota (congestion). Later: the call fails."""
        if call.run_id is None:
            log.warning("call refused error_id=db-unavailable %s: the database cannot be written: %s", call.label, exc)
            call.end = CallEnd("rejected", f"the database cannot be written: {exc}", "db-unavailable")
            await self._safely(call, "hang up the refused call", self.rest.hangup(call.channel_id, "congestion"))
        else:
            log.warning("call failed error_id=db-unavailable %s: the database cannot be written: %s", call.label, exc)
            self._request_end(call, CallEnd("failed", f"the database cannot be written: {exc}", "db-unavailable"))

    async def _start_recording(self, call: Call, session: MediaSession) -> None:
        """The workflow asks for a recording: tap the session (a failure only loses the audio)."""
        path = recordings_dir(self.store.db.path) / f"run-{call.run_id}.wav"
        try:
            call.recorder = await Recorder.start(path)
        except OSError as exc:
            log.warning("cannot record the call error_id=recording-failed %s: %s", call.label, exc)
            return
        session.recorder = call.recorder

    async def _save_recording(self, call: Call, recorder: Recorder) -> None:
        seconds = await recorder.close()
        if seconds is not None and call.run_id is not None:
            try:
                await self.store.runs.set_recording(call.run_id, recorder.path.name, round(seconds, 3))
            except sqlite3.Error as exc:  # the file stays; the retention sweep removes it as an orphan
                log.warning("could not record the recording error_id=db-unavailable %s: %s", call.label, exc)

    def _sink(self, call: Call) -> EventSink:
        async def record(kind: str, role: str | None, text: str | None, data: dict[str, Any]) -> None:
            if kind == "latency":
                self.stats.observe_latency(data)
            if call.run_id is not None:
                try:
                    await self.store.runs.add_event(call.run_id, kind, role=role, text=text, data=data)
                except sqlite3.Error as exc:  # the call goes on; only this entry is lost
                    log.warning("could not record a %s event error_id=db-unavailable %s: %s", kind, call.label, exc)

        return record

    async def _refuse(self, call: Call, refusal: Refusal) -> None:
        if call.run_id is None:
            try:
                run = await self.store.runs.create(
                    org_id=self.config.organization_id, workflow_id=None, direction="inbound", status="rejected",
                    telephony_configuration_id=self.config.id, call_id=call.channel_id, caller_number=call.caller,
                    called_number=call.called, reason=refusal.message, error_id=refusal.error_id,
                )
                call.run_id = run.id
            except sqlite3.Error as exc:  # still refuse; only the record is lost
                log.warning("could not record the refused call error_id=db-unavailable %s: %s", call.label, exc)
        call.end = CallEnd("rejected", refusal.message, refusal.error_id)
        await self._safely(call, "hang up the refused call", self.rest.hangup(call.channel_id, refusal.hangup_reason))

    # --- ending -----------------------------------------------------------------------------
    async def _teardown(self, call: Call) -> None:
        call.tearing_down = True
        end = call.end or CallEnd("failed", "call ended without a reason", "call-internal")
        try:
            if call.media_id is not None:
                self.registry.discard(call.media_id)
            if call.session is not None:
                await call.session.close(1000, end.reason)
            if call.recorder is not None:
                await self._save_recording(call, call.recorder)
            if call.transferred_to is None and end.status != "rejected":
                await self._safely(call, "hang up the caller", self.rest.hangup(call.channel_id))
            if call.media_id is not None:
                await self._safely(call, "hang up the media channel", self.rest.hangup(call.media_id))
            if call.target is not None:
                await self._safely(call, "hang up the transfer target", self.rest.hangup(call.target.channel_id))
            if call.bridge_id is not None and call.channel_id not in self._pairs:
                await self._safely(call, "delete the bridge", self.rest.delete_bridge(call.bridge_id))
            if call.run_id is not None:
                await self._finish_run(call, end)
            log.info("call ended %s status=%s reason=%s", call.label, end.status, end.reason)
        except Exception:
            log.exception("teardown failed error_id=teardown-failed %s", call.label)
        finally:
            for channel_id in (call.channel_id, call.media_id, call.target.channel_id if call.target else None):
                if channel_id is not None:
                    self._channels.pop(channel_id, None)
            self.calls.pop(call.channel_id, None)
            self.stats.call_ended(end.status, call.session.stats if call.session is not None else None)
            call.done.set()

    async def _finish_run(self, call: Call, end: CallEnd, delays: tuple[float, ...] = FINISH_RETRY_DELAYS_S) -> None:
        """Record the end; while the database cannot be written, keep retrying in the background
        (the open row holds a quota slot, so it must not stay open)."""
        assert call.run_id is not None
        for attempt, delay in enumerate((None, *delays)):
            if delay is not None:
                await asyncio.sleep(delay)
            try:
                await self.store.runs.finish(call.run_id, end.status, end.reason, error_id=end.error_id,
                                             hangup_cause=end.cause)
            except sqlite3.Error as exc:
                if attempt == 0:
                    log.warning("could not record the end of the call error_id=db-unavailable %s: %s; retrying",
                                call.label, exc)
                    task = asyncio.get_running_loop().create_task(self._finish_run(call, end, delays[1:]),
                                                                  name=f"finish-run-{call.run_id}")
                    self._finishing.add(task)
                    task.add_done_callback(self._finishing.discard)
                    return
                continue
            except Exception:  # the store was closed (shutdown): the next start closes the run
                return
            if attempt:
                log.info("recorded the end of the call after the database came back %s", call.label)
            return
        log.error("gave up recording the end of the call error_id=db-unavailable %s: the next start closes "
                  "the run as failed", call.label)

    async def _safely(self, call: Call, what: str, request: Awaitable[Any]) -> None:
        try:
            await asyncio.wait_for(request, self.timing.rest_timeout_s)
        except (AriError, TimeoutError) as exc:
            log.warning("could not %s error_id=%s %s: %s", what, getattr(exc, "error_id", "ari-timeout"),
                        call.label, exc)

    def hang_up(self, run_id: int, reason: str) -> bool:
        """End the live call of this run (the admin's Hang up button); False when there is none."""
        for call in list(self.calls.values()):
            if call.run_id == run_id and not call.tearing_down:
                log.info("hang-up requested %s reason=%s", call.label, reason)
                self._request_end(call, CallEnd("completed", reason))
                return True
        return False

    async def end_all(self, status: str, reason: str, error_id: str) -> None:
        """End every live call (link lost, configuration removed, shutdown) and wait for teardown."""
        calls = list(self.calls.values())
        for call in calls:
            self._request_end(call, CallEnd(status, reason, error_id))
        for call in calls:
            await call.done.wait()

    async def transfer(self, call: Call, extension: str) -> None:
        config = await self.store.configs.get_any(self.config.id) or self.config
        call.transferred_to = extension
        try:
            await self.rest.continue_in_dialplan(call.channel_id, config.transfer_context, extension, 1)
        except AriError:
            call.transferred_to = None
            raise
        if call.run_id is not None:
            await self.store.runs.add_event(call.run_id, "action", role="agent", text=f"transfer to {extension}",
                                            data={"extension": extension, "context": config.transfer_context})
        call.end = call.end or CallEnd("completed", f"transferred to {extension}")

    async def attended_transfer(self, call: Call, extension: str, timeout_s: float) -> tuple[bool, str]:
        """Ring `extension`; on answer bridge it with the caller and drop the agent (True). Not
        answered, busy or failed: the target leg is hung up and the agent keeps the call
        (False, why)."""
        if call.bridge_id is None or call.target is not None or call.end is not None:
            return False, "the call cannot be transferred now"
        config = await self.store.configs.get_any(self.config.id) or self.config
        try:
            endpoint = endpoint_for(config.dial_template, extension)
        except DialError as exc:
            return False, exc.message
        ring_s = max(1, round(timeout_s))
        leg = call.target = TransferLeg(new_channel_id("o"), extension)
        self._channels[leg.channel_id] = call  # before the request: its events may overtake the response
        far_end = call.caller if call.direction == "inbound" else call.called
        log.info("attended transfer %s to %s endpoint=%s target=%s", call.label, extension, endpoint, leg.channel_id)
        bridged = False
        try:
            try:
                await asyncio.wait_for(self.rest.originate(
                    endpoint=endpoint, app=config.stasis_app_name,
                    app_args=[TRANSFER_APP_ARG, f"run={call.run_id}"],
                    caller_id=caller_id_param(far_end) if far_end else None, timeout=ring_s,
                    channel_id=leg.channel_id,
                ), self.timing.rest_timeout_s)
            except (AriError, TimeoutError) as exc:
                return False, f"Asterisk could not dial {endpoint}: {exc}"
            answered = asyncio.ensure_future(leg.answered.wait())
            gone = asyncio.ensure_future(leg.gone.wait())
            try:
                await asyncio.wait({answered, gone}, timeout=ring_s + TRANSFER_GRACE_S,
                                   return_when=asyncio.FIRST_COMPLETED)
            finally:
                answered.cancel()
                gone.cancel()
            if not leg.answered.is_set() or leg.gone.is_set():
                return False, leg.outcome or f"no answer within {ring_s} s"
            try:
                await asyncio.wait_for(self.rest.add_to_bridge(call.bridge_id, leg.channel_id),
                                       self.timing.rest_timeout_s)
            except (AriError, TimeoutError) as exc:
                return False, f"could not bridge {extension}: {exc}"
            if leg.gone.is_set():  # hung up while being connected: the agent keeps the caller
                return False, leg.outcome or f"{extension} hung up as it was connected"
            bridged = True
        finally:
            if not bridged:
                await asyncio.shield(self._drop_target(call, leg))
        self._bridged(call, leg, extension)
        await self._drop_agent(call, extension, leg.channel_id)
        return True, ""

    def _bridged(self, call: Call, leg: TransferLeg, extension: str) -> None:
        """The target is in the caller's bridge: hand the pair over, then drop the agent's leg."""
        assert call.bridge_id is not None
        call.target = None
        self._channels.pop(leg.channel_id, None)
        pair = BridgedPair(call.bridge_id, (call.channel_id, leg.channel_id), call.label)
        for channel_id in pair.channels:
            self._pairs[channel_id] = pair
        call.transferred_to = extension
        call.end = call.end or CallEnd("completed", f"transferred to {extension} (attended)")
        if call.media_id is not None:
            self._channels.pop(call.media_id, None)  # its StasisEnd is expected now, not a failure
        log.info("attended transfer answered %s target=%s bridge=%s", call.label, leg.channel_id, call.bridge_id)

    async def _drop_agent(self, call: Call, extension: str, target_id: str) -> None:
        if call.run_id is not None:
            try:
                await self.store.runs.add_event(call.run_id, "action", role="agent",
                                                text=f"transfer to {extension} (attended)",
                                                data={"extension": extension, "mode": "attended",
                                                      "target_channel": target_id})
            except sqlite3.Error as exc:
                log.warning("could not record the transfer error_id=db-unavailable %s: %s", call.label, exc)
        if call.media_id is not None and call.bridge_id is not None:
            await self._safely(call, "remove the agent from the bridge",
                               self.rest.remove_from_bridge(call.bridge_id, call.media_id))
            await self._safely(call, "hang up the media channel", self.rest.hangup(call.media_id))
        if call.session is not None:
            await call.session.close(1000, f"transferred to {extension}")

    async def _drop_target(self, call: Call, leg: TransferLeg) -> None:
        await self._safely(call, "hang up the transfer target", self.rest.hangup(leg.channel_id))
        self._channels.pop(leg.channel_id, None)
        if call.target is leg:
            call.target = None

    def _on_transfer_leg(self, event: AriEvent, channel_id: str) -> bool:
        """Events of a ringing transfer target; True when handled."""
        call = self._channels.get(channel_id)
        leg = call.target if call is not None else None
        if leg is None or leg.channel_id != channel_id:
            return False
        if isinstance(event, StasisStart):
            leg.answered.set()
        elif isinstance(event, (StasisEnd, ChannelDestroyed)):
            if isinstance(event, ChannelDestroyed) and not leg.outcome:
                leg.outcome = _leg_outcome("", event.cause, event.cause_txt)
            leg.gone.set()
        return True

    def _on_transfer_dial(self, event: Dial) -> None:
        call = self._channels.get(event.peer.id)
        leg = call.target if call is not None else None
        if leg is None or leg.channel_id != event.peer.id:
            return
        status = event.dialstatus.upper()
        if status in TRANSFER_FINAL_DIAL and not leg.answered.is_set():
            leg.outcome = _leg_outcome(status, None, "")
            leg.gone.set()

    def _end_pair(self, pair: BridgedPair, left: str) -> None:
        """One side of a transferred pair left: hang up the other and delete the bridge."""
        if pair.ending:
            return
        pair.ending = True
        for channel_id in pair.channels:
            self._pairs.pop(channel_id, None)
        others = [c for c in pair.channels if c != left]

        async def finish() -> None:
            for other in others:
                await self._hang_up_quietly(other)
            with contextlib.suppress(AriError, TimeoutError):
                await asyncio.wait_for(self.rest.delete_bridge(pair.bridge_id), self.timing.rest_timeout_s)
            log.info("transferred call ended %s (%s left)", pair.label, left)

        self._spawn(finish(), f"end-pair-{pair.bridge_id}")

    async def _hang_up_quietly(self, channel_id: str) -> None:
        with contextlib.suppress(AriError, TimeoutError):
            await asyncio.wait_for(self.rest.hangup(channel_id), self.timing.rest_timeout_s)

    def _spawn(self, coro: Awaitable[None], name: str) -> None:
        task = asyncio.ensure_future(coro)
        task.set_name(name)
        self._background.add(task)
        task.add_done_callback(self._background.discard)


def _leg_outcome(dial_status: str, cause: int | None, cause_txt: str) -> str:
    if dial_status == "BUSY" or cause == 17:
        return "the extension is busy"
    if dial_status == "NOANSWER" or cause in (18, 19):
        return "no answer"
    if dial_status in ("CHANUNAVAIL", "CONGESTION") or cause in (20, 27, 34, 38):
        return "the extension is unavailable"
    if dial_status:
        return f"the call failed (Dial {dial_status})"
    return f"the call ended before it was answered (cause {cause} {cause_txt})".strip()


class _Fail(Exception):
    def __init__(self, error_id: str, message: str) -> None:
        super().__init__(message)
        self.error_id = error_id
        self.message = message


class _Controls:
    """What the agent may do to its call (media.session.CallControls)."""

    def __init__(self, control: CallControl, call: Call) -> None:
        self.control = control
        self.call = call

    async def hangup(self, reason: str) -> None:
        if self.call.end is None:
            self.call.end = CallEnd("completed", f"agent hung up: {reason}" if reason else "agent hung up")
        if self.call.session is not None:
            await self.call.session.close(1000, "agent hung up")

    async def transfer(self, extension: str, *, attended: bool = False, timeout_s: float = 20.0) -> bool:
        """Blind: hand the caller to the dialplan (True, or AriError). Attended: ring the target and
        bridge it on answer (True); False when it was not answered (the agent keeps the call)."""
        if not attended:
            await self.control.transfer(self.call, extension)
            return True
        ok, why = await self.control.attended_transfer(self.call, extension, timeout_s)
        if self.call.session is not None:
            self.call.session.transfer_failure = "" if ok else why
        if not ok:
            log.info("attended transfer not completed %s to %s: %s", self.call.label, extension, why)
        return ok
