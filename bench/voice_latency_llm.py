"""Voice-to-voice latency with the HTTP LLM engine against a local stub that answers instantly, next
to the embedded script engine, over the same turns: the difference is our own overhead of the LLM
path (the OpenAI-compatible client, streaming, sentence splitting), with no model time in it.

It reuses bench/voice_latency.py (the agent-runtime engineer's benchmark: real VAD, Whisper tiny.en
and hibari TTS on an in-memory call in real time; end of caller speech taken from the recording) and
only swaps the dialog engine. The stub is a minimal OpenAI-compatible `POST /v1/chat/completions`
on loopback that streams "Okay, noted." (what the script engine says too) and `[DONE]` at once.

    python bench/voice_latency_llm.py [--turns 20] [--end-of-speech-ms 500]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agent.definition import validate_definition  # noqa: E402
from agent.runtime import AgentRuntime  # noqa: E402
from bench import voice_latency as vl  # noqa: E402
from bench._common import machine, summary, write_result  # noqa: E402

REPLY = "Okay, noted."


class StubLlm:
    """`POST /v1/chat/completions` → an SSE stream of REPLY, at once. Counts requests and how long
    each took to serve (request read → last byte written)."""

    def __init__(self) -> None:
        self.requests = 0
        self.serve_ms: list[float] = []
        self._server: asyncio.base_events.Server | None = None
        self.port = 0

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                t0 = time.perf_counter()
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                await reader.readexactly(length)
                self.requests += 1
                chunks = [{"choices": [{"index": 0, "delta": {"role": "assistant", "content": REPLY}}]},
                          {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}]
                body = b"".join(b"data: " + json.dumps(c).encode() + b"\n\n" for c in chunks) + b"data: [DONE]\n\n"
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                             + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
                await writer.drain()
                self.serve_ms.append((time.perf_counter() - t0) * 1000)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


def llm_workflow(end_of_speech_ms: int, base_url: str) -> dict[str, Any]:
    raw = {"engine": "llm", "greeting": "Hi.", "end_of_speech_ms": end_of_speech_ms, "no_input_reprompt_s": 120,
           "no_input_hangup_s": 300, "farewell": "Bye.",
           "llm": {"base_url": base_url, "model": "stub", "instructions": "Say 'Okay, noted.'", "timeout_s": 10}}
    clean, errors = validate_definition(raw)
    assert clean is not None, errors
    return clean


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--turns", type=int, default=20)
    parser.add_argument("--end-of-speech-ms", type=int, default=500)
    args = parser.parse_args(argv)
    phrases = [(vl.CALLERS / f"{n:02d}.ul").read_bytes() for n in range(10)]
    stub = StubLlm()
    await stub.start()
    loaded = time.perf_counter()
    runtime = AgentRuntime.load()
    print(f"models loaded in {time.perf_counter() - loaded:.2f} s; {runtime.workers} workers; end of speech after "
          f"{args.end_of_speech_ms} ms of silence (included below)", flush=True)
    results: dict[str, Any] = {}
    try:
        engines = {"script (embedded)": vl.workflow(args.end_of_speech_ms),
                   "llm (HTTP stub, instant)": llm_workflow(args.end_of_speech_ms, f"http://127.0.0.1:{stub.port}/v1")}
        for name, definition in engines.items():
            vl.STT_MS.clear()
            latencies, lags, missing = await vl.level(runtime, definition, phrases, 1, args.turns)
            results[name] = {"voice_to_voice_ms": summary([x * 1000 for x in latencies], 1), "unanswered": missing,
                             "whisper_ms": summary(list(vl.STT_MS), 1), "loop_lag_ms": summary([x * 1000 for x in lags], 2)}
            v = results[name]["voice_to_voice_ms"]
            print(f"{name:<26} {v['n']:>2} turns ({missing} unanswered): voice-to-voice p50 {v['p50']} ms, "
                  f"p95 {v['p95']} ms (Whisper p50 {results[name]['whisper_ms']['p50']} ms)", flush=True)
    finally:
        await runtime.close()
        await stub.stop()
    script, llm = (results[k]["voice_to_voice_ms"] for k in results)
    if script["p50"] is not None and llm["p50"] is not None:
        print(f"LLM path overhead over the script engine: p50 {llm['p50'] - script['p50']:+.1f} ms, "
              f"p95 {llm['p95'] - script['p95']:+.1f} ms; the stub served {stub.requests} requests in "
              f"p50 {statistics.median(stub.serve_ms):.2f} ms" if stub.serve_ms else "")
    path = write_result("voice_latency_llm", {"benchmark": "voice_latency_llm", "machine": machine(),
                                              "args": vars(args), "results": results,
                                              "stub": {"requests": stub.requests, "serve_ms": summary(stub.serve_ms, 3)},
                                              "loadavg_at_end": Path("/proc/loadavg").read_text().split()[:3]})
    print(f"result: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
