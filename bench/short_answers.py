"""One-word answers ("Sales.", "Support.", "Yes.", "No.", "One.") in voices the other tests never
use: does the STT get the caller's intent?

    python bench/short_answers.py                          # tiny.en configurations
    python bench/short_answers.py --model base=/path/to/ct2/whisper-base --configs base+hints
    python bench/short_answers.py --conditions clean phone --configs tiny.en+hints

Clips: tests/fixtures/short_answers/<voice>/<word>.ul (make.py there). Conditions:
- clean: the clip as rendered (8 kHz µ-law, trimmed to 100 ms margins);
- phone: 300-3400 Hz band-pass and white noise at 20 dB SNR, µ-law again;
- call: the clip inside 0.6 s / 0.9 s of -60 dBFS line noise, cut by the project's VAD endpointer
  (silero, pre-roll and tail as on a call) exactly as the voice session hands it to the STT.
Negatives (short non-answers: "Hello?", "Billing.", "What?", "Sell.", "None.", "Once.", …, in three
espeak and three flite voices) must match no intent.

Per configuration: intent accuracy (what the dialog understands, `ScriptDialog.understood`: its
keywords, then, for a short transcript naming none, the audio's evidence, agent/stt_choice.py), WER,
repeated-word hallucinations (a word or phrase 3+ times in a row) in Whisper's raw output and after
the guards, negatives given an intent, and per-utterance decode time: CPU (process time, 1 thread)
and wall p50/p90. The machine is shared: wall figures are "measured under load".
"""
from __future__ import annotations

import argparse
import io
import subprocess
import time
import wave
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
from _common import ROOT, machine, percentile, write_result
from _speech import caller_phrases

from agent.audio import LINE_RATE, Samples, float_to_ulaw, resample, trim_silence, ulaw_to_float
from agent.definition import Intent, ScriptSection, State
from agent.dialog import Heard
from agent.script import ScriptDialog
from agent.stt import WhisperStt, clean_text
from agent.stt_choice import AnswerEvidence
from agent.stt_filters import repeated_word_runs
from agent.text import words
from agent.vad import Endpointer, PreGate, SpeechEnded, VadPool

CLIPS = ROOT / "tests" / "fixtures" / "short_answers"
ANSWERS = ["sales", "support", "yes", "no", "one"]
INTENTS = {"sales": ["sales", "sale"], "support": ["support"], "yes": ["yes", "yeah", "yep", "correct"],
           "no": ["no", "nope"], "one": ["one", "1"]}
HINTS = [k for keys in INTENTS.values() for k in keys]  # what the dialog passes: every keyword of the state
NEGATIVES = ["Hello?", "Billing.", "Maybe.", "What?", "Thanks.", "Cancel.", "Sorry?", "Hold on.", "Seven.", "Later.",
             "Okay.", "Nothing.", "Who is this?", "Hi.", "Sure.", "Fine.", "Sell.", "Service.", "Two.", "None.",
             "Noon.", "Once.", "Done.", "Well...", "Hmm.", "Pardon?", "Operator.", "Agent.", "I don't know.", "Bye."]
NEGATIVE_VOICES = ["espeak:en-us+m3", "espeak:en-gb+f2", "espeak:en-gb-scotland", "flite:slt", "flite:awb", "flite:rms"]
CONFIGS: dict[str, dict[str, Any]] = {
    "tiny.en": {"use_hints": False, "trim": False},
    "tiny.en+trim": {"use_hints": False},
    "tiny.en+hints": {"check_answers": False},
    "tiny.en+hints+answers": {},
    "tiny.en+hints+reppen1.2": {"repetition_penalty": 1.2},
    "tiny.en+hints+beam5": {"beam_size": 5},
    "tiny.en+hints+norepeat3": {"no_repeat_ngram_size": 3},
    "tiny.en+hints+nbest5": {"nbest": 5},
    "base+hints+nbest5": {"model": "base", "nbest": 5},
    "base+hints": {"model": "base"},
    "base+hints+ctx5": {"model": "base", "context_s": 5.0},
    "small+hints": {"model": "small"},
}


def dialog() -> ScriptDialog:
    intents = tuple(Intent(name, "say", keywords=tuple(keys)) for name, keys in INTENTS.items())
    return ScriptDialog(ScriptSection(start="menu", states=(State("menu", intents=intents),), fallback="?"), "", {})


