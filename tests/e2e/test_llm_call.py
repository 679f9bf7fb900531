"""The LLM engine on a real call: fake Asterisk ⇄ Switchboard ⇄ a local stub OpenAI-compatible
chat-completions server (streamed SSE, tool calls) on loopback; speech is the embedded Whisper/hibari."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from agent.runtime import AgentRuntime
from media.g711 import ulaw_to_pcm16
from tests.e2e.harness import caller_audio, stack
from tests.e2e.test_voice_agent import runner, runtime  # noqa: F401  (module-scoped fixture)
from tests.test_agent_llm import StubLlm, stub, text, tool  # noqa: F401  (the stub server fixture)

GREETING = "Hello, this is the stub line."
FAREWELL = "Goodbye from the stub."


def definition(base_url: str) -> dict[str, Any]:
    return {"engine": "llm", "greeting": GREETING, "farewell": FAREWELL, "no_input_reprompt_s": 30,
            "no_input_hangup_s": 60, "llm": {"model": "stub", "base_url": base_url, "api_key": "sk-test",
                                             "instructions": "You answer for {{called_number}}."}}


def loud(frame: bytes) -> bool:
    pcm = np.frombuffer(ulaw_to_pcm16(frame[: len(frame) // 2 * 2]), dtype=np.int16).astype(np.float64)
    return bool(pcm.size) and float(np.sqrt((pcm ** 2).mean())) / 32768 > 0.01


async def test_llm_reply_streams_into_the_call_and_end_call_hangs_up_after_the_farewell(
        tmp_path: Path, runtime: AgentRuntime, stub: StubLlm) -> None:  # noqa: F811
    stub.replies = [[text("Sure, I can help with that. "), text("Let me check", 1.5), text(" one more thing."),
                     tool("end_call", {"reason": "caller is done"}, 0.1)]]
    async with stack(tmp_path, agent=runner(runtime), definition=definition(stub.base_url)) as s:
        channel = await s.fake.place_inbound_call("+15550100", "8000")
        far_end = s.fake.caller(channel)
        run = await s.wait_run(lambda r: r.status == "in_progress", timeout=10)

        async def greeted() -> bool:
            return any(e.kind == "transcript" and e.role == "agent" and e.text == GREETING
                       for e in await s.store.runs.events(run.id))

        await s.wait_for_value(greeted, timeout=15)  # played to its mark: the agent listens now
        await s.fake.caller_say(channel, caller_audio(4))
        await s.wait(lambda: stub.requests, timeout=20)
        asked_at = s.fake.now()
        ended = await s.wait_run(lambda r: r.id == run.id and r.ended_at is not None, timeout=30)
        assert (ended.status, ended.reason) == ("completed", "agent hung up: caller is done")

        # first agent audio of the reply reached the caller well before the stub finished streaming
        reply = [h.t for h in far_end.heard if h.t > asked_at and loud(h.data)]
        assert reply and stub.sent_last_at and reply[0] < stub.sent_last_at[0] - 1.0
        request = stub.requests[0]
        assert request["stream"] is True and request["messages"][-1]["role"] == "user"
        assert "You answer for 8000." in request["messages"][0]["content"]

        # end_call: the farewell was played to its mark, then the call was hung up
        events = await s.store.runs.events(run.id)
        said = [e for e in events if e.kind == "transcript" and e.role == "agent"]
        assert (said[-1].text or "").endswith(FAREWELL) and said[-1].data.get("interrupted") is False
        media = s.fake.media_connections[0]
        marks = [t for t, message in media.texts_to_app if message.startswith("MEDIA_MARK_PROCESSED")]
        hung_up = await s.wait(lambda: next((r.t for r in s.fake.events if r.type == "StasisEnd"
                                             and r.event.get("channel", {}).get("id") == channel), None))
        assert marks and marks[-1] <= hung_up and reply[-1] <= hung_up
        await s.wait(lambda: not s.leftovers(), timeout=5)
