"""Start-up checks and the command line's global flags.

Every bad start-up input ends the process before uvicorn runs, with one line on stderr
(`error [<id>]: <what> ...<what to do>`) and a non-zero exit: a failure inside the lifespan
would print a traceback instead. The checks, in order: environment values that must be
numbers, the database directory and file writable, no other server on the database (its
`ServerLock`), the port free, the database opening as a Switchboard database.

`OneLineParser` makes argparse errors one line too, and `add_global_flags` lets `--db`,
`--host`, `--port` and `--public-url` stand before or after the subcommand.
"""
from __future__ import annotations

import argparse
import asyncio
import errno
import os
import socket
import sqlite3
from collections.abc import Mapping
from pathlib import Path
from typing import NoReturn

from data.backup import ServerLock, ServerRunning, read_lock
from data.errors import DatabaseError
from data.store import Store
from web.settings import Settings

EXIT_USAGE, EXIT_DATABASE, EXIT_SERVER_RUNNING, EXIT_PORT = 2, 3, 4, 5


class StartupError(Exception):
    """A reason not to start, as the one line the user reads."""

    def __init__(self, error_id: str, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.error_id = error_id
        self.exit_code = exit_code

    @property
    def line(self) -> str:
        return f"error [{self.error_id}]: {self}"


# --- command line -------------------------------------------------------------------------------

class OneLineParser(argparse.ArgumentParser):
    """argparse that reports a bad argument in one line (no usage block) and exits 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"error [bad-argument]: {self.prog}: {message} (see --help)\n")


def port_number(text: str) -> int:
    """A TCP port 1-65535 (argparse `type=`); 0 is refused: the printed URL would be wrong."""
    try:
        port = int(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"port must be a number from 1 to 65535, not {text!r}") from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port must be from 1 to 65535, not {port}")
    return port


def add_global_flags(parser: argparse.ArgumentParser, *, after_subcommand: bool = False) -> None:
    """The flags every command takes. After a subcommand they default to "not given" (SUPPRESS),
    so they override the ones given before it only when present."""
    default = argparse.SUPPRESS if after_subcommand else None
    parser.add_argument("--host", default=default, help="address to listen on (SWITCHBOARD_HOST, default 127.0.0.1)")
    parser.add_argument("--port", type=port_number, default=default, help="port (SWITCHBOARD_PORT, default 8000)")
    parser.add_argument("--db", default=default, help="SQLite file (SWITCHBOARD_DB, default ./var/switchboard.db)")
    parser.add_argument("--public-url", default=default,
                        help="base URL Asterisk uses to reach us (SWITCHBOARD_PUBLIC_URL)")


def global_flags() -> OneLineParser:
    """A parent parser (`parents=[...]`) that puts the global flags on a subcommand."""
    parent = OneLineParser(add_help=False)
    add_global_flags(parent, after_subcommand=True)
    return parent


_NUMBERS = {"SWITCHBOARD_BACKUP_INTERVAL_HOURS": float, "SWITCHBOARD_BACKUP_KEEP": int}


def check_environment(env: Mapping[str, str]) -> None:
    """The environment values `Settings.from_env` converts, checked first so a typo is one line."""
    if "SWITCHBOARD_PORT" in env:
        try:
            port_number(env["SWITCHBOARD_PORT"])
        except argparse.ArgumentTypeError as exc:
            raise StartupError("bad-setting", f"SWITCHBOARD_PORT: {exc}", EXIT_USAGE) from None
    for name, kind in _NUMBERS.items():
        if name in env:
            try:
                value = kind(env[name])
            except ValueError:
                value = -1
            if value < 0:
                raise StartupError("bad-setting", f"{name} must be a number of at least 0, not {env[name]!r}",
                                   EXIT_USAGE)


# --- before serving -----------------------------------------------------------------------------

def preflight(settings: Settings) -> None:
    """Everything that would otherwise fail inside the lifespan or at bind, checked first."""
    check_database_writable(settings.db_path)
    check_no_other_server(settings.db_path)
    check_port_free(settings.host, settings.port)
    check_database_opens(settings)


def check_database_writable(db_path: Path) -> None:
    """The directory (new files: WAL, lock, secret.key, recordings) and the files must be writable.
    `os.access` also sees a read-only mount, where root's writes fail too."""
    directory = db_path.parent
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StartupError("db-dir-not-writable", f"cannot create the database directory {directory}: "
                           f"{exc.strerror}; choose another with --db or SWITCHBOARD_DB", EXIT_DATABASE) from None
    if not os.access(directory, os.W_OK | os.X_OK):
        raise StartupError("db-dir-read-only", f"the database directory {directory} is read-only; Switchboard "
                           "writes its WAL, lock, secret.key and recordings there: make it writable for this "
                           "user or choose another with --db or SWITCHBOARD_DB", EXIT_DATABASE)
    for path in (db_path, Path(f"{db_path}-wal"), Path(f"{db_path}-shm")):
        if path.exists() and not os.access(path, os.R_OK | os.W_OK):
            raise StartupError("db-read-only", f"the database file {path} is read-only: make it readable "
                               "and writable for this user (chown/chmod), or choose another with --db "
                               "or SWITCHBOARD_DB", EXIT_DATABASE)


def check_no_other_server(db_path: Path) -> None:
    """Take the server lock and let go at once (the lifespan takes it for good)."""
    try:
        ServerLock.acquire(db_path, purpose="start-up check").release()
    except ServerRunning as running:
        port = read_lock(db_path).get("port")
        who = f"pid {running.pid}" if running.pid else "pid unknown"
        where = f", port {port}" if port else ""
        finder = f"`kill {running.pid}`" if running.pid else "stop it"
        raise StartupError(
            "server-running", f"another Switchboard server ({who}{where}) is already serving {db_path}: stop it "
            f"first ({finder}; `fuser -v {db_path}.lock` shows it) or give this "
            "one another --db", EXIT_SERVER_RUNNING) from None
    except OSError as exc:
        raise StartupError("db-dir-read-only", f"cannot write the lock file beside {db_path}: {exc.strerror}",
                           EXIT_DATABASE) from None


def check_port_free(host: str, port: int) -> None:
    """Bind as uvicorn will (SO_REUSEADDR, so a port in TIME_WAIT counts as free), then let go."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except socket.gaierror as exc:
            raise StartupError("bad-host", f"cannot listen on {host!r}: {exc.strerror}; check --host or "
                               "SWITCHBOARD_HOST", EXIT_PORT) from None
        except OSError as exc:
            raise StartupError("port-unavailable", _bind_problem(host, port, exc), EXIT_PORT) from None


def _bind_problem(host: str, port: int, exc: OSError) -> str:
    if exc.errno == errno.EADDRINUSE:
        return (f"port {port} on {host} is already in use (`ss -ltnp 'sport = :{port}'` shows by what); "
                "stop that program or choose another port with --port or SWITCHBOARD_PORT")
    if exc.errno == errno.EACCES:
        return f"no permission to listen on port {port}: ports below 1024 need root; choose one from 1024 up"
    if exc.errno == errno.EADDRNOTAVAIL:
        return f"{host} is not an address of this machine; check --host or SWITCHBOARD_HOST"
    return f"cannot listen on {host}:{port}: {exc.strerror}"


def check_database_opens(settings: Settings) -> None:
    """Open (and migrate) the database once, so a foreign, damaged or newer file is one line too."""
    async def open_and_close() -> None:
        store = await Store.open(settings.db_path, settings.secret_key)
        await store.close()

    try:
        asyncio.run(open_and_close())
    except DatabaseError as exc:
        raise StartupError(exc.error_id, str(exc), EXIT_DATABASE) from None
    except (sqlite3.Error, OSError) as exc:
        raise StartupError("db-unavailable", f"cannot open the database {settings.db_path}: {exc}",
                           EXIT_DATABASE) from None
