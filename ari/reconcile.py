"""Reconcile on every (re)connect of a link: hang up the channels and delete the bridges of our
Stasis app that no live call of ours knows.

Why: Asterisk keeps what we leave behind. After our process is killed (or loses its events socket
while a teardown's REST calls fail), the caller's channel sits in `Stasis(<app>)` hearing silence,
and the external media channel and the bridge live on; Asterisk never deletes them by itself
(ARCHITECTURE.md, "Inbound call" 9). Runs left open by a killed process are closed at start-up
(`app.py`); this is the Asterisk half of the same clean-up.

What is ours (pure, see `is_our_channel` / `is_our_bridge`):
- a channel in `Stasis` (`dialplan.app_name == "Stasis"`) whose `app_data` names our app (the
  first comma-separated field; the rest are app args);
- a channel not in Stasis whose id carries one of our pre-assigned prefixes (`sbm-` external media,
  `sbo-` outbound originate, `sbp-` diagnostics probe) — e.g. an external media channel whose socket
  never came or an outbound call still ringing. A channel in *another* app's Stasis is never ours
  here (another configuration's link reconciles it), nor is a channel we continued into the
  dialplan (a transferred caller);
- a bridge named `switchboard-run-*` or with an `sbb-` id, unless one of its channels is in another
  app's Stasis.

What is spared: anything a live call or probe of this process knows (`known(id)`, asked across
every configuration), checked twice: when listed and again after `grace_s`, so a call whose
`StasisStart` is still in flight on the events socket is never hung up.

Not reconciled when the link comes back from `app_taken`: another client held our app meanwhile,
and what is in its Stasis may be that client's.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ari.errors import AriError
from ari.link import LinkState, LinkStatus
from ari.rest import AriRestClient

log = logging.getLogger("switchboard.ari.reconcile")

OUR_CHANNEL_PREFIXES = ("sbm-", "sbo-", "sbp-")
OUR_BRIDGE_PREFIX = "sbb-"
OUR_BRIDGE_NAME_PREFIX = "switchboard-run-"


@dataclass(frozen=True)
class ReconcileTiming:
    grace_s: float = 1.0  # an unknown channel must stay unknown this long before it is hung up
    rest_timeout_s: float = 5.0  # per request
    retry_delays_s: tuple[float, ...] = (2.0, 10.0, 30.0)  # after a pass that could not finish


@dataclass
class ReconcileResult:
    hung_up: list[str] = field(default_factory=list)
    deleted_bridges: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)  # ids whose hangup/delete failed (logged)


def stasis_app(channel: Mapping[str, Any]) -> str | None:
    """The app whose Stasis() the channel is in, or None when it is not in Stasis."""
    dialplan = channel.get("dialplan")
    if not isinstance(dialplan, Mapping) or dialplan.get("app_name") != "Stasis":
        return None
    data = dialplan.get("app_data")
    return data.split(",", 1)[0].strip() if isinstance(data, str) else ""


def is_our_channel(channel: Mapping[str, Any], app: str) -> bool:
    channel_id = channel.get("id")
    if not isinstance(channel_id, str) or not channel_id:
        return False
    in_stasis = stasis_app(channel)
    if in_stasis is not None:
        return in_stasis == app
    return channel_id.startswith(OUR_CHANNEL_PREFIXES)


def is_our_bridge(bridge: Mapping[str, Any], foreign_channels: set[str]) -> bool:
    bridge_id, name = bridge.get("id"), bridge.get("name")
    if not isinstance(bridge_id, str) or not bridge_id:
        return False
    named_ours = isinstance(name, str) and name.startswith(OUR_BRIDGE_NAME_PREFIX)
    ours = bridge_id.startswith(OUR_BRIDGE_PREFIX) or named_ours
    members = bridge.get("channels")
    members = members if isinstance(members, list) else []
    return ours and not any(m in foreign_channels for m in members)


async def reconcile(
    rest: AriRestClient, app: str, known: Callable[[str], bool], timing: ReconcileTiming = ReconcileTiming(),
    *, label: str = "",
) -> ReconcileResult:
    """One pass: list, wait `grace_s` if anything looks orphaned, re-check, hang up and delete."""
    result = ReconcileResult()
    channels = await asyncio.wait_for(rest.list_channels(), timing.rest_timeout_s)
    bridges = await asyncio.wait_for(rest.list_bridges(), timing.rest_timeout_s)
    foreign = {c["id"] for c in channels if isinstance(c.get("id"), str) and stasis_app(c) not in (None, app)}

    def known_channel(channel_id: str) -> bool:
        # Asterisk names the far half of an originated Local pair `<our id>;2`.
        return known(channel_id) or known(channel_id.split(";", 1)[0])

    def orphans() -> tuple[list[str], list[str]]:
        chans = [c["id"] for c in channels if is_our_channel(c, app) and not known_channel(c["id"])]
        brs = [b["id"] for b in bridges if is_our_bridge(b, foreign) and not known(b["id"])
               and not any(known(m) for m in b.get("channels") or [] if isinstance(m, str))]
        return chans, brs

    chans, brs = orphans()
    if not chans and not brs:
        return result
    await asyncio.sleep(timing.grace_s)  # let a StasisStart already on the wire reach call control
    chans, brs = orphans()
    for channel_id in chans:
        try:
            await asyncio.wait_for(rest.hangup(channel_id), timing.rest_timeout_s)
            result.hung_up.append(channel_id)
        except (AriError, TimeoutError) as exc:
            result.failed.append(channel_id)
            log.warning("%s: could not hang up leftover channel %s error_id=%s: %s", label, channel_id,
                        getattr(exc, "error_id", "ari-timeout"), exc)
    for bridge_id in brs:
        try:
            await asyncio.wait_for(rest.delete_bridge(bridge_id), timing.rest_timeout_s)
            result.deleted_bridges.append(bridge_id)
        except (AriError, TimeoutError) as exc:
            result.failed.append(bridge_id)
            log.warning("%s: could not delete leftover bridge %s error_id=%s: %s", label, bridge_id,
                        getattr(exc, "error_id", "ari-timeout"), exc)
    if result.hung_up or result.deleted_bridges:
        log.warning("%s: reconciled Asterisk after (re)connect error_id=ari-leftovers: hung up %d channel(s) "
                    "and deleted %d bridge(s) of app %r that no live call knows", label, len(result.hung_up),
                    len(result.deleted_bridges), app)
    return result


class Reconciler:
    """Runs `reconcile` each time its link enters `connected` (not when it retakes a taken app).
    Register `on_status` as a link status listener; it never blocks the link."""

    def __init__(
        self, *, rest: AriRestClient, app: str, known: Callable[[str], bool],
        timing: ReconcileTiming = ReconcileTiming(), label: str = "",
    ) -> None:
        self.rest = rest
        self.app = app
        self.known = known
        self.timing = timing
        self.label = label
        self.passes = 0  # completed passes (tests wait on it)
        self.last: ReconcileResult | None = None
        self._state: LinkState | None = None
        self._task: asyncio.Task[None] | None = None

    def on_status(self, status: LinkStatus) -> None:
        previous, self._state = self._state, status.state
        if status.state in (LinkState.STOPPED, LinkState.DISABLED):
            self.cancel()
        elif status.state is LinkState.CONNECTED and previous is not LinkState.CONNECTED:
            if previous is LinkState.APP_TAKEN:
                log.info("%s: took app %r back; not reconciling (another client held it)", self.label, self.app)
                return
            self.cancel()
            self._task = asyncio.get_running_loop().create_task(self._run(), name=f"ari-reconcile-{self.app}")

    def cancel(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
        self._task = None

    async def _run(self) -> None:
        """One pass, then a few more (after `retry_delays_s`) while a pass could not finish."""
        for delay in (None, *self.timing.retry_delays_s):
            if delay is not None:
                await asyncio.sleep(delay)
            finished = await self._pass()
            self.passes += 1
            if finished:
                return

    async def _pass(self) -> bool:
        try:
            self.last = await reconcile(self.rest, self.app, self.known, self.timing, label=self.label)
        except (AriError, TimeoutError) as exc:
            log.warning("%s: could not list channels/bridges to reconcile error_id=%s: %s", self.label,
                        getattr(exc, "error_id", "ari-timeout"), exc)
            return False
        except Exception:  # a bug must not take the link down
            log.exception("%s: reconcile failed error_id=ari-reconcile-failed", self.label)
            return True
        return not self.last.failed