def intent_of(d: ScriptDialog, text: str, answers: tuple[AnswerEvidence, ...]) -> str | None:
    match = d.understood(Heard(text, answers))
    return None if match is None else match.name


def phone(audio: Samples, rng: np.random.Generator) -> Samples:
    taps = np.arange(63) - 31
    h = (2 * 3400 / LINE_RATE * np.sinc(2 * 3400 / LINE_RATE * taps)
         - 2 * 300 / LINE_RATE * np.sinc(2 * 300 / LINE_RATE * taps)) * np.hamming(63)
    band = np.convolve(audio, h, mode="same")
    noise = rng.standard_normal(len(band)) * np.sqrt(np.mean(band**2)) * 10 ** (-20 / 20)
    return ulaw_to_float(float_to_ulaw((band + noise).astype(np.float32)))


def in_call(audio: Samples, pool: VadPool, rng: np.random.Generator) -> Samples | None:
    """The clip as the endpointer cuts it out of a call (None: the VAD heard nothing)."""
    def noise(seconds: float) -> Samples:
        return (rng.standard_normal(int(seconds * LINE_RATE)) * 10 ** (-60 / 20)).astype(np.float32)
    stream = float_to_ulaw(np.concatenate([noise(0.6), audio, noise(0.9)]))
    model = pool.acquire()
    try:
        ep = Endpointer(model, end_of_speech_ms=500, pregate=PreGate())
        for k in range(len(stream) // 160):
            for event in ep.feed(stream[k * 160:(k + 1) * 160], (k + 1) * 0.02):
                if isinstance(event, SpeechEnded):
                    return event.audio
        return None
    finally:
        pool.release(model)


def synthesize(text: str, voice: str) -> Samples | None:
    """`voice`: "espeak:<voice>" or "flite:<voice>" (None when that program is missing)."""
    engine, name = voice.split(":", 1)
    command = (["espeak-ng", "-v", name, "-s", "150", "--stdout", text] if engine == "espeak"
               else ["flite", "-voice", name, "-t", text, "-o", "/dev/stdout"])
    try:
        wav = subprocess.run(command, check=True, capture_output=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    with wave.open(io.BytesIO(wav)) as src:
        rate = src.getframerate()
        pcm: Samples = (np.frombuffer(src.readframes(src.getnframes()), "<i2") / 32768).astype(np.float32)
    audio = resample(trim_silence(pcm, rate, lead_s=0.1, tail_s=0.1), rate, LINE_RATE)
    return ulaw_to_float(float_to_ulaw(audio * 0.1 / max(float(np.sqrt(np.mean(audio**2))), 1e-6)))


def edit_distance(ref: list[str], hyp: list[str]) -> int:
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (r != h))
    return row[-1]


def decode(stt: WhisperStt, audio: Samples | None,
           hints: list[str]) -> tuple[str, str, tuple[AnswerEvidence, ...], float, float]:
    """(raw Whisper text, guarded text, evidence for the hints, CPU s, wall s)."""
    if audio is None:
        return "", "", (), 0.0, 0.0
    cpu, wall = time.process_time(), time.perf_counter()
    answers = hints if stt.use_hints and stt.check_answers else []
    raw, evidence = stt.transcribe_checked(audio, ", ".join(hints) and _prompt(stt, hints), answers)
    return raw, clean_text(raw)[0], evidence, time.process_time() - cpu, time.perf_counter() - wall


def _prompt(stt: WhisperStt, hints: list[str]) -> str:
    from agent.stt_filters import hint_prompt
    return hint_prompt(hints) if stt.use_hints else ""


def evaluate(stt: WhisperStt, condition: str, pool: VadPool) -> dict[str, Any]:
    rng = np.random.default_rng(11)
    d = dialog()
    rows: list[dict[str, Any]] = []
    for folder in sorted(p for p in CLIPS.iterdir() if p.is_dir()):
        for word in ANSWERS:
            audio: Samples | None = ulaw_to_float((folder / f"{word}.ul").read_bytes())
            assert audio is not None
            if condition == "phone":
                audio = phone(audio, rng)
            elif condition == "call":
                audio = in_call(audio, pool, rng)
            raw, text, evidence, cpu, wall = decode(stt, audio, HINTS)
            rows.append({"voice": folder.name, "word": word, "raw": raw, "text": text,
                         "intent": intent_of(d, text, evidence),
                         "cpu_s": cpu, "wall_s": wall, "detected": audio is not None})
    negatives = []
    for text in NEGATIVES:
        for voice in NEGATIVE_VOICES:
            audio = synthesize(text, voice)
            if audio is None:
                continue
            if condition == "phone":
                audio = phone(audio, rng)
            elif condition == "call":
                audio = in_call(audio, pool, rng)
            raw, heard, evidence, _, _ = decode(stt, audio, HINTS)
            negatives.append({"said": text, "voice": voice, "text": heard, "intent": intent_of(d, heard, evidence)})
    errors = sum(edit_distance([r["word"]], words(r["text"].replace("1", "one"))) for r in rows)
    cpu_s = [float(r["cpu_s"]) for r in rows if r["detected"]]
    wall_s = [float(r["wall_s"]) for r in rows if r["detected"]]
    return {
        "clips": len(rows), "intent_accuracy": round(sum(r["intent"] == r["word"] for r in rows) / len(rows), 3),
        "intent_by_engine": {engine: round(sum(r["intent"] == r["word"] for r in mine) / len(mine), 3)
                             for engine in sorted({r["voice"].split("-")[0] for r in rows})
                             for mine in [[r for r in rows if r["voice"].split("-")[0] == engine]]},
        "wer": round(errors / len(rows), 3),
        "repeat_hallucinations_raw": sum(repeated_word_runs(r["raw"]) for r in rows),
        "repeat_hallucinations": sum(repeated_word_runs(r["text"]) for r in rows),
        "negatives_given_an_intent": sum(n["intent"] is not None for n in negatives), "negatives": len(negatives),
        "cpu_ms_p50": round(1000 * (percentile(cpu_s, 50) or 0)),
        "cpu_ms_p90": round(1000 * (percentile(cpu_s, 90) or 0)),
        "wall_ms_p50_under_load": round(1000 * (percentile(wall_s, 50) or 0)),
        "wall_ms_p90_under_load": round(1000 * (percentile(wall_s, 90) or 0)),
        "wrong": [f"{r['voice']}/{r['word']}: {r['raw']!r}" for r in rows if r["intent"] != r["word"]],
        "negative_intents": [f"{n['said']} ({n['voice']}): {n['text']!r}" for n in negatives if n["intent"]],
    }


def open_speech_wer(stt: WhisperStt) -> float | None:
    """WER on the ten longer caller phrases with the same hints (hints must not hurt open speech)."""
    phrases = caller_phrases()
    if not phrases:
        return None
    errors = total = 0
    for text, audio in phrases:
        heard = clean_text(stt.transcribe_sync(audio, _prompt(stt, HINTS)))[0]
        ref = words(text)
        errors += edit_distance(ref, words(heard))
        total += len(ref)
    return round(errors / total, 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--configs", nargs="*",
                        default=["tiny.en", "tiny.en+trim", "tiny.en+hints"])
    parser.add_argument("--conditions", nargs="*", default=["clean", "phone", "call"])
    parser.add_argument("--model", action="append", default=[],
                        help="NAME=DIR: a CTranslate2 Whisper directory for configs that name a model")
    args = parser.parse_args()
    if not CLIPS.exists():
        raise SystemExit(f"no clips at {CLIPS}: run tests/fixtures/short_answers/make.py")
    models = dict(item.split("=", 1) for item in args.model)
    pool = VadPool()
    results: dict[str, Any] = {}
    for name in args.configs:
        options = dict(CONFIGS[name])
        model = options.pop("model", None)
        if model is not None and model not in models:
            print(f"{name}: skipped (pass --model {model}=DIR)")
            continue
        stt = WhisperStt(ThreadPoolExecutor(1), workers=1, model_path=models.get(model) if model else None, **options)
        stt.warm_up()
        results[name] = {"open_speech_wer": open_speech_wer(stt)}
        for condition in args.conditions:
            figures = evaluate(stt, condition, pool)
            results[name][condition] = figures
            shown = {k: v for k, v in figures.items() if k not in ("wrong", "negative_intents")}
            print(f"{name:<20} {condition:<6} " + " ".join(f"{k}={v}" for k, v in shown.items()), flush=True)
            for line in figures["wrong"] + [f"NEGATIVE {n}" for n in figures["negative_intents"]]:
                print(f"{'':<28}{line}")
        print(f"{name:<20} open-speech WER with the hints: {results[name]['open_speech_wer']}")
    path = write_result("short_answers", {"machine": machine(), "args": vars(args), "results": results})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
