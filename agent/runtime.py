"""The agent runtime: models loaded once and shared by every call, and `run()` for one call.

    runtime = AgentRuntime.load()                 # Whisper, hibari, silero: ~1-2 s, once
    result = await runtime.run(call, definition, context, on_event, outside=Outside(client, hosts))
    await runtime.close()

`call` is the `media.port.CallPort` that call control hands over (the media session); the agent
knows nothing of ARI or Starlette. `outside` (`agent.outside`) is how the call reaches the user's
systems (tools, the pre-call lookup) under the organisation's allowed hosts; without it the
runtime's own client allows public hosts only. Inference runs on bounded thread pools (STT: one decode per
core; TTS likewise) so the event loop and the 20 ms pacing never wait for a model.

`on_event(kind, role, text, data)` receives the run's events:
- ("transcript", "caller"|"agent", text, {...}): agent turns carry `interrupted` (and, when
  interrupted, `said`, `heard_s`, `flush_ms`); caller turns carry `stt_ms`, `speech_ms`.
- ("dtmf", "caller", digit, {}), ("action", "agent", summary, {"action": "transfer"|"hang_up", ...}),
- ("latency", None, None, {"voice_to_voice_ms", "stt_ms", "reply_ms"}), ("error", None, message, {"error_id"}).
- ("lookup", None, summary, {"variables", "error_id", "message", "dropped", "elapsed_ms"}) before the greeting;
  ("tool", None, name, `agent.tools.tool_event`), ("variables", None, "name = value", {"source", "values"}),
  ("capture", None, why, {"name", "reason", "attempt", "gave_up"}) as the dialog goes.
"""
from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from agent.definition import EMBEDDED_VOICES, WorkflowDefinition, as_definition
from agent.echo import EchoCanceller
from agent.engines import build_dialog
from agent.errors import DefinitionInvalid, SpeechError
from agent.outbound_http import OutboundClient
from agent.outside import Outside, pre_call_variables, tool_runner
from agent.stt import HttpStt, SpeechToText, WhisperStt
from agent.tts import HibariTts, HttpTts, PiperTts, TextToSpeech
from agent.vad import Endpointer, PreGate, VadPool
from agent.voice import AgentResult, EventSink, VoiceSession
from media.port import CallPort

__all__ = ["AgentResult", "AgentRuntime", "EventSink"]

log = logging.getLogger("switchboard.agent")


