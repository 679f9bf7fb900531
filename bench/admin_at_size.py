"""The admin at size: 1,000 configurations, 10,000 phone numbers, 100,000 runs (with 2 events
each) in one organisation, 50 workflows. Measures p50/p95 of the HTML list, detail and calls pages
(logged in) and of the JSON API list endpoints, in process (httpx ASGITransport, no network), plus
the two quota queries every inbound call runs before it is answered.

The data goes in with executemany in one transaction (about 10 s); runs spread over 90 days, with
statuses and directions mixed like a busy PBX.

    python bench/admin_at_size.py                      # 30 requests per endpoint
    python bench/admin_at_size.py --requests 100 --configs 1000 --numbers-per-config 10 --runs 100000
"""
from __future__ import annotations

import argparse
import asyncio
import json
import random
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx  # noqa: E402

from bench._common import machine, summary, write_result  # noqa: E402

STATUSES = ["completed"] * 80 + ["failed"] * 10 + ["rejected"] * 7 + ["no-answer"] * 2 + ["busy"]
EMAIL, PASSWORD = "admin@example.com", "bench-password-1"


def fill(db: Path, org: int, args: argparse.Namespace, template_config_id: int) -> dict[str, Any]:
    rng = random.Random(8)
    conn = sqlite3.connect(db, isolation_level=None)
    started = time.monotonic()
    try:
        enc = conn.execute("SELECT app_password_enc FROM telephony_configurations WHERE id = ?",
                           (template_config_id,)).fetchone()[0]
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany("INSERT INTO workflows (organization_id, name, definition) VALUES (?,?,?)",
                         [(org, f"Workflow {i:03d}", json.dumps({"greeting": f"Hello {i}"})) for i in range(args.workflows)])
        workflows = [r[0] for r in conn.execute("SELECT id FROM workflows WHERE organization_id = ?", (org,))]
        conn.executemany(
            """INSERT INTO telephony_configurations (organization_id, name, ari_endpoint_url, stasis_app_name,
            ari_username, app_password_enc, websocket_client_name) VALUES (?,?,?,?,?,?,?)""",
            [(org, f"PBX {i:04d}", f"http://pbx{i:04d}.example.net:8088", f"app{i}", "ari", enc, "dograh")
             for i in range(args.configs - 1)])
        configs = [r[0] for r in conn.execute("SELECT id FROM telephony_configurations WHERE organization_id = ?", (org,))]
        numbers = []
        for config_id in configs:
            for k in range(args.numbers_per_config):
                numbers.append((org, config_id, f"+1555{config_id:05d}{k:02d}", f"line {k}", rng.choice(workflows)))
        conn.executemany("""INSERT OR IGNORE INTO phone_numbers (organization_id, telephony_configuration_id, address, label,
            inbound_workflow_id) VALUES (?,?,?,?,?)""", numbers)
        number_rows = conn.execute("SELECT id, telephony_configuration_id, address, inbound_workflow_id FROM phone_numbers").fetchall()
        now = time.time()
        runs = []
        for i in range(args.runs):
            number_id, config_id, address, workflow_id = rng.choice(number_rows)
            created = now - 90 * 86400 * (1 - i / args.runs)  # ascending with the id, like real inserts
            status = rng.choice(STATUSES)
            answered = status in ("completed", "failed")
            duration = rng.uniform(5, 600) if answered else 0.0
            ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created)) + ".000Z"
            end = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created + duration + 1)) + ".000Z"
            direction = "inbound" if rng.random() < 0.8 else "outbound"
            caller = f"+1444{rng.randrange(10**7):07d}"
            context = json.dumps({"caller_number": caller, "called_number": address, "direction": direction})
            runs.append((org, workflow_id, config_id, number_id, direction, status,
                         None if status == "completed" else f"{status} reason", None if status == "completed" else f"{status}-id",
                         f"{int(created)}.{i}", caller, address, context, ts, ts if answered else None, end, duration))
        conn.executemany("""INSERT INTO workflow_runs (organization_id, workflow_id, telephony_configuration_id,
            phone_number_id, direction, status, reason, error_id, call_id, caller_number, called_number, context,
            created_at, answered_at, ended_at, duration_s) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)""", runs)
        run_ids = [r[0] for r in conn.execute("SELECT id FROM workflow_runs")]
        events = []
        for run_id in run_ids:
            events.append((run_id, "transcript", "agent", "Hello, how can I help you today?", "{}"))
            events.append((run_id, "transcript", "caller", "I would like to check my order.", "{}"))
        conn.executemany("INSERT INTO run_events (run_id, kind, role, text, data) VALUES (?,?,?,?,?)", events)
        conn.execute("COMMIT")
        counts = {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                  for t in ("telephony_configurations", "phone_numbers", "workflow_runs", "run_events", "workflows")}
    finally:
        conn.close()
    return counts | {"fill_s": round(time.monotonic() - started, 1), "db_mb": round(db.stat().st_size / 2**20, 1)}


async def measure(client: httpx.AsyncClient, url: str, n: int, headers: dict[str, str] | None = None) -> dict[str, Any]:
    for _ in range(3):  # warm-up
        response = await client.get(url, headers=headers)
        assert response.status_code == 200, (url, response.status_code, response.text[:300])
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        response = await client.get(url, headers=headers)
        times.append((time.perf_counter() - t0) * 1000)
        assert response.status_code == 200, (url, response.status_code)
    return summary(times) | {"bytes": len(response.content)}


