"""Call set-up time: StasisStart → both channels (the caller and our external media channel) in the
bridge, at arrival rates of 10, 50 and 100 calls/s, and the refusals once the concurrent-call quota
is full.

Measured twice, each in its own clock:
- inside our server (bench/_server_proc.py wraps CallControl.on_event and the REST client's
  addChannel/hangup, measurement only): StasisStart received → addChannel answered; for a refused
  call, StasisStart received → the congestion hang-up answered;
- at the fake Asterisk: StasisStart sent → the second ChannelEnteredBridge sent; refused: → the
  DELETE …?reason=congestion received.
Set-up includes the database write (quota check + run), answer, externalMedia, the media
WebSocket's MEDIA_START and the bridge. Each call holds `--hold` seconds with the caller streaming
and the tone agent speaking, so at the higher rates set-up competes with live media.

    python bench/call_setup.py                       # rates 10 50 100, 5 s each, quota 100, hold 2 s
    python bench/call_setup.py --rates 10 50 100 --seconds 5 --limit 100 --hold 2
"""
from __future__ import annotations

import argparse
import asyncio
import os
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx  # noqa: E402

from bench._common import (  # noqa: E402
    cpu_seconds, free_port, machine, others_cpu, process_cpu, seed, start, summary, wait_quiet, write_result,
)


async def wait_until(fetch: Any, predicate: Any, timeout: float, interval: float = 0.25) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = await fetch()
        if predicate(value) or time.monotonic() > deadline:
            return value
        await asyncio.sleep(interval)