class AgentRuntime:
    def __init__(self, *, workers: int, stt: SpeechToText | None, tts: TextToSpeech | None,
                 stt_pool: ThreadPoolExecutor, tts_pool: ThreadPoolExecutor) -> None:
        self.workers = workers
        self.stt, self.tts = stt, tts
        self.stt_pool, self.tts_pool = stt_pool, tts_pool
        self.vads = VadPool()
        self._piper: PiperTts | None = None
        self._outbound: OutboundClient | None = None  # for runs given no `outside`

    @classmethod
    def load(cls, *, workers: int | None = None, stt: str = "embedded", tts: str = "embedded") -> AgentRuntime:
        """Load the embedded models once. `stt`/`tts`: "embedded", or "none" when every workflow
        uses an HTTP endpoint (its `stt`/`tts` section) and no local model should be loaded."""
        if stt not in ("embedded", "none") or tts not in ("embedded", "none"):
            raise ValueError("stt and tts must be 'embedded' or 'none'")
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        count = workers or os.cpu_count() or 1
        stt_pool = ThreadPoolExecutor(count, thread_name_prefix="agent-stt")
        tts_pool = ThreadPoolExecutor(count, thread_name_prefix="agent-tts")
        whisper = WhisperStt(stt_pool, workers=count) if stt == "embedded" else None
        hibari = HibariTts(tts_pool) if tts == "embedded" else None
        if whisper is not None:
            whisper.warm_up()
        if hibari is not None:
            hibari.warm_up()
        runtime = cls(workers=count, stt=whisper, tts=hibari, stt_pool=stt_pool, tts_pool=tts_pool)
        runtime.vads.release(runtime.vads.acquire())
        return runtime

    async def run(self, call: CallPort, definition: Mapping[str, Any] | WorkflowDefinition,
                  context: dict[str, Any], on_event: EventSink, *, outside: Outside | None = None) -> AgentResult:
        """Talk to the caller until hang-up, transfer or the call closes. `definition`: the stored
        JSON (secrets decrypted), parsed here once."""
        try:
            clean = as_definition(definition)
        except DefinitionInvalid as exc:
            await _safe_emit(on_event, "error", str(exc), exc.error_id)
            await call.hangup("invalid workflow definition")
            return AgentResult("failed", f"invalid workflow definition: {exc.args[0]}")
        outside = outside or self._default_outside()
        context = await _with_lookup(clean, context, outside, on_event)
        async with httpx.AsyncClient(trust_env=False) as http:
            try:
                stt, tts = self._speech(clean, http)
            except SpeechError as exc:
                await _safe_emit(on_event, "error", str(exc), exc.error_id)
                await call.hangup(exc.error_id)
                return AgentResult("failed", str(exc))
            model = await asyncio.get_running_loop().run_in_executor(self.tts_pool, self.vads.acquire)
            try:
                endpointer = Endpointer(model, end_of_speech_ms=clean.end_of_speech_ms, pregate=PreGate())
                dialog = build_dialog(clean, context, http=http, tools=tool_runner(clean, context, outside))
                session = VoiceSession(call=call, definition=clean, context=context, on_event=on_event,
                                       dialog=dialog, stt=stt, tts=tts, endpointer=endpointer,
                                       echo=EchoCanceller())
                return await session.run()
            finally:
                self.vads.release(model)

    def _default_outside(self) -> Outside:
        if self._outbound is None:
            self._outbound = OutboundClient()
        return Outside(self._outbound)

    def _speech(self, definition: WorkflowDefinition,
                http: httpx.AsyncClient) -> tuple[SpeechToText, TextToSpeech]:
        stt_conf, tts_conf = definition.stt, definition.tts
        stt: SpeechToText | None = self.stt
        if stt_conf is not None and stt_conf.provider == "openai":
            stt = HttpStt(http, base_url=stt_conf.base_url or "", model=stt_conf.model or "whisper-1",
                          api_key=stt_conf.api_key or "", language=definition.language)
        tts: TextToSpeech | None = self.tts
        if tts_conf is not None and tts_conf.provider == "openai":
            voice = tts_conf.voice or (definition.voice if definition.voice not in EMBEDDED_VOICES else "alloy")
            tts = HttpTts(http, base_url=tts_conf.base_url or "", model=tts_conf.model or "tts-1", voice=voice,
                          api_key=tts_conf.api_key or "")
        elif tts_conf is not None and tts_conf.provider == "piper":
            if self._piper is None:
                self._piper = PiperTts(self.tts_pool)
            tts = self._piper
        if stt is None:
            raise SpeechError("no speech-to-text: the embedded model is not loaded and the workflow "
                              "names no stt endpoint", error_id="stt-unavailable")
        if tts is None:
            raise SpeechError("no text-to-speech: the embedded voice is not loaded and the workflow "
                              "names no tts endpoint", error_id="tts-unavailable")
        return stt, tts

    async def close(self) -> None:
        if self._outbound is not None:
            await self._outbound.aclose()
        for pool in (self.stt_pool, self.tts_pool):
            await asyncio.get_running_loop().run_in_executor(None, pool.shutdown)


async def _with_lookup(definition: WorkflowDefinition, context: dict[str, Any], outside: Outside,
                       on_event: EventSink) -> dict[str, Any]:
    """The call's context with the pre-call lookup's variables (its event recorded); the call facts
    win over a variable of the same name."""
    variables, event = await pre_call_variables(definition, context, outside)
    if event is not None:
        try:
            await on_event("lookup", None, event.text, event.data)
        except Exception:
            log.exception("event sink failed")
    return {**variables, **context}


async def _safe_emit(on_event: EventSink, kind: str, text: str, error_id: str) -> None:
    try:
        await on_event(kind, None, text, {"error_id": error_id})
    except Exception:
        log.exception("event sink failed")
