"""The ARI side of the server as one object: a link per enabled configuration (through the
Supervisor), call control on each link, and the media registry shared with the media endpoint.

The web layer calls `apply(config_id)` after its database commit and `remove(config_id)` after
a delete; no polling, no restart. Outbound calls: `initiate_call(...)` (checks, then the
configuration's `ari.outbound.Dialer`) and `cancel_call(run_id)`.
"""
from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from ari.call import CallTiming
from ari.calls import CallControl
from ari.diagnostics import Check, Diagnostics, ProbeTarget
from ari.dialstring import DialError, plan_dial
from ari.link import EventHandler, EventsLink, LinkState, LinkStatus, LinkTiming
from ari.outbound import DEFAULT_RING_TIMEOUT_S, Dialer, DialResult
from ari.reconcile import Reconciler, ReconcileTiming
from ari.stats import CallStats, LinkSample, MediaTotals, Snapshot
from ari.supervisor import LinkConfig, Supervisor, default_link_factory
from data.models import TelephonyConfig, Workflow
from data.store import Store
from media.port import AgentRunner
from media.registry import MediaRegistry

log = logging.getLogger("switchboard.ari.service")


@dataclass(frozen=True)
class AriSettings:
    link_timing: LinkTiming = LinkTiming()
    call_timing: CallTiming = CallTiming()
    reconcile_timing: ReconcileTiming = ReconcileTiming()
    ring_timeout_s: int = DEFAULT_RING_TIMEOUT_S  # outbound originate `timeout` unless a call asks otherwise


