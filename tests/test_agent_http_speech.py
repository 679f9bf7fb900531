"""Speech over OpenAI-compatible HTTP endpoints (`/audio/speech`, `/audio/transcriptions`) instead of
the embedded models, against a stub on loopback."""
from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import numpy as np
import pytest

from agent.audio import wav_bytes
from agent.definition import validate_definition
from agent.runtime import AgentResult, AgentRuntime
from agent.samples import front_desk
from tests.support.loopback import LoopbackCall
from tests.test_agent_voice import CONTEXT, Recorder, phrase


class SpeechStub:
    """TTS answers a 24 kHz WAV tone as long as the text; STT answers a fixed transcript."""

    def __init__(self, transcript: str) -> None:
        self.transcript = transcript
        self.requests: list[tuple[str, dict[str, str], bytes]] = []
        self.port = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode()
        path = head.split(" ")[1]
        headers = {k.strip().lower(): v.strip() for k, v in
                   (line.split(":", 1) for line in head.split("\r\n")[1:] if ":" in line)}
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        self.requests.append((path, headers, body))
        if path.endswith("/audio/speech"):
            seconds = 0.06 * len(json.loads(body)["input"])
            t = np.arange(int(24000 * seconds)) / 24000
            payload, kind = wav_bytes((0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), 24000), "audio/wav"
        else:
            payload, kind = json.dumps({"text": self.transcript}).encode(), "application/json"
        writer.write(f"HTTP/1.1 200 OK\r\nContent-Type: {kind}\r\nContent-Length: {len(payload)}\r\n"
                     "Connection: close\r\n\r\n".encode() + payload)
        await writer.drain()
        writer.close()


@pytest.fixture
async def stub() -> AsyncIterator[SpeechStub]:
    state = SpeechStub("Support, please.")
    server = await asyncio.start_server(state.handle, "127.0.0.1", 0)
    state.port = server.sockets[0].getsockname()[1]
    async with server:
        yield state


@pytest.fixture(scope="module")
def runtime() -> Iterator[AgentRuntime]:
    loaded = AgentRuntime.load(stt="none", tts="none")  # nothing embedded: HTTP or nothing
    yield loaded
    asyncio.run(loaded.close())


def http_definition(port: int, **changes: Any) -> dict[str, Any]:
    url = f"http://127.0.0.1:{port}/v1"
    raw = front_desk() | {"greeting": "Hello.", "voice": "nova",
                          "stt": {"provider": "openai", "base_url": url, "api_key": "sk-stt"},
                          "tts": {"provider": "openai", "base_url": url, "api_key": "sk-tts"}}
    clean, errors = validate_definition(raw | changes)
    assert errors == {} and clean is not None
    return clean


async def test_greeting_and_transcripts_go_through_http_endpoints(runtime: AgentRuntime, stub: SpeechStub) -> None:
    call, recorder = LoopbackCall(), Recorder()
    task = asyncio.create_task(runtime.run(call, http_definition(stub.port), CONTEXT, recorder))
    await call.until(lambda: bool(call.marks), 10)
    assert len(call.played) >= 10  # the tone for "Hello." came back as µ-law frames
    await call.say(phrase("07"))  # any speech: the stub decides what was said
    result = await asyncio.wait_for(task, 15)
    await call.aclose()
    assert result == AgentResult("completed", "transferred to 7001", "7001")
    paths = [path for path, _, _ in stub.requests]
    assert "/v1/audio/speech" in paths and "/v1/audio/transcriptions" in paths
    speech = next((h, b) for p, h, b in stub.requests if p.endswith("/speech"))
    assert speech[0]["authorization"] == "Bearer sk-tts" and json.loads(speech[1])["voice"] == "nova"
    upload = next((h, b) for p, h, b in stub.requests if p.endswith("/transcriptions"))
    assert upload[0]["authorization"] == "Bearer sk-stt" and b"RIFF" in upload[1]
    assert [t for _, t, _ in recorder.of("transcript", "caller")] == ["Support, please."]


async def test_without_embedded_models_or_endpoints_the_call_fails_cleanly(runtime: AgentRuntime) -> None:
    call, recorder = LoopbackCall(), Recorder()
    result = await runtime.run(call, front_desk(), CONTEXT, recorder)
    assert result.status == "failed" and result.reason.startswith("stt-unavailable")
    assert call.hangup_reason == "stt-unavailable"
    assert [d["error_id"] for _, _, d in recorder.of("error")] == ["stt-unavailable"]
