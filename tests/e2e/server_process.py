"""Switchboard as a separate process with the harness's greeting agent and fast timings, for tests
that kill the server (SIGKILL) and start it again on the same database.

    python -m tests.e2e.server_process --db PATH --port PORT [--secret KEY]

Prints `ready` on stdout once it listens.
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path
from typing import Any

import uvicorn

from app import create_app
from ari.calls import CallTiming
from ari.service import AriSettings
from tests.e2e.harness import FAST_LINKS, FAST_RECONCILE, GreetingAgent, caller_audio
from web.settings import Settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--secret", default="e2e-secret")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    agent = GreetingAgent(caller_audio(1))

    async def agent_factory() -> Any:
        return agent

    settings = Settings(db_path=Path(args.db), secret_key=args.secret, port=args.port)
    app = create_app(settings, agent_factory=agent_factory, ari_settings=AriSettings(
        FAST_LINKS, CallTiming(media_timeout_s=2.0, rest_timeout_s=2.0), FAST_RECONCILE))
    config = uvicorn.Config(app, host="127.0.0.1", port=args.port, log_level="warning", lifespan="on",
                            ws_max_size=1 << 20)
    server = uvicorn.Server(config)

    async def serve() -> None:
        task = asyncio.create_task(server.serve())
        while not server.started and not task.done():
            await asyncio.sleep(0.01)
        print("ready", flush=True)
        await task

    asyncio.run(serve())
    return 0


if __name__ == "__main__":
    sys.exit(main())
