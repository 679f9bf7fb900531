"""ari/reconcile.py without sockets: what counts as ours, the grace re-check, retries, and when a
pass runs (only on entering `connected`, never when retaking a taken app)."""
from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from typing import Any

from ari.errors import AriServerError
from ari.link import LinkState, LinkStatus
from ari.reconcile import Reconciler, ReconcileTiming, is_our_bridge, is_our_channel, reconcile, stasis_app

FAST = ReconcileTiming(grace_s=0.01, rest_timeout_s=1.0, retry_delays_s=(0.01, 0.01))


def chan(cid: str, app_name: str = "", app_data: str = "") -> dict[str, Any]:
    return {"id": cid, "name": "x", "state": "Up", "dialplan": {"app_name": app_name, "app_data": app_data}}


def bridge(bid: str, name: str = "", channels: list[str] | None = None) -> dict[str, Any]:
    return {"id": bid, "name": name, "channels": channels or []}


class StubRest:
    def __init__(self, channels: list[dict[str, Any]], bridges: list[dict[str, Any]]) -> None:
        self.channels, self.bridges = channels, bridges
        self.hung_up: list[str] = []
        self.deleted: list[str] = []
        self.fail_lists = 0
        self.fail_hangups = 0

    async def list_channels(self) -> list[dict[str, Any]]:
        if self.fail_lists:
            self.fail_lists -= 1
            raise AriServerError("boom", status_code=500)
        return list(self.channels)

    async def list_bridges(self) -> list[dict[str, Any]]:
        return list(self.bridges)

    async def hangup(self, channel_id: str, reason: str = "normal") -> bool:
        if self.fail_hangups:
            self.fail_hangups -= 1
            raise AriServerError("boom", status_code=500)
        self.hung_up.append(channel_id)
        self.channels = [c for c in self.channels if c["id"] != channel_id]
        return True

    async def delete_bridge(self, bridge_id: str) -> bool:
        self.deleted.append(bridge_id)
        self.bridges = [b for b in self.bridges if b["id"] != bridge_id]
        return True


def test_stasis_app_reads_the_first_field_of_app_data() -> None:
    assert stasis_app(chan("1", "Stasis", "dograh,outbound,wf=1")) == "dograh"
    assert stasis_app(chan("1", "Stasis", "")) == ""
    assert stasis_app(chan("1", "AppDial2", "(Outgoing Line)")) is None
    assert stasis_app({"id": "1"}) is None
    assert stasis_app({"id": "1", "dialplan": "junk"}) is None


def test_what_is_ours() -> None:
    assert is_our_channel(chan("1.2", "Stasis", "dograh"), "dograh")
    assert not is_our_channel(chan("1.2", "Stasis", "other"), "dograh")
    assert not is_our_channel(chan("sbm-x", "Stasis", "other"), "dograh")  # another configuration's
    assert is_our_channel(chan("sbm-x", "AppDial2", "(Outgoing Line)"), "dograh")  # socket never came
    assert is_our_channel(chan("sbo-x", "AppDial2", "(Outgoing Line)"), "dograh")  # still ringing
    assert is_our_channel(chan("sbp-x"), "dograh")
    assert not is_our_channel(chan("1.2", "Dial", "PJSIP/100"), "dograh")  # e.g. a transferred caller
    assert not is_our_channel({"id": 5}, "dograh") and not is_our_channel({}, "dograh")
    assert is_our_bridge(bridge("uuid", "switchboard-run-7"), set())
    assert is_our_bridge(bridge("sbb-1"), set())
    assert not is_our_bridge(bridge("uuid", "conference"), set())
    assert not is_our_bridge(bridge("sbb-1", channels=["f"]), {"f"})  # holds another app's channel


