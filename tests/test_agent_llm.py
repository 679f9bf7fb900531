"""The LLM engine against a local stub OpenAI-compatible server on loopback (streamed chat
completions with tool calls), through the voice runtime and through the test chat."""
from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from agent.chat import TestChat
from agent.definition import validate_definition
from agent.runtime import AgentResult, AgentRuntime
from tests.support.loopback import LoopbackCall
from tests.test_agent_voice import CONTEXT, Recorder, onset_s, phrase

Chunk = tuple[float, Any]  # (seconds to wait first, delta dict | "hang")


def text(content: str, delay: float = 0.0) -> Chunk:
    return delay, {"content": content}


def tool(name: str, arguments: dict[str, Any], delay: float = 0.0, call_id: str = "call_1") -> Chunk:
    return delay, {"tool_calls": [{"index": 0, "id": call_id, "type": "function",
                                   "function": {"name": name, "arguments": json.dumps(arguments)}}]}


@dataclass
class StubLlm:
    """Answers each POST /v1/chat/completions with the next scripted stream (SSE)."""
    replies: list[list[Chunk]]
    requests: list[dict[str, Any]] = field(default_factory=list)
    sent_last_at: list[float] = field(default_factory=list)
    disconnected_at: list[float] = field(default_factory=list)
    port: int = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                          if line.lower().startswith(b"content-length"))
            self.requests.append(json.loads(await reader.readexactly(length)))
            script = self.replies.pop(0) if self.replies else [text("OK.")]
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n")
            await writer.drain()
            gone = asyncio.ensure_future(reader.read())
            for delay, delta in script:
                done, _ = await asyncio.wait({gone}, timeout=delay) if delay else (set(), set())
                if done or gone.done():
                    self.disconnected_at.append(time.monotonic())
                    return
                if delta == "hang":
                    await gone
                    self.disconnected_at.append(time.monotonic())
                    return
                chunk = {"id": "x", "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": delta}]}
                writer.write(f"data: {json.dumps(chunk)}\n\n".encode())
                await writer.drain()
            self.sent_last_at.append(time.monotonic())
            writer.write(b"data: [DONE]\n\n")
            await writer.drain()
            gone.cancel()
        except (ConnectionError, asyncio.IncompleteReadError):
            self.disconnected_at.append(time.monotonic())
        finally:
            writer.close()


@pytest.fixture
async def stub() -> AsyncIterator[StubLlm]:
    server_state = StubLlm(replies=[])
    server = await asyncio.start_server(server_state.handle, "127.0.0.1", 0)
    server_state.port = server.sockets[0].getsockname()[1]
    async with server:
        yield server_state
        server.close()


@pytest.fixture(scope="module")
def runtime() -> Iterator[AgentRuntime]:
    loaded = AgentRuntime.load()
    yield loaded
    asyncio.run(loaded.close())


def llm_definition(base_url: str, **llm: Any) -> dict[str, Any]:
    raw = {"engine": "llm", "greeting": "", "farewell": "Goodbye from the stub.", "no_input_reprompt_s": 30,
           "no_input_hangup_s": 60, "llm": {"model": "stub", "base_url": base_url, "api_key": "sk-test",
                                            "instructions": "You answer for {{called_number}}.", **llm}}
    clean, errors = validate_definition(raw)
    assert errors == {} and clean is not None
    return clean


async def run_call(runtime: AgentRuntime, defn: dict[str, Any]) -> tuple[LoopbackCall, Recorder,
                                                                            asyncio.Task[AgentResult]]:
    call, recorder = LoopbackCall(), Recorder()
    return call, recorder, asyncio.create_task(runtime.run(call, defn, CONTEXT, recorder))


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_sentences_are_spoken_while_the_reply_still_streams(runtime: AgentRuntime, stub: StubLlm) -> None:
    stub.replies = [[text("Hello, this is the "), text("stub line. "), text("Please hold on", 1.5),
                     text(" a moment."), tool("end_call", {"reason": "test over"}, 0.1)]]
    call, recorder, task = await run_call(runtime, llm_definition(stub.base_url))
    result = await asyncio.wait_for(task, 20)
    await call.aclose()
    assert call.played and stub.sent_last_at
    assert call.played[0].at < stub.sent_last_at[0] - 1.0, "first audio came only after the whole reply"
    request = stub.requests[0]
    assert request["stream"] is True and {t["function"]["name"] for t in request["tools"]} == {"transfer_call", "end_call"}
    assert "You answer for 100." in request["messages"][0]["content"]
    assert result == AgentResult("completed", "test over")


async def test_end_call_plays_the_farewell_to_its_mark_then_hangs_up(runtime: AgentRuntime, stub: StubLlm) -> None:
    stub.replies = [[text("Thanks, bye."), tool("end_call", {"reason": "caller is done"})]]
    call, recorder, task = await run_call(runtime, llm_definition(stub.base_url))
    result = await asyncio.wait_for(task, 20)
    await call.aclose()
    assert result == AgentResult("completed", "caller is done") and call.hangup_reason == "caller is done"
    said = [t for _, t, _ in recorder.of("transcript", "agent")]
    assert said == ["Thanks, bye. Goodbye from the stub."]
    assert call.unplayed_at_end == 0 and call.ended_at is not None
    assert call.marks and call.marks[-1][0] <= call.ended_at and len(call.marks) == 2


