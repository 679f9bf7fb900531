"""Supervisor: config id → EventsLink, against real loopback ARI stand-ins (see test_ari_link)."""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace

import pytest

from ari.events import AriEvent, StasisStart
from ari.link import EventHandler, EventsLink, LinkState
from ari.supervisor import LinkConfig, Supervisor
from tests.test_ari_link import FAST, FakeAri, basic, eventually, stasis_start


def fast_link(config: LinkConfig) -> EventsLink:
    return EventsLink(config_id=config.id, name=config.name, endpoint=config.ari_endpoint_url,
                      app=config.app_name, username=config.username, password=config.password,
                      timing=FAST, backoff=lambda n: 0.01)


Servers = tuple[FakeAri, FakeAri]
Sup = tuple[Supervisor, dict[int, list[AriEvent]]]


@pytest.fixture
async def servers() -> AsyncIterator[Servers]:
    a, b = FakeAri(), FakeAri(password="other")
    await a.up()
    await b.up()
    yield a, b
    await a.close()
    await b.close()


@pytest.fixture
async def supervisor() -> AsyncIterator[Sup]:
    received: dict[int, list[AriEvent]] = {}

    def handler_factory(config: LinkConfig, link: EventsLink) -> EventHandler:
        assert link.config_id == config.id
        events = received.setdefault(config.id, [])

        async def on_event(event: AriEvent) -> None:
            events.append(event)

        return on_event

    sup = Supervisor(link_factory=fast_link, handler_factory=handler_factory)
    yield sup, received
    await sup.stop()


def config_for(server: FakeAri, config_id: int = 1, password: str = "secret123") -> LinkConfig:
    return LinkConfig(id=config_id, name=f"PBX {config_id}", ari_endpoint_url=server.url,
                      app_name="dograh", username="dograh", password=password, enabled=True)


async def connected(sup: Supervisor, config_id: int) -> EventsLink:
    link = sup.link(config_id)
    assert link is not None
    await link.wait_for_state(LinkState.CONNECTED, 5)
    return link


async def test_start_connects_and_events_reach_the_handler(servers: Servers, supervisor: Sup) -> None:
    (a, _), (sup, received) = servers, supervisor
    await sup.start([config_for(a)])
    await connected(sup, 1)
    await a.send(stasis_start("c1"))
    await eventually(lambda: len(received.get(1, [])) == 1)
    assert isinstance(received[1][0], StasisStart)
    assert sup.status(1).state is LinkState.CONNECTED
    assert set(sup.statuses()) == {1}


async def test_new_password_replaces_the_link(servers: Servers, supervisor: Sup) -> None:
    (a, _), (sup, _) = servers, supervisor
    a.allow("dograh", "new pass&#:%")
    status = await sup.apply(config_for(a, password="old"))
    assert status.state in (LinkState.CONNECTING, LinkState.AUTH_FAILED)
    old = sup.link(1)
    assert old is not None
    await old.wait_for_state(LinkState.AUTH_FAILED, 5)
    await sup.apply(config_for(a, password="new pass&#:%"))
    new = await connected(sup, 1)
    assert new is not old and old.status.state is LinkState.STOPPED
    assert a.handshakes[-1].headers["Authorization"] == basic("dograh", "new pass&#:%")
    assert len(a.connections) == 1


async def test_same_settings_keep_the_link_and_rename_relabels(servers: Servers, supervisor: Sup) -> None:
    (a, _), (sup, _) = servers, supervisor
    config = config_for(a)
    await sup.apply(config)
    link = await connected(sup, 1)
    await sup.apply(config)
    await sup.apply(replace(config, name="Renamed"))
    assert sup.link(1) is link and link.name == "Renamed"
    assert len(a.handshakes) == 1 and len(a.live) == 1


async def test_disable_closes_the_socket_and_enable_reconnects(servers: Servers, supervisor: Sup) -> None:
    (a, _), (sup, _) = servers, supervisor
    config = config_for(a)
    await sup.apply(config)
    await connected(sup, 1)
    status = await sup.apply(replace(config, enabled=False))
    assert status.state is LinkState.DISABLED and sup.status(1).state is LinkState.DISABLED
    assert sup.link(1) is None
    await eventually(lambda: a.close_codes == [1000])
    assert sup.statuses()[1].state is LinkState.DISABLED
    await sup.apply(config)
    await connected(sup, 1)
    assert len(a.handshakes) == 2


async def test_disabled_from_the_start_never_connects(servers: Servers, supervisor: Sup) -> None:
    (a, _), (sup, _) = servers, supervisor
    await sup.start([replace(config_for(a), enabled=False)])
    assert sup.status(1).state is LinkState.DISABLED and sup.link(1) is None
    assert a.handshakes == []


async def test_remove_closes_the_socket_and_forgets(servers: Servers, supervisor: Sup) -> None:
    (a, _), (sup, _) = servers, supervisor
    await sup.apply(config_for(a))
    await connected(sup, 1)
    await sup.remove(1)
    await eventually(lambda: a.close_codes == [1000])
    with pytest.raises(KeyError):
        sup.status(1)
    assert sup.statuses() == {}
    await sup.remove(1)  # unknown id: nothing to do


async def test_two_configurations_are_independent(servers: Servers, supervisor: Sup) -> None:
    (a, b), (sup, received) = servers, supervisor
    await sup.start([config_for(a, 1), config_for(b, 2, password="other")])
    link_a, link_b = await connected(sup, 1), await connected(sup, 2)
    await a.down()
    await link_a.wait_for_state(LinkState.UNREACHABLE, 5)
    await b.send(stasis_start("on-b"))
    await eventually(lambda: len(received.get(2, [])) == 1)
    assert link_b.status.state is LinkState.CONNECTED and link_b.status.reconnects == 0
    assert len(b.handshakes) == 1 and received.get(1, []) == []
    await a.up()
    await link_a.wait_for_state(LinkState.CONNECTED, 5)


async def test_invalid_endpoint_is_reported_not_raised(supervisor: Sup) -> None:
    sup, _ = supervisor
    bad = LinkConfig(id=3, name="bad", ari_endpoint_url="pbx:8088", app_name="dograh",
                     username="dograh", password="x", enabled=True)
    status = await sup.apply(bad)
    assert status.state is LinkState.UNREACHABLE and status.last_error_id == "ari-unreachable"


async def test_stop_closes_everything_and_leaves_no_tasks(servers: Servers) -> None:
    a, b = servers
    current = asyncio.current_task()
    before = {t for t in asyncio.all_tasks() if not t.done()}
    sup = Supervisor(link_factory=fast_link)
    await sup.start([config_for(a, 1), config_for(b, 2, password="other")])
    await connected(sup, 1)
    await connected(sup, 2)
    await sup.stop()
    await eventually(lambda: a.close_codes == [1000] and b.close_codes == [1000])
    await eventually(lambda: not {t for t in asyncio.all_tasks() if not t.done()} - before - {current})
    assert {s.state for s in sup.statuses().values()} == {LinkState.STOPPED}
    with pytest.raises(RuntimeError):
        await sup.apply(config_for(a))


def test_password_is_not_in_repr() -> None:
    config = LinkConfig(id=1, name="x", ari_endpoint_url="http://pbx:8088", app_name="dograh",
                        username="dograh", password="s3cret", enabled=True)
    assert "s3cret" not in repr(config)
