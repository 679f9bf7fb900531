"""The call's state machine (ari.call): legal paths, illegal transitions fail loudly, ending rules,
and how a call handles its own channels' events. Pure: no sockets, no database."""
from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from ari.call import SHUTDOWN_FLAG, Call, CallEnd, CallState, CallStateError
from ari.events import Channel, ChannelDestroyed, ChannelHangupRequest, StasisEnd, StasisStart

S = CallState


def new_call(direction: str = "inbound") -> Call:
    call = Call("c1", 1, 1, "+15550100", "8000", direction=direction)
    call.media_id = "m1"
    return call


def connected_call() -> Call:
    call = new_call()
    call.media_requested()
    call.media_entered()
    return call


def channel(channel_id: str) -> Channel:
    return Channel(id=channel_id, name=f"PJSIP/{channel_id}", state="Up")


def test_an_inbound_call_walks_set_up_media_talk_teardown() -> None:
    call = new_call()
    assert call.state is S.SETTING_UP and call.live and not call.handed_over
    call.media_requested()
    assert call.state is S.CONNECTING_MEDIA
    call.media_entered()
    assert call.state is S.CONNECTED
    assert call.begin_teardown() is S.CONNECTED
    assert call.state is S.TEARING_DOWN and not call.live
    call.finished()
    assert call.state is S.ENDED


def test_a_blind_transfer_refused_gives_the_call_back_and_one_that_works_hands_it_over() -> None:
    call = connected_call()
    call.blind_transfer_sent()
    assert call.state is S.TRANSFERRING and call.handed_over
    call.blind_transfer_refused()
    assert call.state is S.CONNECTED and not call.handed_over
    call.blind_transfer_sent()
    call.transferred()
    assert call.state is S.TRANSFERRED and call.handed_over
    assert call.begin_teardown() is S.TRANSFERRED


ILLEGAL: dict[str, tuple[Callable[[], Call], Callable[[Call], object]]] = {
    "media enters before it was requested": (new_call, Call.media_entered),
    "transferred while setting up": (new_call, Call.transferred),
    "a refusal without a transfer": (connected_call, Call.blind_transfer_refused),
    "media requested twice": (lambda: (c := new_call(), c.media_requested())[0], Call.media_requested),
    "finished before teardown": (connected_call, Call.finished),
    "teardown twice": (lambda: (c := connected_call(), c.begin_teardown())[0], Call.begin_teardown),
    "anything after the end": (lambda: (c := new_call(), c.begin_teardown(), c.finished())[0], Call.begin_teardown),
}


@pytest.mark.parametrize("case", sorted(ILLEGAL))
def test_an_illegal_transition_raises_and_leaves_the_state_alone(case: str) -> None:
    make, step = ILLEGAL[case]
    call = make()
    before = call.state
    with pytest.raises(CallStateError, match="is not allowed"):
        step(call)
    assert call.state is before


async def test_request_end_records_the_first_reason_and_cancels_the_task() -> None:
    call = connected_call()
    call.task = asyncio.create_task(asyncio.Event().wait())
    call.request_end(CallEnd("completed", "caller hung up"))
    call.request_end(CallEnd("failed", "link lost", "ari-link-lost"))
    assert call.state is S.ENDING and call.end == CallEnd("completed", "caller hung up")
    with pytest.raises(asyncio.CancelledError):
        await call.task
    call.begin_teardown()
    call.request_end(CallEnd("failed", "too late"))  # ignored once tearing down
    assert call.state is S.TEARING_DOWN and call.end == CallEnd("completed", "caller hung up")


async def test_ending_a_transferred_call_keeps_it_handed_over() -> None:
    call = connected_call()
    call.transferred()
    call.request_end(CallEnd("failed", "Switchboard is shutting down", "server-shutdown"))
    assert call.state is S.TRANSFERRED and call.handed_over  # the teardown must not hang up the caller
    assert call.end == CallEnd("failed", "Switchboard is shutting down", "server-shutdown")


async def test_reached_returns_for_a_state_already_passed() -> None:
    call = new_call()
    waiter = asyncio.create_task(call.reached(S.CONNECTED))
    call.media_requested()
    call.media_entered()
    call.request_end(CallEnd("completed", "caller hung up"))  # moved on before the waiter ran
    await asyncio.wait_for(waiter, 1)
    await asyncio.wait_for(call.reached(S.CONNECTING_MEDIA), 1)


async def test_the_media_channel_entering_stasis_connects_the_call() -> None:
    call = new_call()
    call.media_requested()
    await call.on_event(StasisStart(channel=channel("m1")))
    assert call.state is S.CONNECTED


async def test_the_caller_hanging_up_ends_the_call() -> None:
    call = connected_call()
    await call.on_event(ChannelHangupRequest(channel=channel("c1"), cause=16))
    assert call.state is S.ENDING and call.end == CallEnd("completed", "caller hung up", None, "cause 16")


async def test_the_called_party_of_an_outbound_call_hanging_up_says_so() -> None:
    call = new_call("outbound")
    await call.on_event(StasisEnd(channel=channel("c1")))
    assert call.end is not None and call.end.reason == "the called party hung up"


async def test_a_shutdown_flag_on_any_of_its_channels_fails_the_call() -> None:
    call = connected_call()
    await call.on_event(ChannelHangupRequest(channel=channel("m1"), cause=SHUTDOWN_FLAG, soft=True))
    assert call.end is not None and call.end.error_id == "asterisk-shutdown"


async def test_media_destroyed_before_it_entered_stasis_is_a_media_connect_failure() -> None:
    call = new_call()
    call.media_requested()
    await call.on_event(ChannelDestroyed(channel=channel("m1"), cause=38, cause_txt="Network out of order"))
    assert call.end is not None and call.end.error_id == "media-connect-failed"
    assert "cause 38 Network out of order" in call.end.reason


async def test_the_caller_leaving_stasis_during_a_blind_transfer_is_expected() -> None:
    call = connected_call()
    call.blind_transfer_sent()
    await call.on_event(StasisEnd(channel=channel("c1")))
    assert call.end is None and call.state is S.TRANSFERRING


async def test_a_torn_down_call_ignores_its_channels_events() -> None:
    call = connected_call()
    call.begin_teardown()
    await call.on_event(ChannelHangupRequest(channel=channel("c1"), cause=16))
    assert call.end is None and call.state is S.TEARING_DOWN
