"""The ARI events WebSocket of one configuration: connect, receive, reconnect, report status.

States (`LinkState`) and the transitions `_ALLOWED` permits; anything else raises
`LinkStateError`. Staying in a state while details change (error text, reconnect count) is an
update, not a transition, and keeps `since`.

    connecting  → connected | unreachable | auth_failed      (first attempt, or after a loss)
    connected   → connecting (socket lost) | app_taken
    app_taken   → connected (retaken) | connecting (lost) | unreachable | auth_failed
    unreachable ⇄ auth_failed, and both → connected
    any         → stopped | disabled                          (final: a link is not restarted)

A stable connection that drops is retried at once; the socket-lost state is `connecting`.
Reconnecting (like python-websockets' `connect` iterator): failures are classified
(`ari.reconnect`), then the loop waits `backoff(n)` (capped exponential, full jitter) where n
counts attempts since the last
*stable* connection (open for `stable_after` seconds); a connection that flaps keeps growing n.
- HTTP 401/403 on the handshake → `auth_failed`: a configuration error, logged at ERROR on every
  attempt; retried every `slow_retry_delay` seconds (an `ari reload` on Asterisk is picked up).
- refused, DNS, TLS, open timeout, other HTTP statuses, lost socket → `unreachable`/`connecting`.
- `ApplicationReplaced` → `app_taken`. Our socket stays open (Asterisk does not close it) and
  keeps being read. Choice: we take the app back by reconnecting, but only after
  `slow_retry_delay * factor**(k-1)` seconds (k = takeovers in a row, capped at
  `app_taken_max_delay`), so two clients fighting over one app settle at one swap every few
  minutes instead of bouncing calls every second. `retry_now()` retakes at once.
A silently dead TCP connection (no close frame, e.g. `core restart`) is detected by the
websocket keepalive: no pong within `ping_timeout` closes the socket and the loop reconnects.
"""
from __future__ import annotations

import asyncio
import enum
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from urllib.parse import quote

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from ari.errors import AriAppTaken, AriAuthFailed, AriError, AriUnreachable
from ari.events import ApplicationReplaced, AriEvent, AriEventError, UnknownEvent, parse_event
from ari.reconnect import Backoff, classify, full_jitter
from ari.rest import AriRestClient, ari_base_url, basic_auth_header

logger = logging.getLogger("switchboard.ari.link")

EventHandler = Callable[[AriEvent], Awaitable[None]]
StatusListener = Callable[["LinkStatus"], object]


class LinkState(enum.Enum):
    CONNECTING = "connecting"
    CONNECTED = "connected"
    AUTH_FAILED = "auth_failed"
    UNREACHABLE = "unreachable"
    APP_TAKEN = "app_taken"
    DISABLED = "disabled"
    STOPPED = "stopped"


S = LinkState
_FINAL = frozenset({S.STOPPED, S.DISABLED})
_ALLOWED: dict[LinkState, frozenset[LinkState]] = {
    S.CONNECTING: frozenset({S.CONNECTED, S.AUTH_FAILED, S.UNREACHABLE}) | _FINAL,
    S.CONNECTED: frozenset({S.CONNECTING, S.APP_TAKEN}) | _FINAL,
    S.APP_TAKEN: frozenset({S.CONNECTING, S.CONNECTED, S.AUTH_FAILED, S.UNREACHABLE}) | _FINAL,
    S.AUTH_FAILED: frozenset({S.CONNECTED, S.UNREACHABLE}) | _FINAL,
    S.UNREACHABLE: frozenset({S.CONNECTED, S.AUTH_FAILED}) | _FINAL,
    S.STOPPED: frozenset(),
    S.DISABLED: frozenset(),
}


class LinkStateError(RuntimeError):
    """A transition the state machine does not allow (a bug, never a network condition)."""


@dataclass(frozen=True)
class LinkStatus:
    """What the UI shows. `reconnects` counts connection attempts after the first one."""

    state: LinkState
    since: datetime
    last_error_id: str | None = None
    last_error: str | None = None
    fix: str | None = None
    asterisk_version: str | None = None
    last_event_at: datetime | None = None
    reconnects: int = 0


@dataclass(frozen=True)
class LinkTiming:
    """Delays in seconds. Tests shrink them; production keeps the defaults."""

    initial_delay: float = 0.5
    factor: float = 2.0
    max_delay: float = 30.0
    slow_retry_delay: float = 30.0
    app_taken_max_delay: float = 300.0
    stable_after: float = 10.0
    ping_interval: float = 10.0
    ping_timeout: float = 10.0
    open_timeout: float = 10.0
    close_timeout: float = 2.0


