"""Switchboard: AI voice agents on your Asterisk PBX.

    python app.py                      serve on 127.0.0.1:8000 (see --help)
    python app.py create-admin --email E --password P [--org NAME]
    python app.py create-api-key --email E
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware

from data.errors import DatabaseError
from data.store import Store
from web.csrf import CsrfMiddleware
from web.errors import ApiError
from web.handlers import api_error, http_error, server_error
from web.routes import routes
from web.settings import Settings
from web.telephony import NullTelephony, Telephony

log = logging.getLogger("switchboard")

TelephonyFactory = Callable[[Store, Settings], Telephony]


def create_app(settings: Settings, telephony_factory: TelephonyFactory | None = None) -> Starlette:
    """The ASGI app. Opening the database happens in the lifespan, so an app can be built cheaply."""
    box_key = _session_key(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        store = await Store.open(settings.db_path, settings.secret_key)
        closed = await store.runs.finish_all_open("failed", "server restarted", "server-restarted")
        if closed:
            log.warning("closed runs left open by a previous process count=%d error_id=server-restarted", closed)
        telephony = telephony_factory(store, settings) if telephony_factory else NullTelephony()
        app.state.store, app.state.telephony = store, telephony
        start = getattr(telephony, "start", None)
        if start is not None:
            await start()
        try:
            yield
        finally:
            stop = getattr(telephony, "stop", None)
            if stop is not None:
                await stop()
            await store.close()

    trusted = [settings.public_url] if settings.public_url else []
    app = Starlette(
        routes=routes(),
        middleware=[
            Middleware(CsrfMiddleware, trusted_origins=trusted),
            Middleware(SessionMiddleware, secret_key=box_key, session_cookie="switchboard_session",
                       same_site="lax", https_only=settings.secure_cookies, max_age=14 * 24 * 3600),
        ],
        exception_handlers={ApiError: api_error, HTTPException: http_error, Exception: server_error},
        lifespan=lifespan,
    )
    app.state.settings = settings
    return app


def _session_key(settings: Settings) -> str:
    from data.secretbox import SecretBox

    return SecretBox.load(settings.db_path.parent, settings.secret_key).session_key


def default_telephony_factory() -> TelephonyFactory | None:
    """The ARI telephony service, once the ari package provides it."""
    try:
        from ari.service import AriTelephony
    except ImportError:
        return None
    return AriTelephony.create


# Command line ----------------------------------------------------------------------------------

def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python app.py", description="Switchboard: AI voice agents on Asterisk")
    parser.add_argument("--host", help="address to listen on (SWITCHBOARD_HOST, default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port (SWITCHBOARD_PORT, default 8000)")
    parser.add_argument("--db", help="SQLite file (SWITCHBOARD_DB, default ./var/switchboard.db)")
    parser.add_argument("--public-url", help="base URL Asterisk uses to reach us (SWITCHBOARD_PUBLIC_URL)")
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("serve", help="run the server (default)")
    admin = sub.add_parser("create-admin", help="create an organisation and its first admin")
    admin.add_argument("--email", required=True)
    admin.add_argument("--password", required=True)
    admin.add_argument("--org", default="My organisation")
    key = sub.add_parser("create-api-key", help="create an API key for a user and print it once")
    key.add_argument("--email", required=True)
    key.add_argument("--label", default="")
    return parser


def settings_from(args: argparse.Namespace) -> Settings:
    settings = Settings.from_env()
    overrides: dict[str, Any] = {}
    if args.host:
        overrides["host"] = args.host
    if args.port:
        overrides["port"] = args.port
    if args.db:
        overrides["db_path"] = Path(args.db)
    if args.public_url:
        overrides["public_url"] = args.public_url
    return replace(settings, **overrides)


async def _with_store(settings: Settings, action: Callable[[Store], Any]) -> Any:
    store = await Store.open(settings.db_path, settings.secret_key)
    try:
        return await action(store)
    finally:
        await store.close()


def _cli_create_admin(settings: Settings, args: argparse.Namespace) -> int:
    from data.errors import Conflict
    from web.accounts import create_organization

    try:
        user = asyncio.run(_with_store(settings, lambda s: create_organization(s, args.org, args.email, args.password)))
    except ValueError as exc:
        problems = exc.args[0] if exc.args and isinstance(exc.args[0], dict) else {"input": str(exc)}
        for field, message in problems.items():
            print(f"error: {field}: {message}", file=sys.stderr)
        return 2
    except Conflict as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2
    print(f"created admin {user.email} (organisation id {user.organization_id})")
    return 0


def _cli_create_api_key(settings: Settings, args: argparse.Namespace) -> int:
    from web.accounts import create_api_key

    try:
        key = asyncio.run(_with_store(settings, lambda s: create_api_key(s, args.email, args.label)))
    except LookupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(key)
    return 0


def _serve(settings: Settings) -> int:
    import uvicorn

    app = create_app(settings, default_telephony_factory())
    print(f"Switchboard on http://{settings.host}:{settings.port}/telephony-configurations "
          f"(database {settings.db_path})", flush=True)
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="info", workers=1,
                proxy_headers=False, ws_max_size=1 << 20)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    settings = settings_from(args)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        if args.command == "create-admin":
            return _cli_create_admin(settings, args)
        if args.command == "create-api-key":
            return _cli_create_api_key(settings, args)
        return _serve(settings)
    except DatabaseError as exc:
        print(f"error [{exc.error_id}]: {exc}", file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main())
