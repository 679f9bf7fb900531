"""Operations end to end, against the fake Asterisk over real sockets: a recorded call (stereo WAV,
both sides where they happened), the admin's hang-up, the run's API (recording download,
delete), /metrics counters moving with calls, and /readyz following the ARI link."""
from __future__ import annotations

import asyncio
import io
import wave
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from prometheus_client.parser import text_string_to_metric_families

from media.g711 import ULAW_DECODE
from media.session import Closed, MediaSession
from tests.e2e.harness import Outcome, Stack, caller_audio, stack
from web.accounts import create_api_key, create_organization
from web.state import app_state


@dataclass
class ReportingAgent:
    """Plays its greeting, reports the turn like the runtime does (transcript, latency), then
    listens until the call ends."""

    greeting: bytes
    sessions: list[MediaSession] = field(default_factory=list)
    heard: dict[int, int] = field(default_factory=dict)

    async def __call__(self, session: MediaSession, definition: dict[str, Any], context: dict[str, Any],
                       on_event: Callable[..., Awaitable[None]]) -> Outcome:
        self.sessions.append(session)
        session.play(self.greeting)
        await on_event("latency", None, None, {"voice_to_voice_ms": 420, "stt_ms": 120, "reply_ms": 300})
        await on_event("transcript", "agent", definition.get("greeting", ""), {"interrupted": False})
        while True:
            event = await session.events.get()
            if isinstance(event, Closed):
                return Outcome("completed", event.reason)
            if hasattr(event, "ulaw"):
                self.heard[session.run_id] = self.heard.get(session.run_id, 0) + len(event.ulaw)


