"""Supervisor: one `EventsLink` per enabled configuration, kept in step with saved configurations.

The web layer calls `apply(config)` after each committed change and `remove(config_id)` after a
delete; the lifespan calls `start(configs)` and `stop()`. A link is replaced (old socket closed,
new one opened) when anything it connects with changes: endpoint, app, username, password or
`enabled`. A rename only relabels the logs. A disabled configuration has no link and reports
`disabled`.

Call control plugs in through `handler_factory(config, link) -> on_event`; tests and the app
choose how links are built through `link_factory(config) -> EventsLink` (not started).
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from ari.errors import AriUnreachable
from ari.link import EventHandler, EventsLink, LinkState, LinkStatus, LinkTiming

logger = logging.getLogger("switchboard.ari.supervisor")


@dataclass(frozen=True)
class LinkConfig:
    """What a link needs from a telephony configuration (no SQL, no HTML)."""

    id: int
    name: str
    ari_endpoint_url: str
    app_name: str
    username: str
    password: str = field(repr=False)
    enabled: bool = True

    def connection_key(self) -> tuple[str, str, str, str, bool]:
        """The fields whose change needs a new connection."""
        return (self.ari_endpoint_url, self.app_name, self.username, self.password, self.enabled)


LinkFactory = Callable[[LinkConfig], EventsLink]
HandlerFactory = Callable[[LinkConfig, EventsLink], EventHandler]


def _now() -> datetime:
    return datetime.now(UTC)


def default_link_factory(timing: LinkTiming | None = None) -> LinkFactory:
    """Links with their own REST client and the given timing."""
    timing = timing or LinkTiming()

    def build(config: LinkConfig) -> EventsLink:
        return EventsLink(
            config_id=config.id, name=config.name, endpoint=config.ari_endpoint_url,
            app=config.app_name, username=config.username, password=config.password,
            timing=timing,
        )

    return build


class Supervisor:
    """config id → running `EventsLink`. All methods run on the event loop; not thread-safe."""

    def __init__(
        self,
        *,
        link_factory: LinkFactory | None = None,
        handler_factory: HandlerFactory | None = None,
    ) -> None:
        self._link_factory = link_factory or default_link_factory()
        self._handler_factory = handler_factory
        self._configs: dict[int, LinkConfig] = {}
        self._links: dict[int, EventsLink] = {}
        self._final: dict[int, LinkStatus] = {}  # disabled configurations
        self._lock = asyncio.Lock()
        self._stopped = False

    async def start(self, configs: Iterable[LinkConfig]) -> None:
        for config in configs:
            await self.apply(config)

    async def apply(self, config: LinkConfig) -> LinkStatus:
        """Bring the link of `config.id` in line with `config`; returns its status."""
        async with self._lock:
            if self._stopped:
                raise RuntimeError("the supervisor is stopped")
            old = self._configs.get(config.id)
            self._configs[config.id] = config
            link = self._links.get(config.id)
            if old is not None and old.connection_key() == config.connection_key():
                if link is not None and old.name != config.name:
                    link.name = config.name
                return self.status(config.id)
            if not config.enabled:
                last = await self._drop(config.id, LinkState.DISABLED)
                self._final[config.id] = last or LinkStatus(LinkState.DISABLED, since=_now())
                logger.info("config %d (%r): disabled", config.id, config.name)
                return self.status(config.id)
            if link is not None:
                logger.info("%s: connection settings changed, reconnecting", link.label)
                await self._drop(config.id, LinkState.STOPPED)
            self._final.pop(config.id, None)
            await self._launch(config)
            return self.status(config.id)

    async def remove(self, config_id: int) -> None:
        """Forget a configuration: its socket is closed and `status()` no longer knows it."""
        async with self._lock:
            self._configs.pop(config_id, None)
            self._final.pop(config_id, None)
            await self._drop(config_id, LinkState.STOPPED)

    def status(self, config_id: int) -> LinkStatus:
        """The link's status; `KeyError` for a configuration never applied (or removed)."""
        link = self._links.get(config_id)
        if link is not None:
            return link.status
        return self._final[config_id]

    def statuses(self) -> dict[int, LinkStatus]:
        return {config_id: self.status(config_id) for config_id in self._configs}

    def link(self, config_id: int) -> EventsLink | None:
        """The running link (for call control: `link.rest`, `link.wait_for_state`)."""
        return self._links.get(config_id)

    async def stop(self) -> None:
        """Stop every link (concurrently); the supervisor cannot be used afterwards."""
        async with self._lock:
            self._stopped = True
            links = list(self._links.values())
            self._links.clear()
            results = await asyncio.gather(*(link.stop() for link in links), return_exceptions=True)
            for link, result in zip(links, results, strict=True):
                if isinstance(result, BaseException):
                    logger.error("%s: stop failed: %r", link.label, result)
                self._final[link.config_id] = link.status

    async def _launch(self, config: LinkConfig) -> None:
        try:
            link = self._link_factory(config)
        except ValueError as exc:  # e.g. an endpoint URL that is not http(s)://host:port
            error = AriUnreachable(f"invalid ARI endpoint URL: {exc}")
            logger.error("config %d (%r): %s [%s]", config.id, config.name, error, error.error_id)
            self._final[config.id] = LinkStatus(
                LinkState.UNREACHABLE, since=_now(), last_error_id=error.error_id,
                last_error=error.message, fix=error.fix)
            return
        if self._handler_factory is not None:
            link.on_event = self._handler_factory(config, link)
        self._links[config.id] = link
        await link.start()

    async def _drop(self, config_id: int, state: LinkState) -> LinkStatus | None:
        link = self._links.pop(config_id, None)
        if link is None:
            return None
        await link.stop(state)
        return link.status
