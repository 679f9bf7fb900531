"""What a call writes to the database: its run's events, its end (retried while the database
cannot be written, since the open row holds a quota slot), a refused call's row and the
recording. A write that fails never stops or hangs a call; it is logged with its error id."""
from __future__ import annotations

import asyncio
import logging
import sqlite3
from typing import Any

from ari.call import Call, CallEnd
from ari.routing import Refusal
from ari.stats import CallStats
from data.retention import recordings_dir
from data.store import Store
from media.port import EventSink
from media.recording import Recorder
from media.session import MediaSession

log = logging.getLogger("switchboard.ari.calls")

# Recording a run's end while the database cannot be written (busy past its timeout, read-only,
# full): the call is torn down in Asterisk at once; the row is retried after these delays.
FINISH_RETRY_DELAYS_S = (0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 60.0, 60.0, 60.0, 60.0, 60.0, 60.0, 60.0)


class CallRecords:
    def __init__(self, store: Store, stats: CallStats) -> None:
        self.store = store
        self.stats = stats
        self._finishing: set[asyncio.Task[None]] = set()  # runs whose end waits for the database

    def sink(self, call: Call) -> EventSink:
        """The agent's `on_event`: run events (and latency figures for /metrics)."""
        async def record(kind: str, role: str | None, text: str | None, data: dict[str, Any]) -> None:
            if kind == "latency":
                self.stats.observe_latency(data)
            if call.run_id is not None:
                try:
                    await self.store.runs.add_event(call.run_id, kind, role=role, text=text, data=data)
                except sqlite3.Error as exc:  # the call goes on; only this entry is lost
                    log.warning("could not record a %s event error_id=db-unavailable %s: %s", kind, call.label, exc)

        return record

    async def action(self, call: Call, text: str, data: dict[str, Any]) -> None:
        """An agent action (a transfer) in the run's events; lost, not raised, if the database fails."""
        if call.run_id is None:
            return
        try:
            await self.store.runs.add_event(call.run_id, "action", role="agent", text=text, data=data)
        except sqlite3.Error as exc:
            log.warning("could not record the transfer error_id=db-unavailable %s: %s", call.label, exc)

    async def refused(self, call: Call, refusal: Refusal) -> None:
        """A refused call gets a `rejected` run row when it has none yet."""
        if call.run_id is not None:
            return
        try:
            run = await self.store.runs.create(
                org_id=call.org_id, workflow_id=None, direction="inbound", status="rejected",
                telephony_configuration_id=call.config_id, call_id=call.channel_id, caller_number=call.caller,
                called_number=call.called, reason=refusal.message, error_id=refusal.error_id,
            )
            call.run_id = run.id
        except sqlite3.Error as exc:  # still refuse; only the record is lost
            log.warning("could not record the refused call error_id=db-unavailable %s: %s", call.label, exc)

    async def start_recording(self, call: Call, session: MediaSession) -> None:
        """The workflow asks for a recording: tap the session (a failure only loses the audio)."""
        path = recordings_dir(self.store.db.path) / f"run-{call.run_id}.wav"
        try:
            call.recorder = await Recorder.start(path)
        except OSError as exc:
            log.warning("cannot record the call error_id=recording-failed %s: %s", call.label, exc)
            return
        session.recorder = call.recorder

    async def save_recording(self, call: Call, recorder: Recorder) -> None:
        seconds = await recorder.close()
        if seconds is not None and call.run_id is not None:
            try:
                await self.store.runs.set_recording(call.run_id, recorder.path.name, round(seconds, 3))
            except sqlite3.Error as exc:  # the file stays; the retention sweep removes it as an orphan
                log.warning("could not record the recording error_id=db-unavailable %s: %s", call.label, exc)

    async def finish(self, call: Call, end: CallEnd, delays: tuple[float, ...] = FINISH_RETRY_DELAYS_S) -> None:
        """Record the end; while the database cannot be written, keep retrying in the background
        after `delays` (the open row holds a quota slot, so it must not stay open)."""
        try:
            await self._write_end(call, end)
        except sqlite3.Error as exc:
            log.warning("could not record the end of the call error_id=db-unavailable %s: %s; retrying",
                        call.label, exc)
            task = asyncio.get_running_loop().create_task(self._retry_finish(call, end, delays),
                                                          name=f"finish-run-{call.run_id}")
            self._finishing.add(task)
            task.add_done_callback(self._finishing.discard)
        except Exception:  # the store was closed (shutdown): the next start closes the run
            return

    async def _retry_finish(self, call: Call, end: CallEnd, delays: tuple[float, ...]) -> None:
        for delay in delays:
            await asyncio.sleep(delay)
            try:
                await self._write_end(call, end)
            except sqlite3.Error:
                continue
            except Exception:  # the store was closed (shutdown): the next start closes the run
                return
            log.info("recorded the end of the call after the database came back %s", call.label)
            return
        log.error("gave up recording the end of the call error_id=db-unavailable %s: the next start closes "
                  "the run as failed", call.label)

    async def _write_end(self, call: Call, end: CallEnd) -> None:
        assert call.run_id is not None
        await self.store.runs.finish(call.run_id, end.status, end.reason, error_id=end.error_id,
                                     hangup_cause=end.cause)
