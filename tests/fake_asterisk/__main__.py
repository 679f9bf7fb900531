"""Run the fake Asterisk as a process: ``python -m tests.fake_asterisk --port 8088 --user dograh:secret
--ws-client dograh=ws://127.0.0.1:8765/api/v1/telephony/ws/ari``.

The control surface is at ``http://HOST:PORT/_fake/...`` (see ``control.py``).
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal

from .core import FakeAsterisk
from .media import WsClientConfig


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m tests.fake_asterisk", description=__doc__)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8088)
    p.add_argument("--user", action="append", default=[], metavar="NAME:PASSWORD", help="ARI user (repeatable)")
    p.add_argument("--ws-client", action="append", default=[], metavar="NAME=URI", help="websocket_client (repeatable)")
    p.add_argument("--reconnect-attempts", type=int, default=4)
    p.add_argument("--reconnect-interval", type=float, default=0.5, help="seconds")
    p.add_argument("--connection-timeout", type=float, default=0.5, help="seconds")
    p.add_argument("--control-format", choices=["plain-text", "json"], default="plain-text")
    p.add_argument("--app", default="dograh", help="default Stasis app for inbound calls")
    p.add_argument("--tick", type=float, default=0.020, help="playout timer interval in seconds")
    return p.parse_args(argv)


async def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    users = dict(u.split(":", 1) for u in args.user) or {"dograh": "secret"}
    clients = {}
    for spec in args.ws_client:
        name, _, uri = spec.partition("=")
        clients[name] = WsClientConfig(
            name,
            uri,
            reconnect_attempts=args.reconnect_attempts,
            reconnect_interval=args.reconnect_interval,
            connection_timeout=args.connection_timeout,
        )
    fake = FakeAsterisk(
        host=args.host,
        port=args.port,
        users=users,
        websocket_clients=clients,
        control_message_format=args.control_format,
        default_app=args.app,
        tick_interval=args.tick,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    async with fake:
        print(f"fake asterisk listening on {fake.base_url} (ARI {fake.ari_url}, control {fake.base_url}/_fake/state)", flush=True)
        await stop.wait()


if __name__ == "__main__":
    asyncio.run(main())