async def time_call(fn: Any, n: int) -> dict[str, Any]:
    await fn()
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        await fn()
        times.append((time.perf_counter() - t0) * 1000)
    return summary(times, 3)


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=30, help="timed requests per endpoint")
    parser.add_argument("--configs", type=int, default=1000)
    parser.add_argument("--numbers-per-config", type=int, default=10)
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--workflows", type=int, default=50)
    parser.add_argument("--keep", help="keep the database in this directory")
    args = parser.parse_args(argv)

    from app import create_app
    from data.configs import ConfigFields
    from web.accounts import create_api_key, create_organization
    from web.settings import Settings
    from web.state import app_state

    with tempfile.TemporaryDirectory(prefix="sb-admin-") as tmp:
        work = Path(args.keep or tmp)
        work.mkdir(parents=True, exist_ok=True)
        settings = Settings(db_path=work / "sb.db", secret_key="bench-admin-secret")
        app = create_app(settings, with_ari=False)
        async with app.router.lifespan_context(app):
            store = app_state(app).store
            user = await create_organization(store, "Big PBX operator", EMAIL, PASSWORD)
            org = user.organization_id
            key = await create_api_key(store, EMAIL)
            first = await store.configs.create(org, ConfigFields(
                "PBX main", "http://pbx.example.net:8088", "dograh", "ari", "pw", "dograh", (), "PJSIP/{number}",
                "from-internal", True))
            data = await asyncio.to_thread(fill, settings.db_path, org, args, first.id)
            print(f"filled: {data}", flush=True)
            configs = [c.id for c in await store.configs.list(org)]
            config_id = configs[len(configs) // 2]
            newest = (await store.runs.list(org, limit=1))[0].id
            middle = newest // 2
            transport = httpx.ASGITransport(app=app)
            results: dict[str, Any] = {}
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver",
                                         headers={"Origin": "http://testserver"}) as browser:
                login = await browser.post("/login", data={"email": EMAIL, "password": PASSWORD, "next": "/"})
                assert login.status_code == 303, login.text[:300]
                pages = {
                    "page: configurations list": "/telephony-configurations",
                    "page: configuration detail (10 numbers)": f"/telephony-configurations/{config_id}",
                    "page: workflows list": "/workflows",
                    "page: calls list (newest 50)": "/calls",
                    "page: calls, one configuration": f"/calls?telephony_configuration_id={config_id}",
                    "page: calls, status=busy (1 %)": "/calls?status=busy",
                    "page: calls, page in the middle": f"/calls?before_id={middle}",
                    "page: call detail": f"/calls/{middle}",
                }
                for name, url in pages.items():
                    results[name] = await measure(browser, url, args.requests)
                    print(f"{name:<48} {url:<60} {fmt(results[name])}", flush=True)
            bearer = {"Authorization": f"Bearer {key}"}
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as api:
                endpoints = {
                    "api: configurations list": "/api/v1/telephony-configurations",
                    "api: phone numbers of a configuration": f"/api/v1/telephony-configurations/{config_id}/phone-numbers",
                    "api: workflows list": "/api/v1/workflows",
                    "api: runs list (newest 50)": "/api/v1/workflow-runs",
                    "api: runs, one configuration": f"/api/v1/workflow-runs?telephony_configuration_id={config_id}",
                    "api: runs, status=busy": "/api/v1/workflow-runs?status=busy",
                    "api: runs, limit=500": "/api/v1/workflow-runs?limit=500",
                    "api: run detail": f"/api/v1/workflow-runs/{middle}",
                }
                for name, url in endpoints.items():
                    results[name] = await measure(api, url, args.requests, bearer)
                    print(f"{name:<48} {url:<60} {fmt(results[name])}", flush=True)
            results["quota: active calls (every inbound call)"] = await time_call(
                lambda: store.runs.active_count(org), args.requests)
            results["quota: minutes this month (every inbound call)"] = await time_call(
                lambda: store.runs.minutes_this_month(org), args.requests)
            for name in ("quota: active calls (every inbound call)", "quota: minutes this month (every inbound call)"):
                print(f"{name:<48} {'':<60} {fmt(results[name])}", flush=True)
            plans = query_plans(settings.db_path, org, config_id)
    path = write_result("admin_at_size", {"benchmark": "admin_at_size", "machine": machine(), "args": vars(args),
                                          "data": data, "results": results, "query_plans": plans,
                                          "loadavg_at_end": Path("/proc/loadavg").read_text().split()[:3]})
    print(f"result: {path}")
    return 0


def fmt(s: dict[str, Any]) -> str:
    return f"p50 {s['p50']:>8} ms  p95 {s['p95']:>8} ms" + (f"  {s['bytes']:>8} B" if "bytes" in s else "")


def query_plans(db: Path, org: int, config_id: int) -> dict[str, list[str]]:
    queries = {
        "runs newest": ("SELECT id FROM workflow_runs r WHERE r.organization_id = ? ORDER BY r.id DESC LIMIT 51", (org,)),
        "runs by configuration": ("SELECT id FROM workflow_runs r WHERE r.organization_id = ? AND "
                                  "r.telephony_configuration_id = ? ORDER BY r.id DESC LIMIT 51", (org, config_id)),
        "runs by status": ("SELECT id FROM workflow_runs r WHERE r.organization_id = ? AND r.status = ? "
                           "ORDER BY r.id DESC LIMIT 51", (org, "busy")),
        "active calls": ("SELECT count(*) FROM workflow_runs WHERE organization_id = ? AND ended_at IS NULL", (org,)),
        "minutes this month": ("SELECT coalesce(sum(duration_s), 0) FROM workflow_runs WHERE organization_id = ? "
                               "AND created_at >= strftime('%Y-%m-01T00:00:00Z', 'now')", (org,)),
    }
    conn = sqlite3.connect(db)
    try:
        return {name: [row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + sql, params)]
                for name, (sql, params) in queries.items()}
    finally:
        conn.close()


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
