"""Outbound calls (ARI originate): the scripted far end per destination, and their hangups."""
from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from . import events as ev
from .callers import FarEnd
from .codecs import ULAW
from .errors import AriError, alloc_failed
from .model import Channel, Kind
from .options import parse_caller_id
from .outbound import OutboundBehavior, Outcome

if TYPE_CHECKING:
    from .core import FakeAsterisk

KNOWN_TECHS = frozenset({"Local", "PJSIP", "SIP", "IAX2", "DAHDI"})


class OriginateMixin:
    def originate(
        self: FakeAsterisk, params: dict[str, str], variables: dict[str, str], channel_id: str | None = None
    ) -> dict[str, Any]:
        channel_id = channel_id or params.get("channelId")
        other_id = params.get("otherChannelId")
        for cid in (channel_id, other_id):
            if cid and len(cid) > 128:
                raise AriError(400, "Bad Request", "Uniqueid length exceeds maximum of 128")
        endpoint = params.get("endpoint") or ""
        if not endpoint:
            raise AriError(400, "Bad Request", "Endpoint must be specified")
        if params.get("originator") and params.get("formats"):
            raise AriError(400, "Bad Request", "Originator and formats can't both be specified")
        tech, _, resource = endpoint.partition("/")
        if not tech or not resource:
            raise AriError(400, "Bad Request", "Invalid endpoint specified")
        app = params.get("app") or ""
        extension = params.get("extension") or ""
        if not app and not extension:
            raise AriError(400, "Bad Request", "Application or extension must be specified")
        if tech == "WebSocket":
            raise alloc_failed()
        if tech not in KNOWN_TECHS:
            raise alloc_failed()
        if self._id_in_use(channel_id) or self._id_in_use(other_id):
            raise AriError(409, "Conflict", "Channel with given unique ID already exists")
        try:
            timeout = int(params.get("timeout") or 30)
        except ValueError:
            timeout = 30
        cid_name, cid_number = parse_caller_id(params.get("callerId"))
        app_args = [a for a in (params.get("appArgs") or "").split(",")] if params.get("appArgs") else []
        number, _, context = resource.partition("@")
        behavior = self.outbound.lookup(endpoint)
        a = Channel(id=channel_id or self.ids.channel_id(), name="", kind=Kind.OUTBOUND, state="Down")
        a.caller_name = a.connected_name = cid_name
        a.caller_number = a.connected_number = cid_number
        a.app_name, a.app_data = "AppDial2", "(Outgoing Line)"
        b: Channel | None = None
        if tech == "Local":
            seq = self.ids.local_seq()
            a.name = f"Local/{resource}-{seq};1"
            a.context, a.exten, a.priority = context or "default", number, 1
            b = Channel(
                id=other_id or self.ids.channel_id(),
                name=f"Local/{resource}-{seq};2",
                kind=Kind.CALLEE,
                state="Ring",
                context=context or "default",
                exten=number,
                priority=1,
            )
            a.partner_id, b.partner_id = b.id, a.id
        else:
            a.name = f"{tech}/{resource.partition('@')[0]}-{self.ids.local_seq()}"
        for name, value in variables.items():
            a.set_var(name, value)
        a.data.update(app=app, app_args=app_args, dialstring=resource, behavior=behavior, timeout=timeout)
        leg = FarEnd(a.id, self.channel_read, self.now, ULAW, echo=False, tick_index=self.media_tick)
        a.leg = leg
        self._add_channel(a)
        if b is not None:
            self._add_channel(b)
        if app:
            a.apps = {app}
            if b is not None:
                b.apps = {app}
        body = a.snapshot()
        a.data["task"] = self.spawn(self._run_outbound(a, b, behavior, timeout, variables), name=f"outbound-{a.id}")
        return body

    async def _run_outbound(
        self: FakeAsterisk,
        a: Channel,
        b: Channel | None,
        behavior: OutboundBehavior,
        timeout: int,
        variables: dict[str, str],
    ) -> None:
        apps = a.apps
        dialstring = a.data["dialstring"]
        if b is not None:
            for name, value in variables.items():
                b.set_var(name, value)
                self.emit(ev.varset(b, name, value), apps)
            if a.caller_name or a.caller_number:
                b.caller_name, b.caller_number = a.caller_name, a.caller_number
                b.connected_name, b.connected_number = a.caller_name, a.caller_number
                self.emit(ev.caller_id(b), apps)
                self.emit(ev.connected_line(b), apps)
        outcome = behavior.outcome
        if outcome is Outcome.NO_SUCH_EXTENSION:
            if b is not None:
                self._destroy(b, 0)
            self._destroy(a, 0)
            return
        self.emit(ev.dial(a, "", dialstring), apps)

        def step(app_name: str, app_data: str, priority: int | None = None) -> None:
            if b is None:
                return
            b.app_name, b.app_data = app_name, app_data
            if priority is not None:
                b.priority = priority
            self.emit(ev.dialplan(b, app_name, app_data), apps)

        step("NoOp", f"Outbound callee {b.exten if b else ''}", 1)
        if outcome is Outcome.BUSY and behavior.ringing_s <= 0:
            step("Busy", "5", 2)
        else:
            step("Ringing", "", 2)
            a.state = "Ringing"
            self.emit(ev.state_change(a), apps)
            step("Wait", str(max(1, round(behavior.ringing_s))) if outcome is Outcome.ANSWER else "60", 3)
            self.emit(ev.dial(a, "RINGING", dialstring), apps)
            if behavior.early_media:
                self.emit(ev.dial(a, "PROGRESS", dialstring), apps)
            limit = timeout if timeout > 0 else None
            if outcome is Outcome.ANSWER:
                if limit is not None and behavior.ringing_s >= limit:
                    outcome = Outcome.NO_ANSWER
                else:
                    await asyncio.sleep(behavior.ringing_s)
            if outcome is Outcome.NO_ANSWER:
                await asyncio.sleep(limit if limit is not None else 3600 * 24)
                self._outbound_failed(a, b, dial_status=None, a_cause=19, b_request=19, b_cause=19)
                return
            if outcome in (Outcome.BUSY, Outcome.CONGESTION):
                await asyncio.sleep(behavior.ringing_s)
                if outcome is Outcome.BUSY:
                    step("Busy", "5")
        if a.destroyed or a.hanging_up:
            return
        if outcome is Outcome.BUSY:
            if b is not None:
                b.state = "Busy"
                self.emit(ev.state_change(b), apps)
            self._outbound_failed(a, b, dial_status="BUSY", a_cause=0, b_request=0, b_cause=17)
            return
        if outcome is Outcome.CONGESTION:
            self._outbound_failed(a, b, dial_status="CONGESTION", a_cause=34, b_request=34, b_cause=34)
            return
        # answered
        if b is not None:
            step("Answer", "", 4)
            b.state = "Up"
            self.emit(ev.state_change(b), apps)
        a.state = "Up"
        self.emit(ev.state_change(a), apps)
        self.emit(ev.dial(a, "ANSWER", dialstring), apps)
        app = a.data["app"]
        if not app:
            return
        a.app_name = "Stasis"
        a.app_data = ",".join([app, *a.data["app_args"]])
        a.set_var("STASISSTATUS", "")
        self.emit(ev.varset(a, "STASISSTATUS", ""), apps)
        a.stasis_app = app
        a.stasis_args = a.data["app_args"]
        self.emit(ev.stasis_start(a, a.stasis_args), apps)
        leg = a.leg
        assert leg is not None and self._clock is not None
        leg.echo = behavior.echo
        leg.active = True
        leg.clock_token = self._clock.add(leg.tick)
        if behavior.audio:
            leg.say(behavior.audio)
            if b is not None:
                step("Playback", "caller-audio", 5)
                b.data["playing"] = True
        elif behavior.echo:
            step("Echo", "", 5)

    def _outbound_failed(
        self: FakeAsterisk,
        a: Channel,
        b: Channel | None,
        *,
        dial_status: str | None,
        a_cause: int,
        b_request: int,
        b_cause: int,
    ) -> None:
        if a.destroyed or a.hanging_up:
            return
        a.hanging_up = True
        apps = a.apps
        if dial_status:
            self.emit(ev.dial(a, dial_status, a.data["dialstring"]), apps)
        if b is not None:
            self.emit(ev.hangup_request(b, b_request), apps)
        self._destroy(a, a_cause)
        if b is not None:
            self.emit(ev.hangup_request(b, 16, soft=True), apps)
            b.app_name, b.app_data = "", ""
            self._destroy(b, b_cause)

    def _hangup_outbound(self: FakeAsterisk, a: Channel, request: dict[str, Any], cause: int) -> None:
        if a.hanging_up or a.destroyed:
            return
        a.hanging_up = True
        task = a.data.get("task")
        b = self.channels.get(a.partner_id or "")
        self.emit(ev.hangup_request(a, **request), a.apps)
        if a.stasis_app is None:
            if task is not None and not task.done():
                task.cancel()
            self.emit(ev.dial(a, "CANCEL", a.data["dialstring"]), a.apps)
            if b is not None:
                self.emit(ev.hangup_request(b, 16, soft=True), b.apps)
                self._destroy(b, cause)
            self._destroy(a, cause)
            return
        self._leave_bridge(a)
        self._end_stasis(a)
        a.set_var("STASISSTATUS", "SUCCESS")
        self.emit(ev.varset(a, "STASISSTATUS", "SUCCESS"), a.apps)
        if b is not None:
            self.emit(ev.hangup_request(b, 16), b.apps)
            if b.data.pop("playing", False):
                b.set_var("PLAYBACKSTATUS", "SUCCESS")
                self.emit(ev.varset(b, "PLAYBACKSTATUS", "SUCCESS"), b.apps)
            self.emit(ev.hangup_request(b, 16, soft=True), b.apps)
            b.app_name, b.app_data = "", ""
            self._destroy(b, cause)
        a.app_name, a.app_data = "AppDial2", "(Outgoing Line)"
        self._destroy(a, cause)

    def _callee_hangup(self: FakeAsterisk, a: Channel, cause: int) -> None:
        """The far end of an outbound call hangs up (not traced; modelled on the Local pair)."""
        if a.hanging_up or a.destroyed:
            return
        b = self.channels.get(a.partner_id or "")
        if b is not None:
            self.emit(ev.hangup_request(b, cause), b.apps)
            b.app_name, b.app_data = "", ""
            self._destroy(b, cause)
        a.hanging_up = True
        self.emit(ev.hangup_request(a, cause), a.apps)
        self._leave_bridge(a)
        self._end_stasis(a)
        if a.stasis_app is None and "STASISSTATUS" in a.variables:
            a.set_var("STASISSTATUS", "SUCCESS")
            self.emit(ev.varset(a, "STASISSTATUS", "SUCCESS"), a.apps)
        a.app_name, a.app_data = "AppDial2", "(Outgoing Line)"
        self._destroy(a, cause)
