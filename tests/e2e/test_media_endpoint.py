"""Forged or broken media sockets get nothing and change nothing."""
from __future__ import annotations

from pathlib import Path

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.e2e.harness import stack

QUERY = "?workflow_id=1&user_id=1&workflow_run_id=1"


def media_url(base: str, query: str = QUERY) -> str:
    return base.replace("http://", "ws://") + "/api/v1/telephony/ws/ari" + query


def start_text(channel_id: str) -> str:
    return (f"MEDIA_START connection_id:dograh channel:WebSocket/dograh/0x1 channel_id:{channel_id} "
            "format:ulaw optimal_frame_size:160 ptime:20")


async def closed_code(url: str, *messages: str | bytes) -> int | None:
    async with connect(url, subprotocols=["media"]) as ws:  # type: ignore[list-item]
        for message in messages:
            await ws.send(message)
        with pytest.raises(ConnectionClosed):
            while True:
                await ws.recv()
        return ws.close_code


@pytest.mark.parametrize("query", ["", "?workflow_id=1", "?workflow_id=1&user_id=2", "?workflow_id=&user_id=2&workflow_run_id=3"])
async def test_missing_routing_parameters_get_403_before_accept(tmp_path: Path, query: str) -> None:
    async with stack(tmp_path) as s:
        with pytest.raises(InvalidStatus) as refused:
            async with connect(media_url(s.url, query)):
                pass
        assert refused.value.response.status_code == 403


async def test_forged_sockets_are_closed_and_change_nothing(tmp_path: Path) -> None:
    async with stack(tmp_path) as s:
        channel = await s.fake.place_inbound_call("1", "8000")
        run = await s.wait_run(lambda r: r.status == "in_progress")
        await s.wait(lambda: s.agent.sessions)
        live = s.agent.sessions[0]
        url = media_url(s.url, f"?workflow_id={s.workflow.id}&user_id={s.org_id}&workflow_run_id={run.id}")
        assert await closed_code(url, start_text("1234567.89")) == 1008  # unknown channel
        assert await closed_code(url, start_text(live.channel_id)) == 1008  # second socket for a live run
        assert await closed_code(url, b"\xff" * 160) == 1008  # audio before MEDIA_START
        assert await closed_code(url, "not a control message at all") == 1008
        assert await closed_code(url, '{"event": "MEDIA_START"}') == 1008  # no channel_id
        frames_before = live.stats.frames_in
        assert not live.closed and s.service.controls[s.config.id].calls[channel].session is live
        after = await s.store.runs.get(s.org_id, run.id)
        assert after is not None and after.status == "in_progress" and after.ended_at is None
        await s.fake.caller_say(channel, b"\x00" * 1600, wait=True)
        await s.wait(lambda: live.stats.frames_in >= frames_before + 10)
        assert len(await s.store.runs.list(s.org_id)) == 1