async def test_removes_orphans_and_spares_what_is_known() -> None:
    rest = StubRest(
        [chan("live", "Stasis", "dograh"), chan("orphan", "Stasis", "dograh"), chan("sbm-live", "Stasis", "dograh"),
         chan("foreign", "Stasis", "other"), chan("sbm-dead", "AppDial2", "x")],
        [bridge("sbb-live", "switchboard-run-1", ["live", "sbm-live"]), bridge("sbb-dead", "switchboard-run-2"),
         bridge("b3", "switchboard-run-3", ["live"]), bridge("b4", "not-ours")],
    )
    known = {"live", "sbm-live", "sbb-live"}
    result = await reconcile(rest, "dograh", known.__contains__, FAST)  # type: ignore[arg-type]
    assert result.hung_up == ["orphan", "sbm-dead"] and result.deleted_bridges == ["sbb-dead"]
    assert result.failed == []


async def test_a_call_that_became_known_during_the_grace_is_spared() -> None:
    rest = StubRest([chan("new", "Stasis", "dograh"), chan("old", "Stasis", "dograh")], [])
    known: set[str] = set()

    async def its_stasis_start_arrives() -> None:
        await asyncio.sleep(0.005)
        known.add("new")

    arrival = asyncio.create_task(its_stasis_start_arrives())
    result = await reconcile(rest, "dograh", known.__contains__, ReconcileTiming(grace_s=0.05))  # type: ignore[arg-type]
    await arrival
    assert result.hung_up == ["old"]


async def test_nothing_to_do_means_no_wait_and_no_request() -> None:
    rest = StubRest([chan("1", "Stasis", "other")], [bridge("b", "mine")])
    result = await reconcile(rest, "dograh", lambda _: False, ReconcileTiming(grace_s=60))  # type: ignore[arg-type]
    assert result.hung_up == [] and result.deleted_bridges == [] and rest.hung_up == []


def status(state: LinkState) -> LinkStatus:
    return LinkStatus(state=state, since=datetime.now(timezone.utc))


async def wait_passes(reconciler: Reconciler, n: int) -> None:
    async with asyncio.timeout(2):
        while reconciler.passes < n:
            await asyncio.sleep(0.005)


async def test_runs_on_each_connect_retries_failures_and_skips_a_retaken_app() -> None:
    rest = StubRest([chan("orphan", "Stasis", "dograh")], [])
    reconciler = Reconciler(rest=rest, app="dograh", known=lambda _: False, timing=FAST)  # type: ignore[arg-type]
    rest.fail_lists, rest.fail_hangups = 1, 1
    reconciler.on_status(status(LinkState.CONNECTING))
    reconciler.on_status(status(LinkState.CONNECTED))
    reconciler.on_status(status(LinkState.CONNECTED))  # an update in the same state: no second pass
    await wait_passes(reconciler, 3)  # listing failed, then the hang-up failed, then it worked
    assert rest.hung_up == ["orphan"] and reconciler.last is not None and not reconciler.last.failed
    assert reconciler.passes == 3
    rest.channels = [chan("theirs-or-ours", "Stasis", "dograh")]
    reconciler.on_status(status(LinkState.APP_TAKEN))
    reconciler.on_status(status(LinkState.CONNECTED))  # retaken: another client held the app
    await asyncio.sleep(0.05)  # the behaviour under test: nothing happens
    assert reconciler.passes == 3 and rest.hung_up == ["orphan"]
    reconciler.on_status(status(LinkState.CONNECTING))
    reconciler.on_status(status(LinkState.CONNECTED))
    await wait_passes(reconciler, 4)
    assert rest.hung_up == ["orphan", "theirs-or-ours"]


async def test_stop_cancels_a_pass_in_progress() -> None:
    rest = StubRest([chan("orphan", "Stasis", "dograh")], [])
    reconciler = Reconciler(rest=rest, app="dograh", known=lambda _: False,  # type: ignore[arg-type]
                            timing=ReconcileTiming(grace_s=30))
    reconciler.on_status(status(LinkState.CONNECTED))
    task = reconciler._task
    assert task is not None
    await asyncio.sleep(0.01)
    reconciler.on_status(status(LinkState.STOPPED))
    await asyncio.gather(task, return_exceptions=True)
    assert task.cancelled() and rest.hung_up == []
