"""Start-up errors of the real process: each bad input gives one line on stderr, a non-zero exit
and no hang. Every run goes through `subprocess.run(timeout=START_TIMEOUT_S)`: a hang or a slow
exit fails the test with TimeoutExpired, nothing is timed by assertion."""
from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from data.backup import read_lock
from data.store import Store

ROOT = Path(__file__).resolve().parents[1]
START_TIMEOUT_S = 5.0


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SWITCHBOARD_")}
    return {**env, **extra}


def run_app(*args: str, prefix: tuple[str, ...] = (), env: dict[str, str] | None = None,
            ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*prefix, sys.executable, "app.py", *args], cwd=ROOT, env=env or clean_env(),
                          capture_output=True, text=True, timeout=START_TIMEOUT_S)


def one_line_error(result: subprocess.CompletedProcess[str], error_id: str) -> str:
    """The single stderr line of a refused start, checked for shape; returned for the details."""
    lines = result.stderr.strip().splitlines()
    assert result.returncode not in (0, None), result
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"error [{error_id}]: "), lines[0]
    assert "Traceback" not in result.stderr and result.stdout == ""
    return lines[0]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def make_database(path: Path) -> None:
    async def create() -> None:
        await (await Store.open(path, "startup-test-key")).close()

    asyncio.run(create())


