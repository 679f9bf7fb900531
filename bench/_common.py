"""Shared bits of the benchmarks: machine facts, percentiles, /proc readings, result files, the
database seed, and starting the helper processes (our server, the fake Asterisk)."""
from __future__ import annotations

import asyncio
import json
import os
import platform
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

RESULTS = ROOT / "bench" / "results"
APP, PASSWORD, WS_CLIENT, SECRET = "dograh", "bench-secret-pw", "dograh", "bench-secret-key"
CLK_TCK = os.sysconf("SC_CLK_TCK")


def machine() -> dict[str, Any]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_kb = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    except OSError:
        pass
    return {"cores": os.cpu_count(), "cpu": model, "memory_gb": round(mem_kb / 1048576, 1),
            "python": platform.python_version(), "platform": platform.platform()}


def percentile(values: list[float], p: float) -> float | None:
    """Nearest-rank percentile (None for no values)."""
    if not values:
        return None
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, int(round(p / 100 * len(ordered) + 0.5)) - 1))
    return ordered[k]


def summary(values: list[float], digits: int = 2) -> dict[str, Any]:
    def r(v: float | None) -> float | None:
        return None if v is None else round(v, digits)

    return {"n": len(values), "p50": r(percentile(values, 50)), "p95": r(percentile(values, 95)),
            "p99": r(percentile(values, 99)), "max": r(max(values) if values else None)}


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime


def system_busy_seconds() -> float:
    """CPU seconds spent busy by the whole machine (all cores) since boot, from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
    return (user + nice + system + irq + softirq + steal) / CLK_TCK


def process_cpu() -> dict[int, tuple[float, bool]]:
    """pid → (CPU seconds, is a kernel thread) for every process now."""
    out: dict[int, tuple[float, bool]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        kernel = bool(int(fields[6]) & 0x00200000)  # PF_KTHREAD
        out[int(entry.name)] = ((int(fields[11]) + int(fields[12])) / CLK_TCK, kernel)
    return out


def others_cpu(before: dict[int, tuple[float, bool]], after: dict[int, tuple[float, bool]],
               exclude: set[int]) -> tuple[float, float]:
    """CPU seconds used between two `process_cpu()` snapshots by other user processes, and by kernel
    threads (loopback networking shows up there as softirq work)."""
    user = kernel = 0.0
    for pid, (cpu, is_kernel) in after.items():
        if pid in exclude:
            continue
        delta = cpu - before.get(pid, (0.0, is_kernel))[0]
        if is_kernel:
            kernel += delta
        else:
            user += delta
    return user, kernel


def own_cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system


async def wait_quiet(max_busy_pct: float = 15.0, timeout: float = 600.0, sample_s: float = 2.0) -> float:
    """Wait until the machine (other people's work included) is nearly idle: the busy share of all
    cores over `sample_s` below `max_busy_pct`. Returns the last busy % seen (waits at most `timeout`)."""
    deadline = time.monotonic() + timeout
    cores = os.cpu_count() or 1
    while True:
        b0, t0 = system_busy_seconds(), time.monotonic()
        await asyncio.sleep(sample_s)
        busy = (system_busy_seconds() - b0) / ((time.monotonic() - t0) * cores) * 100
        if busy < max_busy_pct or time.monotonic() > deadline:
            return round(busy, 1)


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def write_result(name: str, data: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    path = RESULTS / f"{name}-{stamp}.json"
    path.write_text(json.dumps(data, indent=2, default=str))
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def seed(db: Path, fake_url: str, max_calls: int) -> dict[str, int]:
    """An organisation, a workflow, a configuration pointing at the fake, and number 8000."""
    from data.configs import ConfigFields
    from data.store import Store
    from web.accounts import create_organization

    store = await Store.open(db, SECRET)
    try:
        user = await create_organization(store, "Bench", "bench@example.com", "bench-password")
        await store.accounts.set_limits(user.organization_id, max_calls, None)
        workflow = await store.workflows.create(user.organization_id, "Tone", {"greeting": "tone"})
        config = await store.configs.create(user.organization_id, ConfigFields(
            "Bench PBX", fake_url, APP, None, PASSWORD, WS_CLIENT, (), "PJSIP/{number}", "from-internal", True))
        await store.numbers.create(user.organization_id, config.id, "8000", "Bench", workflow.id)
        return {"org_id": user.organization_id, "config_id": config.id, "workflow_id": workflow.id}
    finally:
        await store.close()


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def stop(self, timeout: float = 15.0) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        if self.popen.stdout is not None:
            self.popen.stdout.close()


async def start(name: str, args: list[str], log: Path, ready: str = "ready", timeout: float = 60.0,
                cpu: int | None = None) -> Proc:
    """Start `python <args>` from the repo root; wait for the line `ready` on its stdout. `cpu`
    pins it to one core (taskset), so two processes do not fight over the same one."""
    log.parent.mkdir(parents=True, exist_ok=True)
    handle = log.open("wb")
    cmd = [sys.executable, *args]
    if cpu is not None and _has_taskset():
        cmd = ["taskset", "-c", str(cpu), *cmd]
    popen = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=handle)
    handle.close()
    assert popen.stdout is not None
    deadline = time.monotonic() + timeout
    while True:
        line = await asyncio.wait_for(asyncio.to_thread(popen.stdout.readline), max(0.1, deadline - time.monotonic()))
        if not line:
            raise RuntimeError(f"{name} exited before it was ready; see {log}")
        if line.strip().decode(errors="replace") == ready:
            return Proc(name, popen, log)


def _has_taskset() -> bool:
    return any((Path(d) / "taskset").exists() for d in os.environ.get("PATH", "").split(os.pathsep))
