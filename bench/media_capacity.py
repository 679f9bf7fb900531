"""Media plane capacity: N simultaneous calls, every caller streaming µ-law at 50 frames/s and the
agent speaking continuously (a pre-rendered tone agent, so only the media plane is measured).

Three processes on loopback: our server (bench/_server_proc.py: the real app, one uvicorn worker),
the fake Asterisk (bench/_fake_proc.py) and this driver. The fake runs in its own process so that
its CPU is not ours; by default each is pinned to its own core (`taskset`), which is what a 2-core
box gives a one-worker Switchboard next to its load generator.

Per N it reports, over a steady-state window after every call is up:
- playout underruns: timeslots in which the fake's playout queue was empty although our agent was
  speaking (it always is), summed over calls, and how many calls had any;
- outbound frame timing jitter: for consecutive media messages from us, |Δt − 20 ms × frames in the
  previous message| at the fake, p50/p99/max;
- CPU % of our process (100 % = one core), and of the fake; event-loop lag in our process;
- RSS per call ((RSS with N calls up − RSS before any call) / N);
- dropped frames: ours → Asterisk (whole messages refused on a full queue, bytes of partial
  frames), Asterisk → us (frames the fake sent minus frames our agent received, over whole calls).
It stops at the first N with underruns or our CPU at ≥ 95 % (saturated), then bisects between the
last clean N and that one to find the largest N with zero underruns.

    python bench/media_capacity.py                  # N = 50, 200, 500, 1000, then bisect
    python bench/media_capacity.py --n 50 200       # just these
"""
from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx  # noqa: E402

from bench._common import (  # noqa: E402
    APP, Proc, cpu_seconds, free_port, machine, others_cpu, process_cpu, rss_bytes, seed, start, wait_quiet,
    write_result,
)

DEFAULT_NS = [50, 200, 500, 1000]
CPU_SATURATED = 95.0


async def wait_until(fetch: Any, predicate: Any, timeout: float, interval: float = 0.25) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = await fetch()
        if predicate(value):
            return value
        if time.monotonic() > deadline:
            return value
        await asyncio.sleep(interval)


