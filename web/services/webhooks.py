"""Post-call webhooks, wired: when a run's end is committed (`data.runs.Runs.on_finished`) its
workflow's webhooks are queued in the delivery log with the payload (`agent.webhooks`), and the
one delivery worker of the process (`agent.webhook_worker`) is woken to send them.

The worker runs from the lifespan's start to its stop; whatever is still pending in the log
(a restart, receivers that were down) is picked up by its first pass. Each organisation's
requests go through its allowed hosts (`data.outbound`). Reads for pages and the API
(`deliveries_of`) are scoped to the organisation.
"""
from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

from agent.hosts import HostPolicy
from agent.outbound_http import OutboundClient
from agent.webhook_worker import WebhookWorker
from agent.webhooks import RetryPolicy, build_payload, call_variables, encode_body
from data.models import WebhookAttempt, WebhookDelivery
from data.store import Store

log = logging.getLogger("switchboard.web.webhooks")


@dataclass(frozen=True)
class DeliveryLog:
    """One delivery with its attempts, for the call page and the API."""
    delivery: WebhookDelivery
    attempts: list[WebhookAttempt]

    def as_json(self) -> dict[str, Any]:
        d = self.delivery
        return {"id": d.id, "url": d.url, "event": d.event, "status": d.status, "attempts": d.attempts,
                "next_attempt_at": d.next_attempt_at, "last_status_code": d.last_status_code,
                "last_error_id": d.last_error_id, "created_at": d.created_at, "updated_at": d.updated_at,
                "log": [{"attempt": a.attempt, "at": a.at, "status_code": a.status_code, "error_id": a.error_id,
                         "message": a.message, "duration_ms": a.duration_ms} for a in self.attempts]}


async def hosts_of(store: Store, org_id: int) -> HostPolicy:
    """The organisation's allowed hosts for requests to its systems."""
    setting = await store.outbound.get(org_id)
    return HostPolicy.from_setting(setting.allowed_hosts, setting.only_listed)


async def deliveries_of(store: Store, org_id: int, run_id: int) -> list[DeliveryLog]:
    found = await store.webhooks.list_for_run(org_id, run_id)
    return [DeliveryLog(d, await store.webhooks.attempts(org_id, d.id)) for d in found]


class PostCallWebhooks:
    def __init__(self, store: Store, client: OutboundClient, *, retry: RetryPolicy | None = None) -> None:
        self.store = store
        self.worker = WebhookWorker(store.webhooks, client, self._hosts, retry=retry)
        self._worker_task: asyncio.Task[None] | None = None
        self._queuing: set[asyncio.Task[int]] = set()

    async def _hosts(self, org_id: int) -> HostPolicy:
        return await hosts_of(self.store, org_id)

    def start(self) -> None:
        self.store.runs.on_finished(self.run_finished)
        self._worker_task = asyncio.create_task(self.worker.run(), name="webhook-worker")

    async def stop(self) -> None:
        """Queue what finished calls still owe, then stop the worker (pending deliveries stay in the log)."""
        await asyncio.gather(*self._queuing, return_exceptions=True)
        if self._worker_task is not None:
            self._worker_task.cancel()
            await asyncio.gather(self._worker_task, return_exceptions=True)

    async def run_finished(self, run_id: int) -> None:
        """A run ended: queue its webhooks in the background (the call's teardown does not wait)."""
        task = asyncio.create_task(self.queue(run_id), name=f"webhooks-run-{run_id}")
        self._queuing.add(task)
        task.add_done_callback(self._queuing.discard)

    async def queue(self, run_id: int) -> int:
        """Queue one delivery per webhook of the run's workflow; how many were queued."""
        try:
            return await self._queue(run_id)
        except Exception:  # the call is over and recorded; only its webhooks are lost
            log.exception("could not queue the post-call webhooks error_id=webhook-queue-failed run=%d", run_id)
            return 0

    async def _queue(self, run_id: int) -> int:
        run = await self.store.runs.get_any(run_id)
        if run is None or run.workflow_id is None:
            return 0
        workflow = await self.store.workflows.get(run.organization_id, run.workflow_id)
        targets = workflow.definition.get("webhooks") if workflow is not None else None
        if not isinstance(targets, list) or not targets:
            return 0
        events = await self.store.runs.events(run.id)
        body = encode_body(build_payload(run, events, call_variables(events))).decode()
        queued = 0
        for target in targets:
            if not isinstance(target, dict) or not isinstance(target.get("url"), str):
                continue
            await self.store.webhooks.enqueue(org_id=run.organization_id, run_id=run.id, url=target["url"],
                                              secret=self._secret(target.get("secret"), run.id), body=body,
                                              now=time.time(), workflow_id=run.workflow_id)
            queued += 1
        self.worker.wake()
        return queued

    def _secret(self, stored: object, run_id: int) -> str:
        """The target's signing secret in clear ('' when it cannot be read: the delivery then fails
        as webhook-secret-unreadable instead of going out unsigned)."""
        if not isinstance(stored, str) or not stored:
            return ""
        try:
            return self.store.box.decrypt(stored)
        except ValueError:
            log.warning("webhook secret unreadable error_id=webhook-secret-unreadable run=%d", run_id)
            return ""
