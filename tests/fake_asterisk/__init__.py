"""A faithful fake Asterisk (ARI + chan_websocket external media) for Switchboard's tests.

Behaviour follows ``shared/asterisk-traces`` (Asterisk GIT-master-f0c1c1a7b7). Quick start::

    async with FakeAsterisk(users={"dograh": "secret"},
                            websocket_clients={"dograh": {"uri": "ws://127.0.0.1:8765/ws",
                                                          "reconnect_attempts": 2,
                                                          "reconnect_interval": 0.05}}) as fake:
        ... connect the app to fake.ari_url / fake.events_url("dograh") ...
        cid = await fake.place_inbound_call("+15551234", "8000", audio=ulaw_bytes)
        await fake.wait_for(lambda: fake.channels[cid].state == "Up")

Run standalone: ``python -m tests.fake_asterisk --port 8088 --user dograh:secret --ws-client dograh=ws://...``.
"""
from __future__ import annotations

from .callers import FarEnd, HeardFrame
from .chanws import ChanWebSocket, ControlFormat, Direction
from .core import AriError, EventRecord, FakeAsterisk, RestRecord
from .line import REFERENCE_SPEECH_DBFS, EchoPath, LineNoise
from .media import Gap, MediaConnectionRecord, PlayedFrame, WsClientConfig
from .model import Bridge, Channel, Kind
from .outbound import OutboundBehavior, Outcome

__all__ = [
    "AriError",
    "Bridge",
    "ChanWebSocket",
    "Channel",
    "ControlFormat",
    "Direction",
    "EchoPath",
    "EventRecord",
    "FakeAsterisk",
    "FarEnd",
    "Gap",
    "HeardFrame",
    "Kind",
    "LineNoise",
    "MediaConnectionRecord",
    "OutboundBehavior",
    "Outcome",
    "PlayedFrame",
    "REFERENCE_SPEECH_DBFS",
    "RestRecord",
    "WsClientConfig",
]
