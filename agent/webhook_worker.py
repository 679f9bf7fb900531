"""The post-call webhook delivery loop. It knows the delivery log only through `DeliveryStore`
(which `data.webhooks.WebhookDeliveries` satisfies; the app wires the two, keeping agent/ free of
data/) and time only through `Clock`, so tests drive it with a fake clock.

Deliveries live in the log until they are delivered or given up, so a restart resumes them:
the next `run_once` picks up whatever is due. A process killed during an attempt sends it again
(at least once; receivers deduplicate by `X-Switchboard-Delivery`). The app calls `wake()` after
queuing a delivery so it goes out at once instead of at the next poll.
"""
from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

from agent.hosts import HostPolicy
from agent.outbound_http import OutboundClient
from agent.webhooks import Attempt, RetryPolicy, send_webhook

log = logging.getLogger("switchboard.agent.webhooks")


class PendingDelivery(Protocol):
    @property
    def id(self) -> int: ...
    @property
    def organization_id(self) -> int: ...
    @property
    def run_id(self) -> int | None: ...
    @property
    def url(self) -> str: ...
    @property
    def body(self) -> str: ...
    @property
    def secret(self) -> str | None:
        """None when the stored secret cannot be decrypted (the secret key changed)."""
    @property
    def attempts(self) -> int: ...


class DeliveryStore(Protocol):
    async def due(self, now: float, limit: int) -> Sequence[PendingDelivery]: ...
    async def next_due_at(self) -> float | None: ...
    async def record_attempt(self, delivery_id: int, *, at: float, status_code: int | None, error_id: str | None,
                             message: str, duration_ms: int, next_attempt_at: float | None,
                             delivered: bool) -> None:
        """Log the attempt; `next_attempt_at` None and not `delivered`: given up."""


class Clock(Protocol):
    def now(self) -> float:
        """Unix seconds."""
    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def now(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


HostsFor = Callable[[int], Awaitable[HostPolicy]]


class WebhookWorker:
    def __init__(self, store: DeliveryStore, client: OutboundClient, hosts_for: HostsFor, *,
                 clock: Clock | None = None, retry: RetryPolicy | None = None,
                 jitter: Callable[[], float] = random.random, batch: int = 10, idle_s: float = 60.0) -> None:
        self.store, self.client, self.hosts_for = store, client, hosts_for
        self.clock = clock or SystemClock()
        self.retry = retry or RetryPolicy()
        self.jitter, self.batch, self.idle_s = jitter, batch, idle_s
        self._wake = asyncio.Event()

    def wake(self) -> None:
        self._wake.set()

    async def run_once(self) -> int:
        """Attempt every delivery due now (concurrently, `batch` at most); how many were recorded."""
        due = await self.store.due(self.clock.now(), self.batch)
        results = await asyncio.gather(*(self._deliver(delivery) for delivery in due), return_exceptions=True)
        for delivery, result in zip(due, results, strict=True):
            if isinstance(result, BaseException):  # stays due: tried again on a later pass
                log.error("webhook delivery failed error_id=webhook-worker-failed delivery=%d run=%s: %r",
                          delivery.id, delivery.run_id, result)
        return sum(1 for result in results if not isinstance(result, BaseException))

    async def run(self) -> None:
        """Until cancelled: deliver what is due, then sleep until the next one is due (at most
        `idle_s`) or `wake()` is called."""
        while True:
            try:
                if await self.run_once() == self.batch:
                    continue  # more may be due
                next_due = await self.store.next_due_at()
            except asyncio.CancelledError:
                raise
            except Exception:  # a locked database must not end deliveries for good
                log.exception("webhook delivery pass failed error_id=webhook-worker-failed")
                next_due = None
            wait = self.idle_s if next_due is None else min(self.idle_s, max(0.0, next_due - self.clock.now()))
            await self._sleep(wait)

    async def _sleep(self, seconds: float) -> None:
        self._wake.clear()
        waiter = asyncio.ensure_future(self._wake.wait())
        sleeper = asyncio.ensure_future(self.clock.sleep(seconds))
        try:
            await asyncio.wait({waiter, sleeper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (waiter, sleeper):
                task.cancel()
            await asyncio.gather(waiter, sleeper, return_exceptions=True)

    async def _deliver(self, delivery: PendingDelivery) -> None:
        now = self.clock.now()
        if delivery.secret is None:
            attempt = Attempt(False, False, None, "webhook-secret-unreadable",
                              "the webhook secret cannot be decrypted: the secret key changed; enter it again", 0)
        else:
            hosts = await self.hosts_for(delivery.organization_id)
            attempt = await send_webhook(self.client, hosts, url=delivery.url, secret=delivery.secret,
                                         body=delivery.body.encode(), delivery_id=delivery.id, now=now)
        made = delivery.attempts + 1
        next_at = None
        if not attempt.delivered and attempt.retryable and made < self.retry.max_attempts:
            wait = self.retry.delay(made, self.jitter())
            if attempt.retry_after_s is not None:
                wait = max(wait, min(attempt.retry_after_s, self.retry.cap_s))
            next_at = now + wait
        await self.store.record_attempt(delivery.id, at=now, status_code=attempt.status_code, error_id=attempt.error_id,
                                        message=attempt.message, duration_ms=attempt.duration_ms,
                                        next_attempt_at=next_at, delivered=attempt.delivered)
        outcome = "delivered" if attempt.delivered else ("retry" if next_at is not None else "given up")
        level = logging.INFO if attempt.delivered else logging.WARNING
        log.log(level, "webhook %s delivery=%d run=%s attempt=%d status=%s error_id=%s %s", outcome, delivery.id,
                delivery.run_id, made, attempt.status_code, attempt.error_id, attempt.message)