class AriService:
    def __init__(
        self, store: Store, registry: MediaRegistry, agent: AgentRunner, settings: AriSettings | None = None,
    ) -> None:
        self.store = store
        self.registry = registry
        self.agent = agent
        self.settings = settings = settings or AriSettings()
        self.supervisor = Supervisor(link_factory=default_link_factory(settings.link_timing),
                                     handler_factory=self._handler)
        self.controls: dict[int, CallControl] = {}
        self.stats = CallStats()  # shared by every configuration's call control, for /metrics
        self._background: set[asyncio.Task[None]] = set()  # kept referenced until done
        self.reconcilers: dict[int, Reconciler] = {}
        self.dialers: dict[int, Dialer] = {}
        self._configs: dict[int, TelephonyConfig] = {}

    async def start(self) -> None:
        for config in await self.store.configs.all():
            await self._apply(config)

    async def stop(self) -> None:
        for control in list(self.controls.values()):
            await control.end_all("failed", "Switchboard is shutting down", "server-shutdown")
        await self.supervisor.stop()

    async def apply(self, config_id: int) -> None:
        config = await self.store.configs.get_any(config_id)
        if config is None:
            await self.remove(config_id)
        else:
            await self._apply(config)

    async def remove(self, config_id: int) -> None:
        control = self.controls.pop(config_id, None)
        self.reconcilers.pop(config_id, None)
        self.dialers.pop(config_id, None)
        if control is not None:
            await control.end_all("failed", "the configuration was deleted", "config-deleted")
        self._configs.pop(config_id, None)
        await self.supervisor.remove(config_id)

    def status(self, config_id: int) -> LinkStatus | None:
        try:
            return self.supervisor.status(config_id)
        except KeyError:
            return None

    async def check(self, config_id: int) -> list[Check]:
        config = await self.store.configs.get_any(config_id)
        if config is None:
            return [Check("configuration", False, "this configuration no longer exists")]
        target = ProbeTarget(config.ari_endpoint_url, config.stasis_app_name, config.username,
                             await self.store.configs.ari_password(config.id), config.websocket_client_name)
        control = self.controls.get(config_id) if self.status(config_id) is not None else None
        diagnostics = Diagnostics(target, control=control, link_status=self.status(config_id),
                                  registry=self.registry, media_timeout_s=self.settings.call_timing.media_timeout_s)
        checks = await diagnostics.run()
        failed = [c.id for c in checks if not c.ok]
        log.info("diagnostics config=%s failed=%s", config_id, ",".join(failed) or "none")
        return checks

    async def initiate_call(self, config_id: int, workflow: Workflow, to: str, from_extension: str | None = None,
                            timeout_s: int | None = None) -> DialResult:
        """Check, then dial: the configuration is enabled, the dial string and caller id are valid,
        the ARI link is up; the quota is checked by the dialer as it creates the run."""
        config = await self.store.configs.get_any(config_id)
        if config is None:
            return DialResult(error_id="not-found", message="telephony configuration not found")
        if not config.enabled:
            return DialResult(error_id="config-disabled",
                              message=f"the configuration {config.name!r} is disabled: enable it to place calls")
        try:
            plan_dial(config.dial_template, to, config.from_extensions, from_extension)
        except DialError as exc:
            return DialResult(error_id=exc.error_id, message=exc.message, field=exc.field)
        status, dialer = self.status(config_id), self.dialers.get(config_id)
        if dialer is None or status is None or status.state is not LinkState.CONNECTED:
            state = status.state.value if status is not None else "not started"
            detail = f": {status.last_error}" if status is not None and status.last_error else ""
            return DialResult(error_id="ari-not-connected", message=(
                f"the ARI connection of {config.name!r} is not up ({state}{detail}); "
                "use Test connection on the configuration page"))
        return await dialer.start(workflow, to, from_extension, timeout_s or self.settings.ring_timeout_s)

    def cancel_call(self, run_id: int) -> bool:
        """Hang up an outbound call of ours; False when no live call has this run."""
        return any(dialer.cancel(run_id) for dialer in list(self.dialers.values()))

    def knows(self, ari_id: str) -> bool:
        """Whether a live call or probe of any configuration uses this channel or bridge id."""
        return any(control.knows(ari_id) for control in list(self.controls.values()))

    def hang_up(self, run_id: int, reason: str = "hung up from the admin") -> bool:
        """End a live call by its run (the Hang up button): an outbound call still ringing is
        canceled by its dialer; any other call ends `completed` with `reason`."""
        for config_id, control in list(self.controls.items()):
            dialer = self.dialers.get(config_id)
            dial = dialer.find(run_id) if dialer is not None else None
            if dial is not None and dialer is not None and not dial.answered.is_set():
                return dialer.cancel(run_id)
            if control.hang_up(run_id, reason):
                return True
        return False

    def snapshot(self) -> Snapshot:
        """Counters and gauges for /metrics, live calls' media included."""
        media, active = MediaTotals(), 0
        media.add(self.stats.media)
        for control in list(self.controls.values()):
            for call in list(control.calls.values()):
                active += 1
                if call.session is not None:
                    media.add(call.session.stats)
        links = []
        for config_id, status in self.supervisor.statuses().items():
            if status.state is not LinkState.DISABLED:
                links.append(LinkSample(config_id, status.state is LinkState.CONNECTED, status.reconnects,
                                        status.state.value))
        return Snapshot(dict(self.stats.started), dict(self.stats.ended), active, media, self.stats.latency,
                        tuple(sorted(links, key=lambda link: link.config_id)))

    def link(self, config_id: int) -> EventsLink | None:
        return self.supervisor.link(config_id)

    async def _apply(self, config: TelephonyConfig) -> None:
        self._configs[config.id] = config
        control = self.controls.get(config.id)
        if control is not None:
            control.config = config
        try:
            password = await self.store.configs.ari_password(config.id)
        except ValueError as exc:
            log.error("config %s: %s error_id=secret-unreadable", config.id, exc)
            password = ""
        if not config.enabled and control is not None:
            await control.end_all("failed", "the configuration was disabled", "config-disabled")
        await self.supervisor.apply(LinkConfig(
            id=config.id, name=config.name, ari_endpoint_url=config.ari_endpoint_url,
            app_name=config.stasis_app_name, username=config.username, password=password,
            enabled=config.enabled,
        ))

    def _handler(self, link_config: LinkConfig, link: EventsLink) -> EventHandler:
        config = self._configs[link_config.id]
        control = CallControl(config=config, store=self.store, rest=link.rest, registry=self.registry,
                              agent=self.agent, timing=self.settings.call_timing, stats=self.stats)
        old = self.controls.get(config.id)
        self.controls[config.id] = control
        if old is not None and old.calls:
            log.warning("config %s: connection settings changed with %d live calls", config.id, len(old.calls))

        def on_status(status: LinkStatus) -> None:
            if status.state is not LinkState.CONNECTED and control.calls:
                # The events socket is gone: the calls' events are lost with it; end them honestly.
                link_lost = control.end_all(
                    "failed", f"lost the ARI connection to Asterisk ({status.state.value})", "ari-link-lost"
                )
                task = asyncio.ensure_future(link_lost)
                self._background.add(task)
                task.add_done_callback(self._background.discard)

        link.add_listener(on_status)
        # On every (re)connect: hang up / delete what a killed process or a lost link left behind.
        reconciler = Reconciler(rest=link.rest, app=link_config.app_name, known=self.knows,
                                timing=self.settings.reconcile_timing, label=link.label)
        self.reconcilers[config.id] = reconciler
        link.add_listener(reconciler.on_status)

        self.dialers[config.id] = Dialer(control, ring_timeout_s=self.settings.ring_timeout_s)
        return control.on_event