def events_url(endpoint: str, app: str) -> str:
    """`http://host:8088` → `ws://host:8088/ari/events?app=<app>&subscribeAll=false`."""
    base = ari_base_url(endpoint)
    scheme, rest = base.split("://", 1)
    ws_scheme = "wss" if scheme == "https" else "ws"
    return f"{ws_scheme}://{rest}/events?app={quote(app, safe='')}&subscribeAll=false"


def _now() -> datetime:
    return datetime.now(UTC)


class EventsLink:
    """One events WebSocket with reconnect. `start()` once, `stop()` once; not restartable."""

    def __init__(
        self,
        *,
        config_id: int,
        name: str,
        endpoint: str,
        app: str,
        username: str,
        password: str,
        on_event: EventHandler | None = None,
        rest: AriRestClient | None = None,
        timing: LinkTiming = LinkTiming(),
        backoff: Backoff | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config_id = config_id
        self.name = name
        self.app = app
        self.url = events_url(endpoint, app)
        self.on_event = on_event
        self.timing = timing
        self._auth = basic_auth_header(username, password)
        self._owns_rest = rest is None
        self.rest = rest or AriRestClient(endpoint, username, password, timeout=timing.open_timeout)
        self._backoff = backoff or full_jitter(timing.initial_delay, timing.factor, timing.max_delay)
        self._clock = clock
        self._status = LinkStatus(state=S.CONNECTING, since=_now())
        self._last_event_at: datetime | None = None
        self._listeners: list[StatusListener] = []
        self._changed = asyncio.Event()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._ws: ClientConnection | None = None
        self._stopping = False
        self._takeovers = 0
        self._connected_at = 0.0
        self._retake_at: float | None = None
        self._retake_timer: asyncio.Timeout | None = None

    @property
    def label(self) -> str:
        return f"config {self.config_id} ({self.name!r})"

    # --- status ------------------------------------------------------------------------------

    @property
    def status(self) -> LinkStatus:
        return replace(self._status, last_event_at=self._last_event_at)

    def add_listener(self, listener: StatusListener) -> Callable[[], None]:
        """Call `listener(status)` on every status change; returns a function that removes it."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    async def wait_until(self, predicate: Callable[[LinkStatus], bool], timeout: float) -> LinkStatus:
        """Wait until `predicate(status)` holds; `TimeoutError` after `timeout` seconds."""
        async with asyncio.timeout(timeout):
            while not predicate(self.status):
                changed = self._changed
                await changed.wait()
        return self.status

    async def wait_for_state(
        self, state: LinkState | Iterable[LinkState], timeout: float
    ) -> LinkStatus:
        wanted = {state} if isinstance(state, LinkState) else set(state)
        return await self.wait_until(lambda s: s.state in wanted, timeout)

    def _set(self, state: LinkState, **changes: object) -> None:
        old = self._status
        if state is not old.state and state not in _ALLOWED[old.state]:
            raise LinkStateError(f"{self.label}: {old.state.value} → {state.value} is not allowed")
        since = old.since if state is old.state else _now()
        self._status = replace(old, state=state, since=since, **changes)  # type: ignore[arg-type]
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()
        for listener in list(self._listeners):
            try:
                listener(self.status)
            except Exception:
                logger.exception("%s: status listener failed", self.label)

    def _fail(self, state: LinkState, error: AriError) -> None:
        repeated = self._status.state is state and self._status.last_error_id == error.error_id
        self._set(state, last_error_id=error.error_id, last_error=error.message, fix=error.fix)
        if state is S.AUTH_FAILED:
            logger.error("%s: %s [%s] fix: %s", self.label, error.message, error.error_id, error.fix)
        elif not repeated:
            logger.warning("%s: %s [%s]", self.label, error.message, error.error_id)
        else:
            logger.debug("%s: still failing: %s [%s]", self.label, error.message, error.error_id)

    # --- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        if self._task is not None or self._stopping:
            raise LinkStateError(f"{self.label}: start() called twice")
        logger.info("%s: connecting to %s", self.label, self.url)
        self._task = asyncio.create_task(self._run(), name=f"ari-link-{self.config_id}")

    async def stop(self, state: LinkState = S.STOPPED) -> None:
        """Close the socket cleanly, end the task, close the REST client; final `state`."""
        if state not in _FINAL:
            raise ValueError("stop() ends in stopped or disabled")
        if self._stopping:
            return
        self._stopping = True
        self._wake.set()
        ws, task = self._ws, self._task
        if ws is not None:
            await ws.close()
        if task is not None:
            done, _ = await asyncio.wait({task}, timeout=self.timing.close_timeout)
            if not done:
                task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                if not task.cancelled():
                    raise
        if self._owns_rest:
            await self.rest.aclose()
        self._set(state)
        logger.info("%s: %s", self.label, state.value)

    def retry_now(self) -> None:
        """Skip the current wait: retry after a failure now, or retake a taken app now."""
        if self._retake_at is not None:
            self._retake_at = asyncio.get_running_loop().time()
            if self._retake_timer is not None:
                self._retake_timer.reschedule(self._retake_at)
        self._wake.set()

    # --- the loop ----------------------------------------------------------------------------

    async def _run(self) -> None:
        attempts = 0  # since the last stable connection
        first = True
        while not self._stopping:
            if not first:
                self._set(self._status.state, reconnects=self._status.reconnects + 1)
            first = False
            try:
                delay = await self._attempt(attempts + 1)
            except Exception:  # a bug: log it, never let the link die
                logger.exception("%s: unexpected error in the events loop", self.label)
                delay = self._backoff(attempts + 1)
            if delay is None:
                attempts = 0
                continue
            attempts += 1
            await self._pause(delay)

    async def _attempt(self, n: int) -> float | None:
        """One connection; returns the delay before the next one (None: stable, go at once)."""
        try:
            ws = await connect(
                self.url, additional_headers={"Authorization": self._auth},
                user_agent_header="Switchboard", compression=None, proxy=None, max_size=2**23,
                open_timeout=self.timing.open_timeout, ping_interval=self.timing.ping_interval,
                ping_timeout=self.timing.ping_timeout, close_timeout=self.timing.close_timeout,
            )
        except Exception as exc:
            if self._stopping:
                return None
            error = classify(exc)
            state = S.AUTH_FAILED if isinstance(error, AriAuthFailed) else S.UNREACHABLE
            self._fail(state, error)
            return self.timing.slow_retry_delay if state is S.AUTH_FAILED else self._backoff(n)
        opened = self._clock()
        self._ws = ws
        try:
            retake = await self._session(ws)
        finally:
            self._ws = None
            await ws.close()
        if self._stopping or retake:
            return None
        return None if self._clock() - opened >= self.timing.stable_after else self._backoff(n)

    async def _pause(self, delay: float) -> None:
        self._wake.clear()
        if self._stopping:
            return
        try:
            async with asyncio.timeout(delay):
                await self._wake.wait()
        except TimeoutError:
            pass

    async def _session(self, ws: ClientConnection) -> bool:
        """Receive until the socket ends (False) or it is time to retake the app (True)."""
        version = await self._fetch_version()
        if self._stopping:
            return False
        self._connected_at = self._clock()
        self._retake_at = None
        self._set(S.CONNECTED, last_error_id=None, last_error=None, fix=None,
                  asterisk_version=version)
        logger.info("%s: connected to Asterisk %s", self.label, version or "(version unknown)")
        while True:
            try:
                async with asyncio.timeout_at(self._retake_at) as self._retake_timer:
                    message = await ws.recv()
            except TimeoutError:
                logger.info("%s: taking the Stasis app %r back", self.label, self.app)
                return True
            except ConnectionClosed as exc:
                if not self._stopping:
                    lost = AriUnreachable(f"events connection lost ({exc})")
                    self._set(S.CONNECTING, last_error_id=lost.error_id, last_error=lost.message,
                              fix=lost.fix)
                    logger.warning("%s: %s [%s]", self.label, lost.message, lost.error_id)
                return False
            finally:
                self._retake_timer = None
            await self._dispatch(message)

    async def _fetch_version(self) -> str | None:
        try:
            info = await self.rest.info()
        except AriError as exc:
            logger.warning("%s: GET /ari/asterisk/info failed: %s", self.label, exc)
            return self._status.asterisk_version
        system = info.get("system")
        version = system.get("version") if isinstance(system, dict) else None
        return str(version) if version else None

    async def _dispatch(self, message: str | bytes) -> None:
        try:
            event = parse_event(message)
        except AriEventError as exc:
            logger.warning("%s: skipped a bad event [%s]: %s; message %.200r",
                           self.label, exc.error_id, exc, message)
            return
        self._last_event_at = _now()
        if isinstance(event, UnknownEvent):
            logger.debug("%s: skipped unmodelled event type %r", self.label, event.type)
            return
        if isinstance(event, ApplicationReplaced):
            self._taken()
        if self.on_event is None:
            return
        try:
            await self.on_event(event)
        except Exception:
            logger.exception("%s: event handler failed on %s", self.label, type(event).__name__)

    def _taken(self) -> None:
        held = self._clock() - self._connected_at
        self._takeovers = 1 if held >= self.timing.stable_after else self._takeovers + 1
        t = self.timing
        delay = min(t.app_taken_max_delay, t.slow_retry_delay * t.factor ** (self._takeovers - 1))
        self._retake_at = asyncio.get_running_loop().time() + delay
        error = AriAppTaken(f"another client took the Stasis app {self.app!r}; "
                            f"taking it back in {delay:.0f} s")
        self._fail(S.APP_TAKEN, error)
