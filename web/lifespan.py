"""What the server opens when it starts and closes when it stops, in this order: the one-server
lock on the database, the database (runs a previous process left open are closed), the setup
gate (`web.setup_token`), the outbound client and the post-call webhook worker
(`web.services.webhooks`: it resumes deliveries still pending), the voice agent and the ARI
links (`web.telephony`), the background chores (`web.housekeeping`). Everything handlers need
is published as one `AppState`."""
from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

from starlette.applications import Starlette

from agent.outbound_http import OutboundClient
from agent.webhooks import RetryPolicy
from ari.calls import AgentRunner, CallTiming
from ari.service import AriService, AriSettings
from data.backup import ServerLock
from data.store import Store
from media.registry import MediaRegistry
from web.housekeeping import Housekeeping
from web.services.webhooks import PostCallWebhooks
from web.settings import Settings
from web.setup_token import open_gate
from web.state import AppState
from web.telephony import AriTelephony, NullTelephony, Telephony

log = logging.getLogger("switchboard")

AgentClose = Callable[[], Awaitable[None]]
AgentLoader = Callable[[Store, OutboundClient], Awaitable[tuple[AgentRunner, AgentClose | None]]]
"""Loads the voice agent once the database is open; None runs an admin without ARI links."""
Lifespan = Callable[[Starlette], contextlib.AbstractAsyncContextManager[None]]


def server_lifespan(settings: Settings, load_agent: AgentLoader | None, ari_settings: AriSettings | None) -> Lifespan:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # One server per database: two would fight over the Stasis apps, and `restore` checks it.
        lock = ServerLock.acquire(settings.db_path, port=settings.port)
        try:
            async with _running(app, settings, load_agent, ari_settings):
                yield
        finally:
            lock.release()

    return lifespan


@contextlib.asynccontextmanager
async def _running(app: Starlette, settings: Settings, load_agent: AgentLoader | None,
                   ari_settings: AriSettings | None) -> AsyncIterator[None]:
    # Each step's undo is pushed once it succeeded, so a start-up that fails half-way still closes
    # the store: its connection threads would otherwise keep the process alive (a hang).
    async with contextlib.AsyncExitStack() as undo:
        store = await Store.open(settings.db_path, settings.secret_key)
        undo.push_async_callback(store.close)
        outbound = OutboundClient()
        undo.push_async_callback(outbound.aclose)
        webhooks = PostCallWebhooks(store, outbound, retry=RetryPolicy(base_s=settings.webhook_retry_base_s))
        webhooks.start()  # stopped after the calls ended, so their webhooks are queued first
        undo.push_async_callback(webhooks.stop)
        # After the webhooks start: the runs a previous process left open still owe theirs.
        closed = await store.runs.finish_all_open("failed", "server restarted", "server-restarted")
        if closed:
            log.warning("closed runs left open by a previous process count=%d error_id=server-restarted", closed)
        gate = await open_gate(store, settings, app.url_path_for("setup"))
        registry = MediaRegistry()
        telephony: Telephony = NullTelephony()
        if load_agent is not None:
            agent, agent_close = await load_agent(store, outbound)
            if agent_close is not None:
                undo.push_async_callback(agent_close)
            timing = ari_settings or AriSettings(
                call_timing=CallTiming(media_timeout_s=settings.media_connect_timeout_s))
            telephony = AriTelephony(AriService(store, registry, agent, timing))
        AppState(settings, store, telephony, registry, gate, outbound, webhooks).attach(app)
        await telephony.start()
        undo.push_async_callback(telephony.stop)
        housekeeping = Housekeeping.start(store, settings)
        undo.push_async_callback(housekeeping.stop)
        yield
