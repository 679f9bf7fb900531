"""The voice agent as call control runs it (`media.port.AgentRunner`): the embedded runtime with
what a call needs from the server around it.

For each call: the workflow's secrets are decrypted in memory (a secret that no longer decrypts,
after the secret key changed, becomes empty and is logged, so the call still runs), and the
call reaches the user's systems through the process's outbound client under the organisation's
allowed hosts (`agent.outside.Outside`). Call control puts the run's id in the context.
"""
from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from agent.definition import map_secrets
from agent.outbound_http import OutboundClient
from agent.outside import Outside
from data.store import Store
from media.port import AgentOutcome, CallPort, EventSink
from web.services.webhooks import hosts_of

if TYPE_CHECKING:
    from agent.runtime import AgentRuntime

log = logging.getLogger("switchboard.web.agent")


class CallAgent:
    def __init__(self, runtime: AgentRuntime, store: Store, client: OutboundClient) -> None:
        self.runtime, self.store, self.client = runtime, store, client

    async def __call__(self, call: CallPort, definition: Mapping[str, Any], context: dict[str, Any],
                       on_event: EventSink) -> AgentOutcome:
        run_id = context.get("run_id")
        run = await self.store.runs.get_any(run_id) if isinstance(run_id, int) else None
        hosts = await hosts_of(self.store, run.organization_id) if run is not None else None
        outside = Outside(self.client, hosts) if hosts is not None else Outside(self.client)
        return await self.runtime.run(call, self._decrypted(definition, run_id), context, on_event, outside=outside)

    def _decrypted(self, definition: Mapping[str, Any], run_id: object) -> dict[str, Any]:
        def decrypt(token: str) -> str:
            try:
                return self.store.box.decrypt(token)
            except ValueError:
                log.warning("a workflow secret cannot be decrypted (the secret key changed) "
                            "error_id=secret-undecryptable run=%s: it is left empty", run_id)
                return ""
        return map_secrets(dict(definition), decrypt)