def wait_until(predicate: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met")
        time.sleep(0.02)


# --- bad settings ---------------------------------------------------------------------------------

@pytest.mark.parametrize("value, said", [("abc", "not 'abc'"), ("70000", "not 70000"), ("0", "not 0"), ("", "not ''")])
def test_a_bad_switchboard_port_is_one_line(tmp_path: Path, value: str, said: str) -> None:
    result = run_app(env=clean_env(SWITCHBOARD_PORT=value, SWITCHBOARD_DB=str(tmp_path / "sb.db")))
    line = one_line_error(result, "bad-setting")
    assert result.returncode == 2 and "SWITCHBOARD_PORT" in line and said in line
    assert not (tmp_path / "sb.db").exists()


@pytest.mark.parametrize("args", [("--port", "abc"), ("--port", "65536"), ("--port", "-1"), ("serve", "--port", "x1")])
def test_a_bad_port_flag_is_one_line(tmp_path: Path, args: tuple[str, ...]) -> None:
    result = run_app("--db", str(tmp_path / "sb.db"), *args)
    line = one_line_error(result, "bad-argument")
    assert result.returncode == 2 and "--port" in line and "1 to 65535" in line


def test_a_bad_number_in_the_backup_settings_is_one_line(tmp_path: Path) -> None:
    result = run_app(env=clean_env(SWITCHBOARD_BACKUP_KEEP="seven", SWITCHBOARD_DB=str(tmp_path / "sb.db")))
    assert "SWITCHBOARD_BACKUP_KEEP" in one_line_error(result, "bad-setting")


# --- the port -------------------------------------------------------------------------------------

def test_a_port_in_use_is_one_line_naming_the_port(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_app("--db", str(tmp_path / "sb.db"), "--port", str(port))
    line = one_line_error(result, "port-unavailable")
    assert result.returncode == 5 and f"port {port}" in line and "already in use" in line


def test_a_host_that_is_not_ours_is_one_line(tmp_path: Path) -> None:
    result = run_app("--db", str(tmp_path / "sb.db"), "--host", "no-such-host.invalid", "--port", str(free_port()))
    assert "no-such-host.invalid" in one_line_error(result, "bad-host")


# --- the database ---------------------------------------------------------------------------------

def test_a_file_that_is_not_a_switchboard_database_is_one_line(tmp_path: Path) -> None:
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not a database at all" * 100)
    result = run_app("--db", str(junk), "--port", str(free_port()))
    assert str(junk) in one_line_error(result, "db-not-switchboard")
    assert junk.read_bytes() == b"not a database at all" * 100


@pytest.fixture
def read_only() -> Iterator[Callable[[Path], tuple[str, ...]]]:
    """Makes a path read-only for the started process; returns the command prefix to use.
    A normal user: chmod (undone afterwards). Root ignores modes, so root gets a read-only bind
    mount in a private mount namespace (`unshare -m`), as on a read-only volume."""
    undo: list[tuple[Path, int]] = []

    def make(path: Path) -> tuple[str, ...]:
        if os.geteuid() != 0:
            undo.append((path, path.stat().st_mode))
            path.chmod(0o555 if path.is_dir() else 0o444)
            return ()
        if shutil.which("unshare") is None or subprocess.run(
                ["unshare", "-m", "true"], capture_output=True, timeout=START_TIMEOUT_S).returncode != 0:
            pytest.skip("running as root without `unshare -m`: cannot make a path read-only for root")
        return ("unshare", "-m", "sh", "-c", 'mount --bind -o ro "$0" "$0" && exec "$@"', str(path))

    yield make
    for path, mode in undo:
        path.chmod(mode)


def test_a_read_only_database_file_is_one_line(tmp_path: Path, read_only: Callable[[Path], tuple[str, ...]]) -> None:
    db = tmp_path / "data" / "sb.db"
    make_database(db)
    before = db.read_bytes()
    result = run_app("--db", str(db), "--port", str(free_port()), prefix=read_only(db),
                     env=clean_env(SWITCHBOARD_SECRET_KEY="startup-test-key"))
    line = one_line_error(result, "db-read-only")
    assert result.returncode == 3 and str(db) in line and "read-only" in line
    assert db.read_bytes() == before


def test_a_read_only_database_directory_is_one_line(
        tmp_path: Path, read_only: Callable[[Path], tuple[str, ...]]) -> None:
    db = tmp_path / "data" / "sb.db"
    make_database(db)
    result = run_app("--db", str(db), "--port", str(free_port()), prefix=read_only(db.parent),
                     env=clean_env(SWITCHBOARD_SECRET_KEY="startup-test-key"))
    line = one_line_error(result, "db-dir-read-only")
    assert result.returncode == 3 and str(db.parent) in line


def test_a_database_directory_that_cannot_be_made_is_one_line(
        tmp_path: Path, read_only: Callable[[Path], tuple[str, ...]]) -> None:
    parent = tmp_path / "volume"
    parent.mkdir()
    db = parent / "var" / "sb.db"
    result = run_app("--db", str(db), "--port", str(free_port()), prefix=read_only(parent))
    assert str(db.parent) in one_line_error(result, "db-dir-not-writable")


def test_start_up_that_fails_after_the_database_opened_ends_the_process(tmp_path: Path) -> None:
    """The root cause of the old hang: a lifespan failing after `Store.open` left the store's
    connection threads running, and the interpreter waited for them for ever."""
    script = (
        "import asyncio, sys\n"
        "from pathlib import Path\n"
        "from app import create_app\n"
        "from web.settings import Settings\n"
        "async def agent():\n"
        "    raise RuntimeError('the agent failed to load')\n"
        "app = create_app(Settings(db_path=Path(sys.argv[1]), secret_key='k'), agent_factory=agent)\n"
        "async def start():\n"
        "    try:\n"
        "        async with app.router.lifespan_context(app):\n"
        "            pass\n"
        "    except RuntimeError as exc:\n"
        "        print('start-up failed:', exc)\n"
        "asyncio.run(start())\n"
    )
    result = subprocess.run([sys.executable, "-c", script, str(tmp_path / "sb.db")], cwd=ROOT, env=clean_env(),
                            capture_output=True, text=True, timeout=START_TIMEOUT_S)
    assert result.returncode == 0 and result.stdout == "start-up failed: the agent failed to load\n", result


# --- a second server --------------------------------------------------------------------------------

def test_a_second_server_on_the_same_database_is_one_line_naming_the_first(tmp_path: Path) -> None:
    db, first_port = tmp_path / "sb.db", free_port()
    first = subprocess.Popen([sys.executable, "-m", "tests.e2e.server_process", "--db", str(db),
                              "--port", str(first_port)], cwd=ROOT, env=clean_env(),
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: read_lock(db).get("pid") == first.pid, timeout=20)
        result = run_app("--db", str(db), "--port", str(free_port()),
                         env=clean_env(SWITCHBOARD_SECRET_KEY="e2e-secret"))
        line = one_line_error(result, "server-running")
        assert result.returncode == 4
        assert f"pid {first.pid}" in line and f"port {first_port}" in line and f"kill {first.pid}" in line
        assert first.poll() is None  # the first server is untouched
    finally:
        first.send_signal(signal.SIGTERM)
        try:
            first.wait(timeout=20)
        except subprocess.TimeoutExpired:
            first.kill()
            first.wait()


# --- global flags after the subcommand --------------------------------------------------------------

def test_global_flags_work_after_the_subcommand(tmp_path: Path) -> None:
    db, copy = tmp_path / "data" / "sb.db", tmp_path / "copy.db"
    created = subprocess.run(
        [sys.executable, "app.py", "create-admin", "--email", "a@example.com", "--password", "Long-enough-pass-1",
         "--org", "Acme", "--db", str(db)], cwd=ROOT, env=clean_env(), capture_output=True, text=True, timeout=30)
    assert created.returncode == 0 and "created admin a@example.com" in created.stdout, created
    backup = run_app("backup", str(copy), "--db", str(db))
    assert backup.returncode == 0 and f"backup of {db} written to {copy}" in backup.stdout, backup
    assert copy.stat().st_size > 0 and not (ROOT / "var" / "copy.db").exists()