async def run_n(n: int, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    """Measure N, again (up to --retries times) when other work on the machine disturbed the window."""
    for attempt in range(args.retries + 1):
        busy_before = await wait_quiet(args.quiet, args.quiet_timeout) if args.quiet > 0 else None
        result = await run_n_once(n, args, workdir / f"a{attempt}")
        result["machine_busy_pct_before"] = busy_before
        result["attempt"] = attempt + 1
        if not result.get("disturbed"):
            break
        print(line(result) + "  (disturbed by other work: measuring again)", flush=True)
    return result


async def run_n_once(n: int, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    fake_port, server_port = free_port(), free_port()
    db = workdir / f"n{n}" / "sb.db"
    db.parent.mkdir(parents=True, exist_ok=True)
    await seed(db, f"http://127.0.0.1:{fake_port}", max_calls=n + 10)
    pin = not args.no_pin
    extra = (["--lead", str(args.lead)] if args.lead is not None else []) + (["--gc-freeze"] if args.gc_freeze else [])
    server = await start("server", ["bench/_server_proc.py", "--db", str(db), "--port", str(server_port), *extra],
                         workdir / f"n{n}" / "server.log", cpu=0 if pin else None)
    fake: Proc | None = None
    try:
        fake = await start("fake", ["bench/_fake_proc.py", "--port", str(fake_port), "--ws-client",
                                    f"ws://127.0.0.1:{server_port}/api/v1/telephony/ws/ari"],
                           workdir / f"n{n}" / "fake.log", cpu=1 if pin else None)
        async with httpx.AsyncClient(timeout=60, trust_env=False) as http:
            fake_url, our_url = f"http://127.0.0.1:{fake_port}", f"http://127.0.0.1:{server_port}"

            async def progress() -> dict[str, Any]:
                return (await http.get(f"{fake_url}/_bench/progress")).json()

            async def ours() -> dict[str, Any]:
                return (await http.get(f"{our_url}/_bench/stats")).json()

            await wait_until(progress, lambda p: p["registered"], 20)
            await asyncio.sleep(1.0)  # idle baseline after start-up settles
            rss_idle = rss_bytes(server.pid)
            t_place = time.monotonic()
            await http.post(f"{fake_url}/_bench/place", json={"n": n, "rate": args.rate})
            up = await wait_until(progress, lambda p: p["bridged"] >= n and p["media_connected"] >= n,
                                  n / args.rate + 60)
            setup_s = time.monotonic() - t_place
            if up["bridged"] < n:
                return {"n": n, "error": f"only {up['bridged']} of {n} calls came up", "progress": up}
            await asyncio.sleep(args.warmup)
            await http.get(f"{our_url}/_bench/stats", params={"reset": 1})
            before_ours = await ours()
            await http.post(f"{fake_url}/_bench/window/start")
            c0, f0, t0 = cpu_seconds(server.pid), cpu_seconds(fake.pid), time.monotonic()
            p0 = process_cpu()
            await asyncio.sleep(args.window)
            c1, f1, t1 = cpu_seconds(server.pid), cpu_seconds(fake.pid), time.monotonic()
            p1 = process_cpu()
            rss_up = rss_bytes(server.pid)
            window = (await http.post(f"{fake_url}/_bench/window/stop")).json()
            after_ours = await ours()
            await http.post(f"{fake_url}/_bench/hangup_all")
            done = await wait_until(ours, lambda s: s["live_sessions"] == 0, 60)
            totals = (await http.get(f"{fake_url}/_bench/totals")).json()
        sent_to_us = totals["frames_to_app"]
        received = done["agent_received_ended"] + done["agent_received_live"]
        wall = t1 - t0
        our_cpu = (c1 - c0) / wall * 100
        fake_cpu = (f1 - f0) / wall * 100
        other_user, kernel = others_cpu(p0, p1, {server.pid, fake.pid, os.getpid()})
        others = other_user / wall * 100
        late = after_ours["live"]["late_frames"] - before_ours["live"]["late_frames"]
        result = {
            "n": n,
            "setup_s": round(setup_s, 2),
            "window_s": round(wall, 2),
            "underrun_frames": window["underrun_frames"],
            "calls_with_underruns": window["connections_with_underruns"],
            "longest_gap_frames": window["longest_gap_frames"],
            "frames_played": window["frames_played"],
            "expected_frames": window["expected_frames"],
            "jitter_ms": window["jitter_ms"],
            "our_cpu_pct": round(our_cpu, 1),
            "fake_cpu_pct": round(fake_cpu, 1),
            "other_processes_cpu_pct": round(others, 1),
            "kernel_threads_cpu_pct": round(kernel / wall * 100, 1),
            "our_loop_lag_ms": after_ours["loop_lag_ms"],
            "our_gc_pause_ms": after_ours["gc_pause_ms"],
            "our_gc_tracked_objects": after_ours["gc_tracked_objects"],
            "fake_loop_lag_ms": window["fake_loop_lag_ms"],
            "pacer_late_frames": late,
            "rss_idle_mb": round(rss_idle / 2**20, 1),
            "rss_mb": round(rss_up / 2**20, 1),
            "rss_per_call_kb": round((rss_up - rss_idle) / n / 1024, 1),
            "dropped_to_asterisk": {"messages_queue_full": window["dropped_messages_queue_full"],
                                    "partial_frame_bytes": window["partial_frame_bytes_dropped"]},
            "dropped_from_asterisk_frames": sent_to_us - received,
            "frames_from_asterisk": sent_to_us,
            "xoff": after_ours["live"]["xoff_count"],
            "bad_messages": after_ours["live"]["bad_messages"],
        }
        result["saturated"] = our_cpu >= CPU_SATURATED
        result["fake_saturated"] = fake_cpu >= CPU_SATURATED
        result["clean"] = window["underrun_frames"] == 0 and not result["saturated"]
        result["disturbed"] = others > args.max_others
        return result
    finally:
        if fake is not None:
            fake.stop()
        server.stop()


def line(r: dict[str, Any]) -> str:
    if "error" in r:
        return f"N={r['n']:>5}  ERROR {r['error']}"
    j = r["jitter_ms"]
    return (f"N={r['n']:>5}  underruns {r['underrun_frames']:>6} frames in {r['calls_with_underruns']:>4} calls  "
            f"jitter p50 {j['p50']} p99 {j['p99']} max {j['max']} ms  "
            f"CPU ours {r['our_cpu_pct']:>5.1f}% fake {r['fake_cpu_pct']:>5.1f}% others {r['other_processes_cpu_pct']:>5.1f}%  "
            f"loop lag p99/max ours {r['our_loop_lag_ms']['p99']}/{r['our_loop_lag_ms']['max']} "
            f"fake {r['fake_loop_lag_ms']['p99']}/{r['fake_loop_lag_ms']['max']} ms  "
            f"gc2 max {r['our_gc_pause_ms']['gen2']['max']} ms  RSS/call {r['rss_per_call_kb']} KiB  "
            f"dropped →A {r['dropped_to_asterisk']['messages_queue_full']} msgs/{r['dropped_to_asterisk']['partial_frame_bytes']} B, "
            f"A→ {r['dropped_from_asterisk_frames']} frames  {'clean' if r['clean'] else 'NOT CLEAN'}"
            f"{' (fake saturated)' if r.get('fake_saturated') else ''}")


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, nargs="+", default=DEFAULT_NS, help="call counts, in order")
    parser.add_argument("--rate", type=float, default=100.0, help="call arrivals per second while ramping up")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds after the last call is up")
    parser.add_argument("--window", type=float, default=10.0, help="seconds measured")
    parser.add_argument("--bisect", type=int, default=3, help="bisection steps after the first unclean N")
    parser.add_argument("--no-pin", action="store_true", help="do not pin server and fake to their own cores")
    parser.add_argument("--quiet", type=float, default=15.0,
                        help="before each N wait until the machine is below this busy %% (0: do not wait)")
    parser.add_argument("--quiet-timeout", type=float, default=300.0, help="longest wait for a quiet machine, s")
    parser.add_argument("--max-others", type=float, default=15.0,
                        help="other processes' CPU (%% of a core) above which a window counts as disturbed")
    parser.add_argument("--retries", type=int, default=2, help="measure a disturbed N again, at most this often")
    parser.add_argument("--keep", help="keep databases and process logs in this directory")
    parser.add_argument("--gc-freeze", action="store_true", help="what-if: gc.freeze() in our server after start-up")
    parser.add_argument("--lead", type=float, default=None,
                        help="what-if: our pacer's playout lead in seconds (default: MediaSession's own, 0.08)")
    args = parser.parse_args(argv)
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="sb-bench-") as tmp:
        workdir = Path(args.keep or tmp)
        clean_n, bad_n = 0, None
        for n in args.n:
            r = await run_n(n, args, workdir)
            results.append(r)
            print(line(r), flush=True)
            if r.get("clean"):
                clean_n = n
            else:
                bad_n = n
                break
        steps = 0
        while bad_n is not None and steps < args.bisect and bad_n - clean_n > max(10, clean_n // 10):
            mid = (clean_n + bad_n) // 2
            r = await run_n(mid, args, workdir)
            r["bisect"] = True
            results.append(r)
            print(line(r) + "  (bisect)", flush=True)
            if r.get("clean"):
                clean_n = mid
            else:
                bad_n = mid
            steps += 1
    largest = max((r["n"] for r in results if r.get("clean")), default=0)
    print(f"largest N with zero underruns (and our CPU < {CPU_SATURATED:.0f} %): {largest}"
          + (f"; first unclean N: {bad_n}" if bad_n is not None else "; no N tried was unclean"))
    path = write_result("media_capacity", {
        "benchmark": "media_capacity", "machine": machine(), "args": vars(args), "app": APP,
        "results": results, "largest_clean_n": largest, "first_unclean_n": bad_n,
        "loadavg_at_end": Path("/proc/loadavg").read_text().split()[:3],
    })
    print(f"result: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
