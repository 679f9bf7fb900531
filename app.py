"""Switchboard: AI voice agents on your Asterisk PBX.

    python app.py                      serve on 127.0.0.1:8000 (see --help)
    python app.py create-admin --email E --password P [--org NAME]
    python app.py create-api-key --email E
    python app.py check [--config ID]
    python app.py backup FILE [--recordings]
    python app.py restore FILE [--recordings] [--force-stop]
"""
from __future__ import annotations

import argparse
import asyncio
import functools
import logging
import os
import sys
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware

from agent.outbound_http import OutboundClient
from ari.calls import AgentRunner
from ari.service import AriSettings
from data.errors import DatabaseError
from data.store import Store
from web import startup
from web.call_agent import CallAgent
from web.csrf import CsrfMiddleware
from web.errors import ApiError
from web.handlers import api_error, http_error, server_error
from web.lifespan import server_lifespan
from web.logs import configure as configure_logging
from web.routes import routes
from web.settings import Settings

if TYPE_CHECKING:
    from agent.runtime import AgentRuntime

log = logging.getLogger("switchboard")

AgentFactory = Callable[[], Awaitable[AgentRunner]]


def create_app(
    settings: Settings, *, agent_factory: AgentFactory | None = None, ari_settings: AriSettings | None = None,
    with_ari: bool = True, agent_runtime: AgentRuntime | None = None,
) -> Starlette:
    """The ASGI app. The database, ARI links and agent models open in the lifespan, so building
    an app is cheap. Tests pass their own agent (`agent_factory`), or an already loaded runtime
    to run as in production (`agent_runtime`: tools, lookups, allowed hosts), and faster timings;
    `with_ari=False` gives an admin without Asterisk links."""
    load_agent = functools.partial(_load_agent, agent_factory, agent_runtime) if with_ari else None
    trusted = [settings.public_url] if settings.public_url else []
    app = Starlette(
        routes=routes(),
        middleware=[
            Middleware(CsrfMiddleware, trusted_origins=trusted),
            Middleware(SessionMiddleware, secret_key=_session_key(settings), session_cookie="switchboard_session",
                       same_site="lax", https_only=settings.secure_cookies, max_age=14 * 24 * 3600),
        ],
        exception_handlers={ApiError: api_error, HTTPException: http_error, Exception: server_error},
        lifespan=server_lifespan(settings, load_agent, ari_settings),
    )
    return app


def _session_key(settings: Settings) -> str:
    from data.secretbox import SecretBox

    return SecretBox.load(settings.db_path.parent, settings.secret_key).session_key


async def _load_agent(
    factory: AgentFactory | None, loaded: AgentRuntime | None, store: Store, client: OutboundClient,
) -> tuple[AgentRunner, Callable[[], Awaitable[None]] | None]:
    """The voice agent: the test's own, or the embedded runtime (models load once, here) wired to
    the server (`web.call_agent`)."""
    if factory is not None:
        return await factory(), None
    if loaded is not None:
        return CallAgent(loaded, store, client), None  # the caller owns (and closes) the runtime
    try:
        from agent.runtime import AgentRuntime

        workers = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
        runtime = await asyncio.to_thread(AgentRuntime.load, workers=workers)
    except Exception as exc:  # the admin must still come up; calls then fail with this reason
        log.exception("voice agent unavailable error_id=agent-unavailable")
        return _unavailable_agent(f"{type(exc).__name__}: {exc}"), None
    return CallAgent(runtime, store, client), runtime.close


@dataclass(frozen=True)
class _Outcome:
    status: str
    reason: str


def _unavailable_agent(why: str) -> AgentRunner:
    async def run(call: Any, definition: Mapping[str, Any], context: dict[str, Any], on_event: Any) -> Any:
        await on_event("error", None, f"voice agent unavailable: {why}", {"error_id": "agent-unavailable"})
        return _Outcome("failed", f"voice agent unavailable: {why}")

    return run


# Command line ----------------------------------------------------------------------------------

def _parser() -> argparse.ArgumentParser:
    parser = startup.OneLineParser(prog="python app.py", description="Switchboard: AI voice agents on Asterisk")
    startup.add_global_flags(parser)
    sub = parser.add_subparsers(dest="command")
    common = [startup.global_flags()]  # the global flags also after the subcommand
    sub.add_parser("serve", parents=common, help="run the server (default)")
    admin = sub.add_parser("create-admin", parents=common, help="create an organisation and its first admin")
    admin.add_argument("--email", required=True)
    admin.add_argument("--password", required=True)
    admin.add_argument("--org", default="My organisation")
    check = sub.add_parser("check", parents=common,
                           help="run the connection checks against each configuration's Asterisk")
    check.add_argument("--config", type=int, help="only this configuration id")
    key = sub.add_parser("create-api-key", parents=common, help="create an API key for a user and print it once")
    key.add_argument("--email", required=True)
    key.add_argument("--label", default="")
    backup = sub.add_parser("backup", parents=common,
                            help="write an online, consistent backup of the database to FILE")
    backup.add_argument("file")
    backup.add_argument("--recordings", action="store_true", help="also write FILE.recordings.tar")
    restore = sub.add_parser("restore", parents=common,
                             help="replace the database with the backup FILE (server stopped)")
    restore.add_argument("file")
    restore.add_argument("--recordings", action="store_true", help="also restore FILE.recordings.tar")
    restore.add_argument("--force-stop", action="store_true",
                         help="stop the running server first (SIGTERM: live calls end politely)")
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


