"""Outbound calls of one configuration: originate, follow the dial, start the agent on answer.

    dialer = Dialer(control)                           # beside the configuration's CallControl
    result = await dialer.start(workflow, to="6001")   # DialResult(run_id=…) or (error_id, message)
    dialer.cancel(run_id)                              # hang up; `canceled` while it rings

Sequence (ARCHITECTURE.md, "Outbound call"; traces in `asterisk-traces/outbound.jsonl`):
1. The dial string and caller id are checked (`ari.dialstring`), then the quota: the run is created
   `ringing` within the organisation's limit, so the slot is held while the phone rings.
2. The channel id is pre-assigned (`sbo-…`) and its `Outbound` registered as the owner of its
   events (`CallControl.launch`) before `POST /channels` (appArgs `switchboard,run=<id>`), so
   every event is matched, even one that overtakes the HTTP response. Once answered, it hands
   every event to the call (`ari.call.Call.on_event`), as for an inbound call.
3. Progress is recorded as run events (`progress`: dialling, ringing, early media, answered).
   `Dial RINGING`/`PROGRESS` and early media never start anything: the agent starts on our
   channel's `StasisStart`, which Asterisk sends only once the callee answered; from there the
   path is the inbound one (`CallControl.talk`: external media, bridge, agent).
4. Outcomes before answer: `Dial.dialstatus` first (BUSY → `busy`: the `;1` cause is 0 then),
   else the `ChannelDestroyed` cause (19 → `no-answer`; 0 without any Dial → `failed`, no such
   extension); `POST /channels` refused (500 "Allocation failed") → `failed` with Asterisk's
   message; `cancel()` → `canceled`. Each ends through `CallControl.end` and the call's
   teardown, which finishes the run and so releases the slot at once.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import Any

from ari.call import OUTBOUND_APP_ARG, SHUTDOWN_FLAG, Call, CallEnd, new_channel_id
from ari.calls import CallControl
from ari.dialstring import DialError, DialPlan, caller_id_param, plan_dial
from ari.errors import AriError, AriHttpError
from ari.events import AriEvent, ChannelDestroyed, ChannelHangupRequest, ChannelStateChange, Dial, StasisStart
from data.models import TelephonyConfig, Workflow
from data.store import Store

log = logging.getLogger("switchboard.ari.outbound")

DEFAULT_RING_TIMEOUT_S = 30
ANSWER_GRACE_S = 10.0  # beyond the ring timeout, before we stop waiting for Asterisk to report
FINAL_DIAL_STATUSES = frozenset({"BUSY", "NOANSWER", "CANCEL", "CONGESTION", "CHANUNAVAIL"})


@dataclass(frozen=True)
class DialResult:
    """What `start` did: a run id, or why nothing was dialled (`field` = the request field to blame)."""

    run_id: int | None = None
    error_id: str | None = None
    message: str | None = None
    field: str | None = None


def outcome_before_answer(dial_status: str, cause: int | None, cause_txt: str, *, dialled: bool,
                          timeout_s: int) -> CallEnd:
    """How a call that ended before it was answered is recorded (pure; see the module docstring)."""
    status = dial_status.upper()
    why = f"cause {cause} {cause_txt}".strip() if cause is not None else f"Dial {status}"
    if status == "BUSY" or cause == 17:
        return CallEnd("busy", "the called party is busy", None, why)
    if status == "NOANSWER" or cause in (18, 19):
        return CallEnd("no-answer", f"no answer within {timeout_s} s", None, why)
    if status == "CANCEL":
        return CallEnd("canceled", "the call was canceled before it was answered", None, why)
    if status == "CONGESTION" or cause in (34, 38, 41, 42):
        return CallEnd("failed", f"the network or the PBX is congested ({why})", "dial-congestion", why)
    if status == "CHANUNAVAIL" or cause in (20, 27):
        return CallEnd("failed", f"the destination is unavailable, e.g. not registered ({why})",
                       "dial-unavailable", why)
    if cause in (1, 3, 28):
        return CallEnd("failed", f"the number does not exist ({why})", "dial-unallocated", why)
    if cause == 21:
        return CallEnd("failed", f"the call was rejected ({why})", "dial-rejected", why)
    if not dialled and not cause:
        return CallEnd("failed", (
            f"Asterisk ended the call at once, before dialling ({why}): no such extension in that "
            "dialplan context, or the dial template points at the wrong context"
        ), "no-such-destination", why)
    return CallEnd("failed", f"the call ended before it was answered ({why})", "dial-failed", why)


@dataclass(eq=False)
class Outbound:
    """One outbound call from originate to answer; owns its channel's events until then."""

    control: CallControl
    call: Call
    workflow: Workflow
    plan: DialPlan
    to: str
    timeout_s: int
    context: dict[str, Any]
    config: TelephonyConfig
    answered: asyncio.Event = field(default_factory=asyncio.Event)
    ringing: bool = False
    early_media: bool = False
    dial_status: str = ""
    dialled: bool = False  # Asterisk reported a Dial (the destination exists)
    originate: asyncio.Task[Any] | None = None

    @property
    def store(self) -> Store:
        return self.control.store

    @property
    def active(self) -> bool:
        return self.call.live

    @property
    def bridge_id(self) -> str | None:
        return self.call.bridge_id

    async def dial_and_talk(self, call: Call) -> None:
        """The call's body: originate, wait for the answer, then the answered part."""
        await self._progress("dialling", f"dialling {self.plan.endpoint}",
                             {"endpoint": self.plan.endpoint, "caller_id": self.plan.caller_id,
                              "timeout_s": self.timeout_s})
        self.originate = asyncio.ensure_future(self.control.rest.originate(
            endpoint=self.plan.endpoint, app=self.config.stasis_app_name,
            app_args=[OUTBOUND_APP_ARG, f"run={call.run_id}"],
            caller_id=caller_id_param(self.plan.caller_id) if self.plan.caller_id else None,
            timeout=self.timeout_s, channel_id=call.channel_id,
        ))
        try:
            await _settled(self.originate)
        except AriError as exc:
            call.settle(_refused(self.plan, exc))
            log.warning("originate failed error_id=%s %s: %s", call.end.error_id if call.end else None, call.label,
                        exc)
            return
        try:
            await asyncio.wait_for(self.answered.wait(), self.timeout_s + ANSWER_GRACE_S)
        except TimeoutError:
            call.settle(CallEnd("no-answer", (
                f"no answer within {self.timeout_s} s (Asterisk reported no outcome; hung up)"), "no-outcome"))
            return
        assert call.run_id is not None
        await self.store.runs.set_status(call.run_id, "in_progress", answered=True)
        await self._progress("answered", "answered", {})
        await self.control.talk(call, self.config, self.workflow.id, self.workflow.definition, self.context)

    # --- its channel's events ------------------------------------------------------------------
    async def on_event(self, event: AriEvent) -> None:
        if not self.call.live:
            return  # our own hang-up's echoes
        if isinstance(event, Dial):
            await self._on_dial(event)
        elif isinstance(event, StasisStart):
            self.answered.set()  # our channel enters the app only once the callee answered
        elif isinstance(event, ChannelStateChange):
            if event.channel.state == "Ringing":
                await self._ringing()
        elif self.answered.is_set():
            await self.call.on_event(event)  # from here on, a call like any other
        elif isinstance(event, ChannelHangupRequest):
            # Before answer the outcome comes with Dial/ChannelDestroyed; a shutdown is the call's.
            if event.soft and event.cause == SHUTDOWN_FLAG:
                await self.call.on_event(event)
        elif isinstance(event, ChannelDestroyed):
            self._end(outcome_before_answer(self.dial_status, event.cause, event.cause_txt,
                                            dialled=self.dialled, timeout_s=self.timeout_s))
        else:
            await self.call.on_event(event)

    async def _on_dial(self, event: Dial) -> None:
        self.dialled = True
        status = event.dialstatus.upper()
        if status:
            self.dial_status = status
        if status == "RINGING":
            await self._ringing()
        elif status == "PROGRESS" and not self.early_media and not self.answered.is_set():
            self.early_media = True
            await self._progress("early-media", "early media (the agent waits for the answer)", {})
        elif status in FINAL_DIAL_STATUSES and not self.answered.is_set():
            self._end(outcome_before_answer(status, None, "", dialled=True, timeout_s=self.timeout_s))

    async def _ringing(self) -> None:
        if not self.ringing and not self.answered.is_set():
            self.ringing = True
            await self._progress("ringing", "ringing", {})

    def _end(self, end: CallEnd) -> None:
        if self.call.end is None:
            log.info("outbound call not answered %s status=%s reason=%s", self.call.label, end.status, end.reason)
        self.control.end(self.call, end)

    async def _progress(self, phase: str, text: str, data: dict[str, Any]) -> None:
        """Best effort: a progress line the database cannot take must not stop the call."""
        if self.call.run_id is None:
            return
        try:
            await self.store.runs.add_event(self.call.run_id, "progress", text=text, data={"phase": phase, **data})
        except Exception as exc:
            log.warning("could not record progress error_id=progress-not-recorded %s phase=%s: %s",
                        self.call.label, phase, exc)


