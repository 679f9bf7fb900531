"""Fault injection against a real Switchboard and the fake Asterisk: Asterisk restarts, dropped and
silent sockets, hanging and failing REST, leftovers reconciled after a reconnect, the quota under a
burst. Each test asserts the outcome: runs closed with a reason, nothing left in Asterisk, no task
or socket leaked, the link back up. (Server SIGKILL: test_faults_kill.py; database faults:
test_faults_db.py; media socket faults: test_faults_media.py.)"""
from __future__ import annotations

import asyncio
import os
from pathlib import Path

from websockets.asyncio.client import connect

from ari.link import LinkState
from ari.reconcile import ReconcileTiming, reconcile
from ari.rest import basic_auth_header
from tests.e2e.harness import APP, PASSWORD, Stack, stack
from web.state import app_state


def open_sockets() -> int:
    """Sockets open in this process (ours and the fake's: both must come back to where they were)."""
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            count += os.readlink(f"/proc/self/fd/{fd}").startswith("socket:")
        except OSError:
            pass
    return count


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def live_tasks() -> int:
    return len(asyncio.all_tasks())


def pooled(s: Stack) -> int:
    """Idle keep-alive connections in our ARI REST clients' pools. Each is a socket here, a socket
    and a handler task in the fake: bounded reuse, not a leak, so the counts below discount them."""
    total = 0
    for config_id in list(s.service.controls):
        link = s.service.link(config_id)
        if link is not None:
            total += len(link.rest._client._transport._pool.connections)  # type: ignore[attr-defined]
    return total


def counts(s: Stack) -> tuple[int, int, int]:
    n = pooled(s)
    return live_tasks() - n, open_sockets() - 2 * n, open_fds() - 2 * n


async def open_runs(s: Stack) -> list:  # type: ignore[type-arg]
    return [r for r in await s.store.runs.list(s.org_id, limit=500) if r.ended_at is None]


async def settled(s: Stack) -> None:
    """No call, no pending media, no run open, nothing of ours left in the fake, the link up."""
    control = s.service.controls[s.config.id]
    await s.wait(lambda: not control.calls and len(app_state(s.app).media_registry) == 0, timeout=10)
    await s.wait(lambda: not s.leftovers(), timeout=10)
    assert await open_runs(s) == []
    await s.wait_connected(timeout=5)


async def baseline(s: Stack) -> tuple[int, int, int]:
    """Counts after one full call, so pooled connections and lazily created tasks exist already."""
    channel = await s.fake.place_inbound_call("0", "8000")
    await s.wait_run(lambda r: r.call_id == channel and r.status == "in_progress")
    await s.fake.caller_hangup(channel)
    await s.wait_run(lambda r: r.call_id == channel and r.ended_at is not None)
    await settled(s)
    reconciler = s.service.reconcilers[s.config.id]
    await s.wait(lambda: reconciler._task is None or reconciler._task.done())
    return counts(s)


async def back_to(s: Stack, base: tuple[int, int, int]) -> None:
    """Tasks, sockets and fds return to the baseline (waited for: closes finish asynchronously)."""
    try:
        await s.wait(lambda: all(now <= then for now, then in zip(counts(s), base)), timeout=10)
    except TimeoutError:
        names = sorted(t.get_name() for t in asyncio.all_tasks())
        raise AssertionError(f"leak: (tasks, sockets, fds) {counts(s)}, was {base} (pooled now {pooled(s)}); "
                             f"tasks now: {names}") from None


async def test_asterisk_restarting_five_times_in_ten_seconds_leaves_no_run_open_and_leaks_nothing(tmp_path: Path) -> None:
    async with stack(tmp_path, max_calls=20) as s:
        base = await baseline(s)
        loop = asyncio.get_running_loop()
        started = loop.time()
        for cycle in range(5):
            if cycle < 3:  # restarts with calls up ...
                await s.wait(lambda: APP in s.fake.registered_apps, timeout=5)
                channels = [await s.fake.place_inbound_call(f"{cycle}{i}", "8000") for i in range(3)]
                await s.wait(lambda: sum(1 for c in channels if c in s.service.controls[s.config.id].calls
                                         and s.service.controls[s.config.id].calls[c].session) == 3, timeout=5)
            # ... and back to back, while the link is still reconnecting from the previous one
            await s.fake.restart(downtime_s=0.3)
        restarts_took = loop.time() - started
        assert restarts_took < 10, f"5 restarts took {restarts_took:.1f} s"
        await settled(s)
        runs = await s.store.runs.list(s.org_id, limit=100)
        restarted = [r for r in runs if r.caller_number != "0"]
        assert len(restarted) == 9
        for run in restarted:
            assert run.status == "failed" and run.reason, run
            assert "restart" in run.reason or "lost the ARI connection" in run.reason, run.reason
        status = s.service.status(s.config.id)
        assert status is not None and status.state is LinkState.CONNECTED and status.reconnects >= 5
        # A call after the storm works, and nothing leaked.
        channel = await s.fake.place_inbound_call("after", "8000")
        await s.wait_run(lambda r: r.call_id == channel and r.status == "in_progress")
        await s.fake.caller_hangup(channel)
        assert (await s.wait_run(lambda r: r.call_id == channel and r.ended_at is not None)).status == "completed"
        await settled(s)
        await back_to(s, base)