def samples(metrics_text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a /metrics page, parsed by the Prometheus text-format parser."""
    out = {}
    for family in text_string_to_metric_families(metrics_text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


async def scrape(client: httpx.AsyncClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = await client.get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    return samples(response.text)


def stereo(path: Path) -> tuple[np.ndarray, np.ndarray, wave._wave_params]:
    with wave.open(str(path), "rb") as wav:
        params = wav.getparams()
        data = np.frombuffer(wav.readframes(params.nframes), dtype="<i2")
    return data[0::2], data[1::2], params


def first_and_last_sound(track: np.ndarray) -> tuple[int, int]:
    loud = np.flatnonzero(np.abs(track.astype(np.int32)) > 64)
    assert loud.size, "the track is silent"
    return int(loud[0]), int(loud[-1])


async def recorded_stack(s: Stack) -> None:
    await s.store.workflows.update(s.org_id, s.workflow.id, s.workflow.name,
                                   {**s.workflow.definition, "recording": True})


async def test_recorded_call_hang_up_from_the_admin_metrics_download_and_delete(tmp_path: Path) -> None:
    greeting, speech = caller_audio(1), caller_audio(2)
    agent = ReportingAgent(greeting)
    async with stack(tmp_path, agent=agent) as s, httpx.AsyncClient(base_url=s.url) as client:
        await recorded_stack(s)
        key = await create_api_key(s.store, "admin@example.com")
        api = {"Authorization": f"Bearer {key}"}
        before = await scrape(client)
        assert before[("switchboard_ari_link_up", (("configuration", str(s.config.id)),))] == 1

        channel = await s.fake.place_inbound_call("+15550001", "8000")
        run = await s.wait_run(lambda r: r.status == "in_progress")
        live = await scrape(client)
        assert live[("switchboard_active_calls", ())] == 1
        assert live[("switchboard_calls_started_total", (("direction", "inbound"),))] == \
            before[("switchboard_calls_started_total", (("direction", "inbound"),))] + 1

        # The caller hears the whole greeting, then speaks.
        whole = len(greeting) // 160 * 160
        await s.wait(lambda: len(s.fake.heard(channel)) >= whole, timeout=len(greeting) / 8000 + 3)
        await s.fake.caller_say(channel, speech, wait=True)
        await s.wait(lambda: agent.heard.get(run.id, 0) >= len(speech) // 160 * 160, timeout=5)

        # Hang up from the admin (the API twin of the button).
        response = await client.post(f"/api/v1/workflow-runs/{run.id}/hangup", headers=api)
        assert response.status_code == 202, response.text
        ended = await s.wait_run(lambda r: r.id == run.id and r.ended_at is not None)
        assert (ended.status, ended.reason) == ("completed", "hung up from the admin")
        await s.wait(lambda: not s.leftovers())
        again = await client.post(f"/api/v1/workflow-runs/{run.id}/hangup", headers=api)
        assert again.status_code == 409

        # The recording: stereo 8 kHz 16-bit, the agent's greeting on the right, the caller on the
        # left after it, as it happened; its length is the call's.
        assert ended.recording_path == f"run-{run.id}.wav" and ended.recording_s
        path = s.store.db.path.parent / "recordings" / ended.recording_path
        left, right, params = stereo(path)
        assert (params.nchannels, params.sampwidth, params.framerate) == (2, 2, 8000)
        assert abs(params.nframes - ended.recording_s * 8000) <= 8
        g_start, g_end = first_and_last_sound(right)
        expected = ULAW_DECODE[np.frombuffer(greeting[:whole], dtype=np.uint8)]
        offset = g_start - first_and_last_sound(expected)[0]  # where the greeting's frame 0 landed
        assert offset >= 0 and np.array_equal(right[offset:offset + whole], expected)
        c_start, _ = first_and_last_sound(left)
        assert c_start >= g_end - 0.1 * 8000, "the caller spoke after the greeting, and the recording says so"
        spoken = ULAW_DECODE[np.frombuffer(speech, dtype=np.uint8)]
        assert np.count_nonzero(left) >= 0.9 * np.count_nonzero(spoken)
        assert abs(ended.recording_s - (len(greeting) + len(speech)) / 8000) < 2.5

        # Downloaded through the API (organisation-scoped), then deleted with its run.
        download = await client.get(f"/api/v1/workflow-runs/{run.id}/recording", headers=api,
                                    params={"download": "1"})
        assert download.status_code == 200 and download.headers["content-type"] == "audio/wav"
        assert "attachment" in download.headers["content-disposition"]
        assert download.content == path.read_bytes()
        with wave.open(io.BytesIO(download.content)) as wav:
            assert wav.getnchannels() == 2
        body = (await client.get(f"/api/v1/workflow-runs/{run.id}", headers=api)).json()
        assert body["recording_url"] == f"/api/v1/workflow-runs/{run.id}/recording"
        assert [e["kind"] for e in body["events"]] == ["latency", "transcript"]

        stranger = await create_organization(s.store, "Other", "other@example.com", "password123")
        other_key = await create_api_key(s.store, stranger.email)
        for method, url in (("GET", f"/api/v1/workflow-runs/{run.id}/recording"),
                            ("DELETE", f"/api/v1/workflow-runs/{run.id}")):
            foreign = await client.request(method, url, headers={"Authorization": f"Bearer {other_key}"})
            assert foreign.status_code == 404
        assert path.exists()

        after = await scrape(client)
        assert after[("switchboard_active_calls", ())] == 0
        assert after[("switchboard_calls_ended_total", (("status", "completed"),))] == \
            before[("switchboard_calls_ended_total", (("status", "completed"),))] + 1
        assert after[("switchboard_media_frames_out_total", ())] >= whole // 160
        assert after[("switchboard_media_frames_in_total", ())] >= len(speech) // 160
        assert after[("switchboard_turn_latency_seconds_count", ())] == 1
        assert after[("switchboard_turn_latency_seconds_bucket", (("le", "0.5"),))] == 1
        assert after[("switchboard_turn_latency_seconds_bucket", (("le", "0.25"),))] == 0

        deleted = await client.delete(f"/api/v1/workflow-runs/{run.id}", headers=api)
        assert deleted.status_code == 204
        assert not path.exists()
        assert (await client.get(f"/api/v1/workflow-runs/{run.id}", headers=api)).status_code == 404


async def test_live_run_cannot_be_deleted_and_refused_calls_count(tmp_path: Path) -> None:
    async with stack(tmp_path) as s, httpx.AsyncClient(base_url=s.url) as client:
        key = await create_api_key(s.store, "admin@example.com")
        api = {"Authorization": f"Bearer {key}"}
        channel = await s.fake.place_inbound_call("+15550002", "8000")
        run = await s.wait_run(lambda r: r.status == "in_progress")
        refused = await client.delete(f"/api/v1/workflow-runs/{run.id}", headers=api)
        assert refused.status_code == 409 and refused.json()["error"]["id"] == "run-live"
        assert (await client.get(f"/api/v1/workflow-runs/{run.id}/recording", headers=api)).status_code == 404
        await s.fake.caller_hangup(channel)
        await s.wait_run(lambda r: r.id == run.id and r.ended_at is not None)

        await s.fake.place_inbound_call("+15550003", "9999")  # no such number: refused
        await s.wait_run(lambda r: r.status == "rejected")
        metrics = await scrape(client)
        assert metrics[("switchboard_calls_started_total", (("direction", "inbound"),))] == 2
        assert metrics[("switchboard_calls_ended_total", (("status", "rejected"),))] == 1
        assert metrics[("switchboard_calls_ended_total", (("status", "completed"),))] == 1


async def test_readyz_follows_the_ari_link(tmp_path: Path) -> None:
    async with stack(tmp_path) as s, httpx.AsyncClient(base_url=s.url) as client:
        async def ready_is(expected: int) -> dict[str, Any]:
            async with asyncio.timeout(10):
                while (response := await client.get("/readyz")).status_code != expected:
                    await asyncio.sleep(0.02)
            return dict(response.json())

        body = await ready_is(200)
        assert body["database"] == {"ok": True}
        assert body["ari_links"] == [{"configuration_id": s.config.id, "state": "connected", "ok": True}]
        s.fake.reject_credentials(True)
        await s.fake.drop_events_socket()
        body = await ready_is(503)
        assert body["status"] == "not ready" and body["database"]["ok"]
        assert body["ari_links"][0]["ok"] is False
        metrics = await scrape(client)
        assert metrics[("switchboard_ari_link_up", (("configuration", str(s.config.id)),))] == 0
        s.fake.reject_credentials(False)
        await ready_is(200)
        assert (await client.get("/healthz")).json() == {"status": "ok"}


async def test_a_graceful_stop_hangs_up_live_calls_and_finishes_their_runs(tmp_path: Path) -> None:
    """What SIGTERM does to `python app.py` (web.serving.GracefulServer): the live call is ended by
    us — caller hung up, bridge gone, run finished with the real reason — before uvicorn closes
    connections (which would have looked like Asterisk dropping the media socket)."""
    import uvicorn

    from app import create_app
    from ari.calls import CallTiming
    from ari.service import AriSettings
    from data.configs import ConfigFields
    from data.store import Store
    from tests.e2e.harness import APP, FAST_LINKS, PASSWORD, WS_CLIENT, GreetingAgent, free_socket
    from tests.fake_asterisk import FakeAsterisk
    from web.serving import GracefulServer
    from web.settings import Settings

    agent = GreetingAgent(caller_audio(1))

    async def agent_factory() -> Any:
        return agent

    sock = free_socket()
    media_uri = f"ws://127.0.0.1:{sock.getsockname()[1]}/api/v1/telephony/ws/ari"
    async with FakeAsterisk(users={APP: PASSWORD}, websocket_clients={WS_CLIENT: {
            "uri": media_uri, "reconnect_attempts": 2, "reconnect_interval": 0.05}}) as fake:
        app = create_app(Settings(db_path=tmp_path / "sb.db", secret_key="k"), agent_factory=agent_factory,
                         ari_settings=AriSettings(FAST_LINKS, CallTiming(media_timeout_s=2.0, rest_timeout_s=2.0)))
        server = GracefulServer(uvicorn.Config(app, log_level="warning", lifespan="on", ws_max_size=1 << 20))
        serving = asyncio.create_task(server.serve(sockets=[sock]))
        async with asyncio.timeout(10):
            while not server.started:
                await asyncio.sleep(0.01)
        store: Store = app_state(app).store
        user = await create_organization(store, "Acme", "a@example.com", "password123")
        workflow = await store.workflows.create(user.organization_id, "Reception", {"greeting": "Hello"})
        config = await store.configs.create(user.organization_id, ConfigFields(
            "PBX", fake.base_url, APP, None, PASSWORD, WS_CLIENT, (), "PJSIP/{number}", "from-internal", True))
        await store.numbers.create(user.organization_id, config.id, "8000", "Reception", workflow.id)
        try:
            await app_state(app).telephony.apply(config.id)
            await fake.wait_for(lambda: APP in fake.registered_apps)
            channel = await fake.place_inbound_call("+15550004", "8000")
            await fake.wait_for(lambda: agent.sessions, 10)
        finally:
            server.should_exit = True  # what uvicorn's SIGTERM handler does
            await serving
        assert channel not in fake.channels and not fake.bridges
        assert any(r.method == "DELETE" and r.path.endswith(f"/channels/{channel}") for r in fake.requests)

    store = await Store.open(tmp_path / "sb.db", "k")
    try:
        [run] = await store.runs.list(user.organization_id)
        assert (run.status, run.reason, run.error_id) == ("failed", "Switchboard is shutting down", "server-shutdown")
        assert run.ended_at is not None
    finally:
        await store.close()
