"""The ARI side of the server as one object: a link per enabled configuration (through the
Supervisor), call control on each link, and the media registry shared with the media endpoint.

The web layer calls `apply(config_id)` after its database commit and `remove(config_id)` after
a delete; no polling, no restart.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

from ari.calls import AgentRunner, CallControl, CallTiming
from ari.diagnostics import Check, Diagnostics, ProbeTarget
from ari.events import AriEvent
from ari.link import EventHandler, EventsLink, LinkState, LinkStatus, LinkTiming
from ari.supervisor import LinkConfig, Supervisor, default_link_factory
from data.models import TelephonyConfig
from data.store import Store
from media.registry import MediaRegistry

log = logging.getLogger("switchboard.ari.service")


@dataclass(frozen=True)
class AriSettings:
    link_timing: LinkTiming = LinkTiming()
    call_timing: CallTiming = CallTiming()


class AriService:
    def __init__(
        self, store: Store, registry: MediaRegistry, agent: AgentRunner, settings: AriSettings = AriSettings(),
    ) -> None:
        self.store = store
        self.registry = registry
        self.agent = agent
        self.settings = settings
        self.supervisor = Supervisor(link_factory=default_link_factory(settings.link_timing),
                                     handler_factory=self._handler)
        self.controls: dict[int, CallControl] = {}
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
                              agent=self.agent, timing=self.settings.call_timing)
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
                _spawn(link_lost)

        link.add_listener(on_status)

        async def handle(event: AriEvent) -> None:
            await control.on_event(event)

        return handle


_background: set[object] = set()


def _spawn(coro: object) -> None:
    import asyncio

    task = asyncio.ensure_future(coro)  # type: ignore[arg-type]
    _background.add(task)
    task.add_done_callback(_background.discard)
