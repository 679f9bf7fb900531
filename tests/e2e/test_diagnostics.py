""""Test connection": the guide's troubleshooting list as checks, each failure told apart."""
from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import httpx

from tests.e2e.harness import PASSWORD, stack
from tests.e2e.test_ari_links import fields
from web.accounts import create_api_key

REPO = Path(__file__).resolve().parents[2]


async def checks(s) -> dict[str, dict[str, Any]]:  # type: ignore[no-untyped-def]
    key = await create_api_key(s.store, "admin@example.com")
    async with httpx.AsyncClient(base_url=s.url, headers={"Authorization": f"Bearer {key}"}, timeout=20) as client:
        response = await client.post(f"/api/v1/telephony-configurations/{s.config.id}/check")
    assert response.status_code == 200
    body = response.json()
    assert body["ok"] == all(c["ok"] for c in body["checks"])
    return {c["id"]: c for c in body["checks"]}


def first_failure(result: dict[str, dict[str, Any]]) -> str | None:
    return next((check_id for check_id, c in result.items() if not c["ok"]), None)


async def test_all_good(tmp_path: Path) -> None:
    async with stack(tmp_path) as s:
        result = await checks(s)
        assert first_failure(result) is None, result
        assert list(result) == ["endpoint-reachable", "credentials", "module-res_ari", "module-chan_websocket",
                                "module-res_websocket_client", "stasis-app", "websocket-client-name",
                                "media-reaches-switchboard"]
        await s.wait(lambda: not s.fake.channels)  # the probe channel was cleaned up
        assert await s.store.runs.list(s.org_id) == []  # a probe is not a call


async def test_wrong_url(tmp_path: Path) -> None:
    async with stack(tmp_path) as s:
        await s.store.configs.update(s.org_id, s.config.id, fields(s.config, ari_endpoint_url="http://127.0.0.1:9"))
        result = await checks(s)
        assert first_failure(result) == "endpoint-reachable" and "http.conf" in result["endpoint-reachable"]["fix"]


async def test_wrong_password(tmp_path: Path) -> None:
    async with stack(tmp_path) as s:
        await s.store.configs.update(s.org_id, s.config.id, fields(s.config, app_password=PASSWORD + "x"))
        result = await checks(s)
        assert first_failure(result) == "credentials" and "ari.conf" in result["credentials"]["fix"]


async def test_missing_chan_websocket(tmp_path: Path) -> None:
    async with stack(tmp_path) as s:
        s.fake.unload_module("chan_websocket.so")
        result = await checks(s)
        assert first_failure(result) == "module-chan_websocket"
        assert "module load chan_websocket.so" in result["module-chan_websocket"]["fix"]


async def test_wrong_websocket_client_name(tmp_path: Path) -> None:
    async with stack(tmp_path) as s:
        await s.store.configs.update(s.org_id, s.config.id, fields(s.config, websocket_client_name="nosuch"))
        result = await checks(s)
        assert first_failure(result) == "websocket-client-name"
        assert "[nosuch]" in result["websocket-client-name"]["fix"]
        assert not s.fake.channels


async def test_media_uri_not_reaching_us(tmp_path: Path) -> None:
    async with stack(tmp_path) as s:
        s.fake.set_websocket_client("dograh", "ws://127.0.0.1:9/api/v1/telephony/ws/ari", reconnect_attempts=2,
                                    reconnect_interval=0.05)
        result = await checks(s)
        assert first_failure(result) == "media-reaches-switchboard"
        assert "websocket_client.conf uri does not reach Switchboard" in result["media-reaches-switchboard"]["message"]
        assert not s.fake.channels


async def run_cli(*args: str) -> tuple[int, str]:
    """The CLI as a child process; awaited, so the fake Asterisk on this loop keeps answering."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "app.py", *args, cwd=REPO, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        env={"SWITCHBOARD_SECRET_KEY": "e2e-secret", "PATH": "/usr/bin:/bin"})
    output, _ = await asyncio.wait_for(process.communicate(), 60)
    return int(process.returncode or 0), output.decode()


async def test_cli_check_runs_the_offline_checks(tmp_path: Path) -> None:
    async with stack(tmp_path) as s:
        code, output = await run_cli("--db", str(s.store.db.path), "check")
        assert code == 0, output
        assert "[  ok] credentials" in output and "[  ok] module-chan_websocket" in output
        s.fake.unload_module("res_websocket_client.so")
        code, output = await run_cli("--db", str(s.store.db.path), "check")
        assert code == 1 and "[FAIL] module-res_websocket_client" in output