async def test_events_socket_dropped_without_close_frame_mid_call(tmp_path: Path) -> None:
    async with stack(tmp_path) as s:
        base = await baseline(s)
        channel = await s.fake.place_inbound_call("1", "8000")
        await s.wait_run(lambda r: r.call_id == channel and r.status == "in_progress")
        await s.fake.drop_events_socket()
        run = await s.wait_run(lambda r: r.call_id == channel and r.ended_at is not None)
        assert run.status == "failed" and run.error_id == "ari-link-lost"
        assert "lost the ARI connection" in (run.reason or "")
        await settled(s)  # teardown hung up over REST: Asterisk itself was fine
        await back_to(s, base)


async def test_leftovers_of_a_teardown_that_could_not_reach_asterisk_are_reconciled_on_reconnect(tmp_path: Path) -> None:
    async with stack(tmp_path) as s:
        channel = await s.fake.place_inbound_call("1", "8000")
        await s.wait_run(lambda r: r.call_id == channel and r.status == "in_progress")
        s.fake.rest_fail_500(True, path_prefix="/channels/")  # teardown's hangups fail (the listing does not)
        await s.fake.drop_events_socket()
        run = await s.wait_run(lambda r: r.call_id == channel and r.ended_at is not None)
        assert run.status == "failed"
        await s.wait_connected(timeout=5)
        assert channel in s.fake.channels  # the caller still sits in Stasis, hearing nothing
        s.fake.rest_fail_500(False)
        await s.wait(lambda: not s.leftovers(), timeout=10)  # a reconcile pass (or its retry) hung up
        deletes = [r for r in s.fake.requests if r.method == "DELETE" and r.status in (204, 404)]
        assert any(channel in r.path for r in deletes)


async def test_reconcile_removes_only_orphans_of_our_app(tmp_path: Path) -> None:
    """The filter, against the fake: a call this process forgot (as after a kill) goes; a live call, a
    foreign app's caller, a bridge holding it and a transferred caller stay."""
    async with stack(tmp_path) as s:
        kept = await s.fake.place_inbound_call("1", "8000")
        forgotten = await s.fake.place_inbound_call("2", "8000")
        control = s.service.controls[s.config.id]
        await s.wait(lambda: all(c in control.calls and control.calls[c].session for c in (kept, forgotten)))
        lost = control.calls[forgotten]
        lost_ids = {lost.channel_id, lost.media_id, lost.bridge_id}
        # Another client's app on the same Asterisk, with a caller and a bridge named like ours.
        async with connect(f"{s.fake.ws_base_url}/ari/events?app=other",
                           additional_headers={"Authorization": basic_auth_header(APP, PASSWORD)}):
            foreign = await s.fake.place_inbound_call("3", "8000", app="other")
            s.fake.create_bridge("mixing", "switchboard-run-77", "sbb-foreign")
            s.fake.add_to_bridge("sbb-foreign", [foreign])
            # Orphans: a bridge of a run long gone, an external media channel whose socket never came.
            s.fake.create_bridge("mixing", "switchboard-run-424242", None)
            s.fake.set_websocket_client("dead", "ws://127.0.0.1:9/x", reconnect_attempts=100, reconnect_interval=0.1)
            rest = s.service.link(s.config.id).rest
            await rest.external_media(channel_id="sbm-orphan", app=APP, external_host="dead",
                                      transport_data="v(a=1)")
            assert "sbm-orphan" in s.fake.channels
            result = await reconcile(rest, APP, lambda i: s.service.knows(i) and i not in lost_ids,
                                     ReconcileTiming(grace_s=0.05))
            assert set(result.hung_up) == {forgotten, lost.media_id, "sbm-orphan"}
            assert len(result.deleted_bridges) == 2 and lost.bridge_id in result.deleted_bridges
            assert result.failed == []
            assert kept in s.fake.channels and foreign in s.fake.channels and "sbb-foreign" in s.fake.bridges
            assert control.calls[kept].bridge_id in s.fake.bridges
        # The forgotten call notices its channels going and ends; the kept one is untouched.
        run = await s.wait_run(lambda r: r.call_id == forgotten and r.ended_at is not None)
        assert run.status in ("completed", "failed")
        assert (await s.wait_run(lambda r: r.call_id == kept)).ended_at is None
        await s.fake.caller_hangup(kept)
        await s.wait(lambda: not control.calls)