def outcomes(db: Path, channels: set[str]) -> dict[str, int]:
    """How the runs of these calls ended: status / error id → count."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        rows = conn.execute("SELECT call_id, status, coalesce(error_id, '') FROM workflow_runs").fetchall()
    finally:
        conn.close()
    counts: dict[str, int] = {}
    for call_id, status, error_id in rows:
        if call_id in channels:
            key = f"{status}/{error_id}" if error_id else status
            counts[key] = counts.get(key, 0) + 1
    return counts


def split(calls: list[dict[str, Any]]) -> dict[str, Any]:
    bridged = [c["bridged_ms"] for c in calls if c["bridged_ms"] is not None]
    refused = [c["refused_ms"] for c in calls if c["refused_ms"] is not None]
    return {"calls": len(calls), "bridged": summary(bridged), "refused": summary(refused),
            "neither": sum(1 for c in calls if c["bridged_ms"] is None and c["refused_ms"] is None)}


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rates", type=float, nargs="+", default=[10, 50, 100], help="calls per second")
    parser.add_argument("--seconds", type=float, default=5.0, help="how long calls arrive at each rate")
    parser.add_argument("--hold", type=float, default=2.0, help="seconds each call lasts")
    parser.add_argument("--limit", type=int, default=100, help="the organisation's concurrent-call quota")
    parser.add_argument("--no-pin", action="store_true")
    parser.add_argument("--quiet", type=float, default=15.0,
                        help="before each rate wait until the machine is below this busy %% (0: do not wait)")
    parser.add_argument("--keep", help="keep the database and logs in this directory")
    args = parser.parse_args(argv)
    results = []
    with tempfile.TemporaryDirectory(prefix="sb-bench-") as tmp:
        work = Path(args.keep or tmp)
        work.mkdir(parents=True, exist_ok=True)
        fake_port, server_port = free_port(), free_port()
        db = work / "sb.db"
        await seed(db, f"http://127.0.0.1:{fake_port}", max_calls=args.limit)
        server = await start("server", ["bench/_server_proc.py", "--db", str(db), "--port", str(server_port)],
                             work / "server.log", cpu=None if args.no_pin else 0)
        fake = None
        try:
            fake = await start("fake", ["bench/_fake_proc.py", "--port", str(fake_port), "--ws-client",
                                        f"ws://127.0.0.1:{server_port}/api/v1/telephony/ws/ari"],
                               work / "fake.log", cpu=None if args.no_pin else 1)
            fake_url, our_url = f"http://127.0.0.1:{fake_port}", f"http://127.0.0.1:{server_port}"
            async with httpx.AsyncClient(timeout=60, trust_env=False) as http:
                async def progress() -> dict[str, Any]:
                    return (await http.get(f"{fake_url}/_bench/progress")).json()

                async def ours() -> dict[str, Any]:
                    return (await http.get(f"{our_url}/_bench/stats")).json()

                await wait_until(progress, lambda p: p["registered"], 20)
                seen: set[str] = set()
                for rate in args.rates:
                    busy_before = await wait_quiet(args.quiet, 300) if args.quiet > 0 else None
                    n = int(rate * args.seconds)
                    c0, f0, p0, t0 = cpu_seconds(server.pid), cpu_seconds(fake.pid), process_cpu(), time.monotonic()
                    placed_before = (await progress())["placed"]
                    await http.post(f"{fake_url}/_bench/place", json={"n": n, "rate": rate, "hold_s": args.hold})
                    await wait_until(progress, lambda p: p["placed"] >= placed_before + n, args.seconds + 30)
                    await wait_until(progress, lambda p: p["live_callers"] == 0, args.hold + 30)
                    await wait_until(ours, lambda s: s["live_sessions"] == 0, 30)
                    wall = time.monotonic() - t0
                    c1, f1, p1 = cpu_seconds(server.pid), cpu_seconds(fake.pid), process_cpu()
                    other_user, kernel = others_cpu(p0, p1, {server.pid, fake.pid, os.getpid()})
                    cpu = {"ours_pct": round((c1 - c0) / wall * 100, 1), "fake_pct": round((f1 - f0) / wall * 100, 1),
                           "other_processes_pct": round(other_user / wall * 100, 1),
                           "kernel_threads_pct": round(kernel / wall * 100, 1), "machine_busy_pct_before": busy_before}
                    ours_report = (await http.get(f"{our_url}/_bench/setup", params={"reset": 1})).json()
                    ours_calls = [c for c in ours_report["calls"] if c["channel"] not in seen]
                    fake_calls = [c for c in (await http.get(f"{fake_url}/_bench/setup")).json()["calls"]
                                  if c["channel"] not in seen]
                    seen |= {c["channel"] for c in fake_calls} | {c["channel"] for c in ours_calls}
                    r = {"rate": rate, "placed": n, "inside_server_ms": split(ours_calls), "at_fake_ms": split(fake_calls),
                         "runs": outcomes(db, {c["channel"] for c in fake_calls}), "cpu": cpu,
                         "steps_inside_server_ms": ours_report["steps_ms"]}
                    results.append(r)
                    s, f = r["inside_server_ms"], r["at_fake_ms"]
                    print(f"{rate:>5.0f} calls/s  {n:>4} calls  bridged {s['bridged']['n']:>4}  refused {s['refused']['n']:>4}  "
                          f"neither {s['neither']:>3} | inside server p50 {s['bridged']['p50']} p99 {s['bridged']['p99']} "
                          f"max {s['bridged']['max']} ms | at fake p50 {f['bridged']['p50']} p99 {f['bridged']['p99']} "
                          f"max {f['bridged']['max']} ms | refusal p50 {s['refused']['p50']} p99 {s['refused']['p99']} ms"
                          f" | runs {r['runs']} | CPU {cpu}", flush=True)
                    for step, st in ours_report["steps_ms"].items():
                        print(f"        {step:<32} p50 {st['p50']} p99 {st['p99']} max {st['max']} ms (n={st['n']})", flush=True)
                    await asyncio.sleep(1.0)
        finally:
            if fake is not None:
                fake.stop()
            server.stop()
    path = write_result("call_setup", {"benchmark": "call_setup", "machine": machine(), "args": vars(args),
                                       "results": results,
                                       "loadavg_at_end": Path("/proc/loadavg").read_text().split()[:3]})
    print(f"result: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