async def test_keys_reach_the_llm_as_text_and_transfer_call_transfers(runtime: AgentRuntime, stub: StubLlm) -> None:
    stub.replies = [[text("Hi. Press one for sales.")],
                    [tool("transfer_call", {"extension": "9999"})],  # refused: not allowed
                    [text("Connecting you."), tool("transfer_call", {"extension": "7000"})]]
    call, recorder, task = await run_call(runtime, llm_definition(stub.base_url, allowed_extensions=["7000"]))
    await call.until(lambda: bool(call.marks), 10)
    call.press("1")
    result = await asyncio.wait_for(task, 20)
    await call.aclose()
    assert result == AgentResult("completed", "transferred to 7000", "7000") and call.transferred_to == "7000"
    assert stub.requests[1]["messages"][-1] == {"role": "user", "content": "[keys pressed: 1]"}
    assert "cannot transfer to '9999'" in stub.requests[2]["messages"][-1]["content"]


@pytest.mark.parametrize("failure", ["unreachable", "slow"])
async def test_a_failing_llm_gets_an_apology_and_a_clean_end(runtime: AgentRuntime, stub: StubLlm,
                                                             failure: str) -> None:
    base_url = f"http://127.0.0.1:{closed_port()}/v1" if failure == "unreachable" else stub.base_url
    stub.replies = [[(0.0, "hang")]]
    defn = llm_definition(base_url, timeout_s=1, apology="Sorry, I'm having trouble. Goodbye.")
    call, recorder, task = await run_call(runtime, defn)
    began = time.monotonic()
    result = await asyncio.wait_for(task, 20)
    await call.aclose()
    assert result.status == "failed"
    assert result.reason.startswith("llm-unreachable" if failure == "unreachable" else "llm-timeout")
    said = [t or "" for _, t, _ in recorder.of("transcript", "agent")]
    assert said and said[-1].startswith("Sorry, I'm having trouble")
    assert call.played and call.unplayed_at_end == 0 and call.hangup_reason
    assert [d["error_id"] for _, _, d in recorder.of("error")] == [result.reason.split(":")[0]]
    assert call.played[0].at - began < (1.0 if failure == "unreachable" else 2.5)


async def test_barge_in_cancels_the_llm_stream(runtime: AgentRuntime, stub: StubLlm) -> None:
    stub.replies = [[text("Welcome to the stub line. "), text("I can tell you many things. ", 0.1),
                     *[text(f"Here is fact number {n}. ", 0.8) for n in range(10)]],
                    [text("Sure."), tool("end_call", {"reason": "done"})]]
    call, recorder, task = await run_call(runtime, llm_definition(stub.base_url))
    await call.until(lambda: len(call.played) >= 50, 10)
    audio = phrase("04")
    started = await call.say(audio)
    result = await asyncio.wait_for(task, 20)
    await call.aclose()
    onset = started + onset_s(audio)
    assert call.flushes and call.flushes[0][0] - onset <= 0.3
    assert stub.disconnected_at and stub.disconnected_at[0] - onset <= 0.3 + 0.05
    interrupted = recorder.of("transcript", "agent")[0][2]
    assert interrupted["interrupted"] is True
    history = stub.requests[1]["messages"]
    assert history[-2]["role"] == "assistant" and history[-2]["content"].endswith("[interrupted by the caller]")
    assert history[-1]["role"] == "user" and "sales" in history[-1]["content"].lower()
    assert result.reason == "done"


async def test_the_test_chat_runs_the_llm_engine(stub: StubLlm) -> None:
    stub.replies = [[text("Hello! How can I help?")],
                    [text("Let me put you through."), tool("transfer_call", {"extension": "7001"})]]
    chat = TestChat(llm_definition(stub.base_url))
    try:
        assert (await chat.start()).text == "Hello! How can I help?"
        reply = await chat.send("I have a problem")
        assert reply.text == "Let me put you through." and reply.ended
        assert reply.actions == [{"action": "transfer", "extension": "7001"}]
        assert stub.requests[1]["messages"][-1] == {"role": "user", "content": "I have a problem"}
    finally:
        await chat.aclose()


async def test_an_unanswered_attended_transfer_is_a_tool_result_and_the_call_goes_on(
        runtime: AgentRuntime, stub: StubLlm) -> None:
    stub.replies = [[text("Hi. Press one for sales.")],
                    [text("Connecting you."), tool("transfer_call", {"extension": "7000"}, call_id="call_t")],
                    [text("Nobody answered, sorry."), tool("end_call", {"reason": "done"})]]
    defn = llm_definition(stub.base_url) | {"transfer": {"mode": "attended", "timeout_s": 5}}
    call, recorder, task = await run_call(runtime, defn)
    call.attended_answers = False
    await call.until(lambda: bool(call.marks), 10)
    call.press("1")
    await call.until(lambda: any("nobody is available" in (t or "") for _, t, _ in recorder.of("transcript", "agent")),
                     20)
    assert call.transfer_attempts == [("7000", True)] and not task.done()
    call.press("2")
    result = await asyncio.wait_for(task, 20)
    await call.aclose()
    assert result == AgentResult("completed", "done")
    messages = stub.requests[2]["messages"]
    results = [m for m in messages if m["role"] == "tool"]
    assert results and results[-1]["tool_call_id"] == "call_t" and results[-1]["content"].startswith("transfer failed")
    calls = [m for m in messages if m.get("tool_calls")]
    assert calls[-1]["tool_calls"][0]["id"] == "call_t"
