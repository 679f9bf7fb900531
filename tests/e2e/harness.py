"""A real Switchboard (uvicorn on a free loopback port) wired to a fake Asterisk (also on loopback),
with a configuration, a workflow and a phone number ready: what the end-to-end tests drive."""
from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette

from app import create_app
from ari.calls import CallTiming
from ari.link import LinkState, LinkTiming
from ari.reconcile import ReconcileTiming
from ari.service import AriService, AriSettings
from data.configs import ConfigFields
from data.models import TelephonyConfig, Workflow
from data.store import Store
from media.session import Closed, MediaSession
from tests.fake_asterisk import FakeAsterisk
from tests.fixtures import caller_ulaw
from web.accounts import create_organization
from web.settings import Settings
from web.state import app_state

APP, PASSWORD, WS_CLIENT = "dograh", "s3cr&t#:%", "dograh"
FAST_LINKS = LinkTiming(initial_delay=0.05, factor=2.0, max_delay=0.2, slow_retry_delay=0.3, stable_after=0.5,
                        ping_interval=0.5, ping_timeout=0.5, open_timeout=2.0, close_timeout=0.5)

FAST_RECONCILE = ReconcileTiming(grace_s=0.2, rest_timeout_s=2.0, retry_delays_s=(0.3, 0.6, 1.2))


def caller_audio(n: int) -> bytes:
    return caller_ulaw(n)


@dataclass
class Outcome:
    status: str
    reason: str


@dataclass
class GreetingAgent:
    """The minimal agent of the inbound-calls issue: plays its greeting, then listens until the
    call ends. Records what it saw so tests can assert on it."""

    greeting: bytes
    sessions: list[MediaSession] = field(default_factory=list)
    audio_in: dict[int, int] = field(default_factory=dict)
    dtmf: dict[int, list[str]] = field(default_factory=dict)

    async def __call__(self, session: MediaSession, definition: dict[str, Any], context: dict[str, Any],
                       on_event: Callable[..., Awaitable[None]]) -> Outcome:
        self.sessions.append(session)
        session.play(self.greeting)
        await on_event("transcript", "agent", definition.get("greeting", ""), {})
        while True:
            event = await session.events.get()
            if isinstance(event, Closed):
                return Outcome("completed", event.reason)
            if hasattr(event, "ulaw"):
                self.audio_in[session.run_id] = self.audio_in.get(session.run_id, 0) + len(event.ulaw)
            if hasattr(event, "digit"):
                self.dtmf.setdefault(session.run_id, []).append(event.digit)


@dataclass
class Stack:
    fake: FakeAsterisk
    app: Starlette
    url: str
    store: Store
    org_id: int
    config: TelephonyConfig
    workflow: Workflow
    agent: Any

    @property
    def service(self) -> AriService:
        return app_state(self.app).telephony.service

    async def wait(self, predicate: Callable[[], Any], timeout: float = 5.0) -> Any:
        return await self.fake.wait_for(predicate, timeout)

    async def wait_run(self, predicate: Callable[[Any], bool], timeout: float = 10.0) -> Any:
        """The newest run for which `predicate(run)` holds, once there is one."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            runs = await self.store.runs.list(self.org_id, limit=100)
            for run in runs:
                if predicate(run):
                    return run
            if loop.time() > deadline:
                raise TimeoutError(f"no run matched; newest: {runs[0] if runs else None}")
            await asyncio.sleep(0.01)

    async def wait_for_value(self, fetch: Callable[[], Awaitable[Any]], timeout: float = 5.0) -> Any:
        """Await `fetch()` until it returns something truthy (for conditions that need a query)."""
        async with asyncio.timeout(timeout):
            while not (value := await fetch()):
                await asyncio.sleep(0.01)
        return value

    async def wait_connected(self, timeout: float = 5.0) -> None:
        await self.wait(lambda: (s := self.service.status(self.config.id)) and s.state is LinkState.CONNECTED,
                        timeout)

    def leftovers(self) -> list[str]:
        """Channels and bridges of ours still in the fake Asterisk."""
        return [*self.fake.channels, *self.fake.bridges]


def free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@asynccontextmanager
async def serve(app: Starlette) -> AsyncIterator[str]:
    sock = free_socket()
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on", ws_max_size=1 << 20))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
        sock.close()


@asynccontextmanager
async def stack(tmp_path: Path, *, agent: Any = None, max_calls: int = 10, media_timeout_s: float = 2.0,
                fake_kwargs: dict[str, Any] | None = None,
                reconcile_timing: ReconcileTiming = FAST_RECONCILE,
                definition: dict[str, Any] | None = None, runtime: Any = None) -> AsyncIterator[Stack]:
    """`runtime`: a loaded `AgentRuntime` run as in production (`web.call_agent`: tools, lookups and
    webhooks under the organisation's allowed hosts) instead of `agent`."""
    agent = agent or (None if runtime is not None else GreetingAgent(caller_audio(1)))

    async def agent_factory() -> Any:
        return agent

    settings = Settings(db_path=tmp_path / "sb.db", secret_key="e2e-secret", webhook_retry_base_s=0.2)
    app = create_app(settings, agent_factory=agent_factory if runtime is None else None, agent_runtime=runtime,
                     ari_settings=AriSettings(FAST_LINKS, CallTiming(media_timeout_s=media_timeout_s, rest_timeout_s=2.0),
                                              reconcile_timing))
    async with serve(app) as url:
        media_uri = url.replace("http://", "ws://") + "/api/v1/telephony/ws/ari"
        async with FakeAsterisk(users={APP: PASSWORD}, websocket_clients={WS_CLIENT: {
            "uri": media_uri, "reconnect_attempts": 2, "reconnect_interval": 0.05}}, **(fake_kwargs or {})) as fake:
            store: Store = app_state(app).store
            user = await create_organization(store, "Acme", "admin@example.com", "password123")
            await store.accounts.set_limits(user.organization_id, max_calls, None)
            workflow = await store.workflows.create(user.organization_id, "Reception",
                                                    definition if definition is not None else {"greeting": "Hello"})
            config = await store.configs.create(user.organization_id, ConfigFields(
                "PBX", fake.base_url, APP, None, PASSWORD, WS_CLIENT, ("PJSIP/6001",), "PJSIP/{number}",
                "from-internal", True))
            await store.numbers.create(user.organization_id, config.id, "8000", "Reception", workflow.id)
            await app_state(app).telephony.apply(config.id)
            result = Stack(fake, app, url, store, user.organization_id, config, workflow, agent)
            await result.wait_connected()
            yield result