def _cli_check(settings: Settings, args: argparse.Namespace) -> int:
    from ari.diagnostics import Diagnostics, ProbeTarget

    async def run(store: Store) -> int:
        configs = [c for c in await store.configs.all() if args.config in (None, c.id)]
        if not configs:
            print("no telephony configuration to check", file=sys.stderr)
            return 2
        failures = 0
        for config in configs:
            target = ProbeTarget(config.ari_endpoint_url, config.stasis_app_name, config.username,
                                 await store.configs.ari_password(config.id), config.websocket_client_name)
            print(f"configuration {config.id} ({config.name}) at {config.ari_endpoint_url}")
            for result in await Diagnostics(target).run():
                skipped = result.message.startswith("skipped:")
                mark = "-" if skipped else ("ok" if result.ok else "FAIL")
                failures += 0 if result.ok or skipped else 1
                print(f"  [{mark:>4}] {result.id}: {result.message}")
                if not result.ok and result.fix and not skipped:
                    print(f"         fix: {result.fix}")
        return 1 if failures else 0

    return int(asyncio.run(_with_store(settings, run)))


def _cli_backup(settings: Settings, args: argparse.Namespace) -> int:
    from data.backup import archive_recordings, backup_file, recordings_archive

    dest = backup_file(settings.db_path, Path(args.file))
    print(f"backup of {settings.db_path} written to {dest}")
    if args.recordings:
        archive = recordings_archive(dest)
        print(f"{archive_recordings(settings.db_path, archive)} recordings written to {archive}")
    return 0


def _cli_restore(settings: Settings, args: argparse.Namespace) -> int:
    from data.backup import BackupInvalid, ServerRunning
    from data.migrations import latest_version
    from data.restore import restore

    try:
        report = restore(Path(args.file), settings.db_path, recordings=args.recordings, force_stop=args.force_stop)
    except BackupInvalid as exc:
        print(f"error [{exc.error_id}]: {exc}; nothing was changed", file=sys.stderr)
        return 2
    except ServerRunning as exc:
        print(f"error [{exc.error_id}]: {exc}; nothing was changed", file=sys.stderr)
        return 4
    info = report.info
    schema = f"schema version {info.schema_version}"
    if info.schema_version < latest_version():
        schema += f", migrated to {latest_version()}"
    print(f"restored {args.file} into {settings.db_path} ({schema}; {info.organizations} organisations, "
          f"{info.runs} calls)")
    if report.previous is not None:
        print(f"the previous database is kept at {report.previous}")
    if report.recordings is not None:
        print(f"{report.recordings} recordings restored"
              + (f"; the previous ones are kept at {report.previous_recordings}" if report.previous_recordings else ""))
    return 0


def _serve(settings: Settings) -> int:
    import uvicorn

    app = create_app(settings)
    print(f"Switchboard on http://{settings.host}:{settings.port}/telephony-configurations "
          f"(database {settings.db_path})", flush=True)
    from web.serving import run

    # log_config=None: uvicorn's own logs go through our formatter (web.logs).
    return run(uvicorn.Config(app, host=settings.host, port=settings.port, log_level="info", workers=1,
                              proxy_headers=False, ws_max_size=1 << 20, log_config=None))


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        startup.check_environment(os.environ)
    except startup.StartupError as exc:
        print(exc.line, file=sys.stderr)
        return exc.exit_code
    settings = settings_from(args)
    try:
        configure_logging(settings.log_format)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        if args.command == "create-admin":
            return _cli_create_admin(settings, args)
        if args.command == "create-api-key":
            return _cli_create_api_key(settings, args)
        if args.command == "check":
            return _cli_check(settings, args)
        if args.command == "backup":
            return _cli_backup(settings, args)
        if args.command == "restore":
            return _cli_restore(settings, args)
        startup.preflight(settings)
        return _serve(settings)
    except startup.StartupError as exc:
        print(exc.line, file=sys.stderr)
        return exc.exit_code
    except DatabaseError as exc:
        print(f"error [{exc.error_id}]: {exc}", file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main())