class Dialer:
    def __init__(self, control: CallControl, *, ring_timeout_s: int = DEFAULT_RING_TIMEOUT_S) -> None:
        self.control = control
        self.ring_timeout_s = ring_timeout_s
        self.calls: dict[str, Outbound] = {}  # our originated channel id → its dial

    @property
    def store(self) -> Store:
        return self.control.store

    async def start(self, workflow: Workflow, to: str, from_extension: str | None = None,
                    timeout_s: int | None = None) -> DialResult:
        config = await self.control.current_config()
        if not config.enabled:
            return DialResult(error_id="config-disabled", message=(
                f"the configuration {config.name!r} is disabled: enable it to place calls"))
        try:
            plan = plan_dial(config.dial_template, to, config.from_extensions, from_extension)
        except DialError as exc:
            return DialResult(error_id=exc.error_id, message=exc.message, field=exc.field)
        timeout = timeout_s or self.ring_timeout_s
        caller = plan.caller_id or ""
        call = Call(new_channel_id("o"), config.id, config.organization_id, caller, to, direction="outbound")
        context = {"caller_number": caller, "called_number": to, "direction": "outbound",
                   "call_id": call.channel_id, "provider": "ari"}
        run, refusal = await self.store.runs.create_within_quota(
            org_id=config.organization_id, workflow_id=workflow.id, direction="outbound", status="ringing",
            telephony_configuration_id=config.id, call_id=call.channel_id, caller_number=caller,
            called_number=to, context=context,
        )
        if refusal is not None:
            log.warning("outbound call refused error_id=quota-exceeded config=%s run=%s: %s", config.id, run.id,
                        refusal)
            return DialResult(run_id=run.id, error_id="quota-exceeded", message=refusal)
        call.run_id = run.id
        dial = Outbound(self.control, call, workflow, plan, to, timeout, context, config)
        self.calls[call.channel_id] = dial
        task = self.control.launch(call, dial.dial_and_talk, owner=dial)  # before the request: see the docstring
        task.add_done_callback(lambda _: self.calls.pop(call.channel_id, None))
        log.info("outbound call %s endpoint=%s caller_id=%s workflow=%s", call.label, plan.endpoint, caller,
                 workflow.id)
        return DialResult(run_id=run.id)

    def find(self, run_id: int) -> Outbound | None:
        return next((d for d in self.calls.values() if d.call.run_id == run_id), None)

    def cancel(self, run_id: int) -> bool:
        """Hang up a call of ours: `canceled` while it rings, `completed` once answered."""
        dial = self.find(run_id)
        if dial is None or not dial.call.live:
            return False
        if dial.answered.is_set():
            end = CallEnd("completed", "hung up from Switchboard")
        else:
            end = CallEnd("canceled", "canceled before the call was answered")
        log.info("outbound call cancel requested %s", dial.call.label)
        self.control.end(dial.call, end)
        return True


async def _settled(request: asyncio.Future[Any]) -> Any:
    """Await a request; if cancelled meanwhile, still let it finish first, so the teardown's
    hang-up finds the channel it created (a channel created after our hang-up would ring on)."""
    try:
        return await asyncio.shield(request)
    except asyncio.CancelledError:
        while not request.done():
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait([request], timeout=10.0)
                break
        if request.done() and not request.cancelled():
            request.exception()  # retrieved: the call is ending anyway
        raise


def _refused(plan: DialPlan, exc: AriError) -> CallEnd:
    said = exc.asterisk_message if isinstance(exc, AriHttpError) and exc.asterisk_message else exc.message
    status = f" (HTTP {exc.status_code})" if isinstance(exc, AriHttpError) else ""
    return CallEnd("failed", (
        f"Asterisk could not dial {plan.endpoint}: {said}{status}. Check the destination and the "
        "configuration's dial template (the technology, e.g. PJSIP, and the endpoint or trunk must exist)"
    ), "originate-failed", said)
