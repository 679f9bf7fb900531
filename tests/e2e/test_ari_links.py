"""ARI links against the fake Asterisk: connect, survive drops and restarts, report honestly."""
from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

from ari.link import LinkState
from data.configs import ConfigFields
from tests.e2e.harness import APP, PASSWORD, WS_CLIENT, stack
from tests.fake_asterisk import FakeAsterisk
from web.state import app_state


def fields(config, **changes):  # type: ignore[no-untyped-def]
    base = ConfigFields(config.name, config.ari_endpoint_url, config.stasis_app_name, config.ari_username, None,
                        config.websocket_client_name, config.from_extensions, config.dial_template,
                        config.transfer_context, config.enabled)
    return replace(base, **changes)


def state(s, config_id=None):  # type: ignore[no-untyped-def]
    status = s.service.status(config_id or s.config.id)
    return None if status is None else status.state


async def test_connects_and_reports_the_asterisk_version(tmp_path: Path) -> None:
    async with stack(tmp_path) as s:
        status = s.service.status(s.config.id)
        assert status is not None and status.state is LinkState.CONNECTED
        assert status.asterisk_version == "GIT-master-f0c1c1a7b7"
        assert APP in s.fake.registered_apps


async def test_reconnects_after_a_drop_without_close_frame_and_after_a_restart(tmp_path: Path) -> None:
    async with stack(tmp_path) as s:
        await s.fake.drop_events_socket()
        await s.wait(lambda: state(s) is not LinkState.CONNECTED, timeout=3)
        await s.wait_connected(timeout=3)
        loop = asyncio.get_running_loop()
        await s.fake.restart(downtime_s=0.5)
        back = loop.time()
        await s.wait_connected(timeout=5)
        assert loop.time() - back < 2.0
        assert APP in s.fake.registered_apps


async def test_silent_asterisk_is_detected_by_keepalive(tmp_path: Path) -> None:
    async with stack(tmp_path) as s:
        await s.wait_connected(timeout=5)
        before = s.service.status(s.config.id).reconnects
        s.fake.go_silent(True)
        # a stable link that drops is retried at once: the drop shows as a reconnect, the
        # non-connected moment can be too short to poll
        await s.wait(lambda: s.service.status(s.config.id).reconnects > before, timeout=5)
        s.fake.go_silent(False)
        await s.wait_connected(timeout=5)


async def test_wrong_password_is_auth_failed_with_the_fix_and_an_edit_reconnects_at_once(tmp_path: Path) -> None:
    async with stack(tmp_path) as s:
        await s.store.configs.update(s.org_id, s.config.id, fields(s.config, app_password="wrong"))
        await app_state(s.app).telephony.apply(s.config.id)
        await s.wait(lambda: state(s) is LinkState.AUTH_FAILED, timeout=5)
        status = s.service.status(s.config.id)
        assert status.last_error_id == "ari-auth-failed" and "ari.conf" in (status.fix or "")
        view = app_state(s.app).telephony.status(s.config.id, True)
        assert view.state == "auth_failed" and view.error_id == "ari-auth-failed"
        await s.store.configs.update(s.org_id, s.config.id, fields(s.config, app_password=PASSWORD))
        await app_state(s.app).telephony.apply(s.config.id)
        await s.wait_connected(timeout=2)


async def test_disable_and_delete_close_the_socket(tmp_path: Path) -> None:
    async with stack(tmp_path) as s:
        await s.store.configs.update(s.org_id, s.config.id, fields(s.config, enabled=False))
        await app_state(s.app).telephony.apply(s.config.id)
        await s.wait(lambda: APP not in s.fake.registered_apps, timeout=3)
        assert state(s) is LinkState.DISABLED
        await s.store.configs.update(s.org_id, s.config.id, fields(s.config, enabled=True))
        await app_state(s.app).telephony.apply(s.config.id)
        await s.wait_connected()
        await s.store.configs.delete(s.org_id, s.config.id)
        await app_state(s.app).telephony.remove(s.config.id)
        await s.wait(lambda: APP not in s.fake.registered_apps, timeout=3)
        assert s.service.status(s.config.id) is None


async def test_two_configurations_on_two_asterisks_are_independent(tmp_path: Path) -> None:
    async with stack(tmp_path) as s:
        async with FakeAsterisk(users={"other": "pw2"}, websocket_clients={WS_CLIENT: s.url + "/x"}) as second:
            other = await s.store.configs.create(s.org_id, ConfigFields(
                "Branch", second.base_url, "other", None, "pw2", WS_CLIENT, (), "PJSIP/{number}", "from-internal", True))
            await app_state(s.app).telephony.apply(other.id)
            await s.wait(lambda: state(s, other.id) is LinkState.CONNECTED)
            await second.restart(downtime_s=0.3)
            await s.wait(lambda: state(s, other.id) is not LinkState.CONNECTED, timeout=3)
            assert state(s) is LinkState.CONNECTED  # the first link did not notice
            await s.wait(lambda: state(s, other.id) is LinkState.CONNECTED, timeout=5)


async def test_garbage_on_the_events_socket_is_skipped_and_the_link_stays_up(tmp_path: Path) -> None:
    async with stack(tmp_path) as s:
        for garbage in ("not json", "[1, 2]", '{"no": "type"}', '{"type": "StasisStart"}',
                        '{"type": "StasisStart", "channel": {"id": 5}}', '{"type": "BrandNewEvent"}'):
            await s.fake.inject_event(garbage)
        channel = await s.fake.place_inbound_call("1", "8000")
        await s.wait_run(lambda r: r.call_id == channel and r.status == "in_progress")
        assert state(s) is LinkState.CONNECTED
        await s.fake.caller_hangup(channel)