async def test_rest_calls_that_hang_time_out_and_the_call_fails_cleanly(tmp_path: Path) -> None:
    async with stack(tmp_path) as s:
        s.fake.rest_hang(True)
        loop = asyncio.get_running_loop()
        started = loop.time()
        channel = await s.fake.place_inbound_call("1", "8000")
        run = await s.wait_run(lambda r: r.call_id == channel and r.ended_at is not None, timeout=15)
        took = loop.time() - started
        assert run.status == "failed" and run.error_id == "ari-timeout", run
        # answer (2 s) + hang-up attempt (2 s): the timeouts applied, nothing waited for ever
        assert took < 2.0 + 2.0 + 1.5, took
        # The run is finished before the call's teardown completes: wait for "no live call".
        await s.wait(lambda: s.service.snapshot().active_calls == 0)
        status = s.service.status(s.config.id)
        assert status is not None and status.state is LinkState.CONNECTED  # the events socket was fine
        s.fake.rest_hang(False)  # the held requests go through late: the answer, then the hang-up
        await s.wait(lambda: channel not in s.fake.channels)
        await settled(s)


async def test_rest_calls_that_fail_with_500_fail_the_call_and_hang_up(tmp_path: Path) -> None:
    async with stack(tmp_path) as s:
        s.fake.rest_fail_500(True, path_prefix="/channels/externalMedia")
        channel = await s.fake.place_inbound_call("1", "8000")
        run = await s.wait_run(lambda r: r.call_id == channel and r.ended_at is not None)
        assert run.status == "failed" and run.error_id == "ari-server-error"
        assert "Asterisk refused a request" in (run.reason or "")
        await settled(s)
        s.fake.rest_fail_500(True, path_prefix="/asterisk/info")  # the link's version probe fails: not fatal
        await s.fake.drop_events_socket()
        # The link may still say "connected" (the drop is not noticed yet): wait for the app to be back.
        await s.wait(lambda: APP in s.fake.registered_apps)
        await s.wait_connected(timeout=5)
        s.fake.rest_fail_500(False)
        again = await s.fake.place_inbound_call("2", "8000")
        await s.wait_run(lambda r: r.call_id == again and r.status == "in_progress")


async def test_hundred_calls_at_once_with_a_limit_of_ten(tmp_path: Path) -> None:
    async with stack(tmp_path, max_calls=10) as s:
        channels = [await s.fake.place_inbound_call(f"+1555{i:04d}", "8000") for i in range(100)]
        runs = await s.wait_for_value(lambda: _when_all_decided(s, 100), timeout=30)
        answered = [r for r in runs if r.status == "in_progress"]
        refused = [r for r in runs if r.status == "rejected"]
        assert len(answered) == 10 and len(refused) == 90
        for run in refused:
            assert run.error_id == "quota-exceeded" and run.reason == "quota exceeded: 10 of 10 concurrent calls in use"
        refused_ids = {r.call_id for r in refused}
        await s.wait(lambda: not refused_ids & set(s.fake.channels), timeout=10)
        hangups = {r.path.rsplit("/", 1)[-1]: dict(r.query).get("reason") for r in s.fake.requests if r.method == "DELETE"}
        assert all(hangups.get(c) == "congestion" for c in refused_ids)
        assert all(s.fake.all_channels[c].state != "Up" for c in refused_ids)
        assert await s.store.runs.active_count(s.org_id) == 10
        for run in answered:
            await s.fake.caller_hangup(run.call_id)
        await settled(s)
        assert await s.store.runs.active_count(s.org_id) == 0  # no slot leaked
        # All ten slots are free again: ten more calls are all answered.
        more = [await s.fake.place_inbound_call(f"+1666{i:04d}", "8000") for i in range(10)]
        await s.wait_for_value(lambda: _in_progress(s, set(more)), timeout=15)
        assert len(channels) == 100


async def _when_all_decided(s: Stack, n: int) -> list | None:  # type: ignore[type-arg]
    runs = await s.store.runs.list(s.org_id, limit=500)
    decided = [r for r in runs if r.status in ("in_progress", "rejected")]
    return decided if len(decided) >= n else None


async def _in_progress(s: Stack, call_ids: set[str]) -> bool:
    runs = await s.store.runs.list(s.org_id, limit=500)
    return {r.call_id for r in runs if r.status == "in_progress"} >= call_ids
