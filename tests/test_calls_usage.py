"""Calls pages (filters, pages, the transcript, hang up, delete, the recording file), usage and
limits (UI and API), and the recording retention sweep, through the in-process client."""
from __future__ import annotations

import os
import re
import time

import httpx

from data.retention import sweep
from data.store import Store
from tests.conftest import Tenant
from tests.test_api import new_config, new_workflow

HX = {"HX-Request": "true"}


def rows(html: str) -> list[int]:
    return [int(i) for i in re.findall(r'<tr id="run-(\d+)"', html)]


async def make_run(store: Store, org_id: int, **fields: object) -> int:
    defaults: dict[str, object] = {"workflow_id": None, "direction": "inbound", "status": "completed"}
    run = await store.runs.create(org_id=org_id, **(defaults | fields))  # type: ignore[arg-type]
    return run.id


async def test_calls_list_filters_pages_and_polls(tenant: Tenant, other: Tenant, browser: httpx.AsyncClient,
                                                  store: Store) -> None:
    config, workflow = await new_config(tenant), await new_workflow(tenant)
    inbound = [await make_run(store, tenant.org_id) for _ in range(52)]
    outbound = await make_run(store, tenant.org_id, direction="outbound", status="busy",
                              telephony_configuration_id=config["id"], workflow_id=workflow["id"])
    live = await make_run(store, tenant.org_id, status="in_progress", caller_number="+15550100")
    foreign = await make_run(store, other.org_id)

    first = await browser.get("/calls")
    assert first.status_code == 200
    assert rows(first.text) == [live, outbound, *inbound[::-1][:48]]
    assert foreign not in rows(first.text)
    assert 'hx-trigger="every 2s"' in first.text
    older = re.search(r'href="(/calls\?before_id=\d+)" rel="next"', first.text)
    assert older, "no link to older calls"
    second = await browser.get(older.group(1))
    assert rows(second.text) == inbound[::-1][48:] and "Newest calls" in second.text
    assert 'rel="next"' not in second.text

    # The live row has a Hang up button; the polled fragment is the rows alone.
    fragment = await browser.get("/calls", headers=HX)
    assert "<html" not in fragment.text and rows(fragment.text)[0] == live
    assert f'hx-post="/calls/{live}/hangup"' in fragment.text
    assert "hangup" not in fragment.text.split(f'id="run-{outbound}"')[1].split("</tr>")[0]

    async def listed(**params: str) -> list[int]:
        response = await browser.get("/calls", params=params)
        assert response.status_code == 200, response.text
        return rows(response.text)

    assert await listed(direction="outbound") == [outbound]
    assert await listed(status="busy", telephony_configuration_id=str(config["id"])) == [outbound]
    assert await listed(workflow_id=str(workflow["id"])) == [outbound]
    assert await listed(status="in_progress") == [live]
    assert await listed(since="2000-01-01", until="2000-12-31") == []
    today = time.strftime("%Y-%m-%d", time.gmtime())
    assert len(await listed(since=today, until=today)) == 50  # a day filter includes the whole day
    filtered = await browser.get("/calls", params={"direction": "outbound"})
    assert 'hx-get="/calls?direction=outbound"' in filtered.text  # the poll keeps the filters

    bad = await browser.get("/calls", params={"since": "yesterday", "status": "happy"})
    assert bad.status_code == 422 and 'aria-invalid="true"' in bad.text and rows(bad.text) == []
    api = await tenant.api.get("/api/v1/workflow-runs", params={"until": "soon"})
    assert api.status_code == 422 and "until" in api.json()["error"]["fields"]
    assert [r["id"] for r in (await tenant.api.get("/api/v1/workflow-runs",
                                                   params={"since": today, "direction": "outbound"})).json()["items"]] \
        == [outbound]


async def test_call_page_transcript_hang_up_delete_and_recording(tenant: Tenant, other: Tenant,
                                                                 browser: httpx.AsyncClient, store: Store) -> None:
    run_id = await make_run(store, tenant.org_id, status="in_progress", call_id="1715000000.42",
                            caller_number="+15550123", called_number="8000")
    runs = store.runs
    await runs.add_event(run_id, "transcript", role="agent", text="Hello, how can I help?",
                         data={"interrupted": True, "said": "Hello, how can I help?", "heard_s": 1.24})
    await runs.add_event(run_id, "transcript", role="caller", text="Opening hours <please>", data={"stt_ms": 80})
    await runs.add_event(run_id, "latency", data={"voice_to_voice_ms": 640, "stt_ms": 90, "reply_ms": 400})
    await runs.add_event(run_id, "latency", data={"ms": 1200})
    await runs.add_event(run_id, "dtmf", role="caller", text="5")
    await runs.add_event(run_id, "action", role="agent", text="transfer to 6001", data={"action": "transfer"})
    await runs.add_event(run_id, "error", text="the LLM did not answer", data={"error_id": "llm-timeout"})

    page = await browser.get(f"/calls/{run_id}")
    text = page.text
    assert page.status_code == 200 and "1715000000.42" in text and "+15550123" in text
    assert "interrupted after 1.2 s" in text and "Opening hours &lt;please&gt;" in text
    assert "pressed 5" in text and "transfer to 6001" in text and "llm-timeout" in text
    assert "640 ms" in text and "median 920 ms, worst 1200 ms over 2 turns" in text
    assert 'hx-trigger="every 1s"' in text and f'hx-post="/calls/{run_id}/hangup"' in text
    fragment = await browser.get(f"/calls/{run_id}", headers=HX)
    assert fragment.text.lstrip().startswith('<div id="call-live"')

    # No ARI in this app: the call is not live here, and the page says so instead of pretending.
    hang = await browser.post(f"/calls/{run_id}/hangup", headers=HX)
    assert hang.status_code == 409 and "not-live-here" in hang.text
    live_delete = await browser.post(f"/calls/{run_id}/delete")
    assert live_delete.status_code == 409

    # Ended, with a recording: no more polling; the file plays (ranges) and downloads.
    recordings = store.db.path.parent / "recordings"
    recordings.mkdir()
    wav = recordings / f"run-{run_id}.wav"
    wav.write_bytes(b"RIFF" + bytes(range(256)) * 4)
    await runs.set_recording(run_id, wav.name, 1.5)
    await runs.finish(run_id, "completed", "caller hung up")
    ended = (await browser.get(f"/calls/{run_id}")).text
    assert "every 1s" not in ended and f'src="/calls/{run_id}/recording"' in ended and "Delete" in ended
    played = await browser.get(f"/calls/{run_id}/recording", headers={"Range": "bytes=4-7"})
    assert played.status_code == 206 and played.content == bytes(range(4))
    assert played.headers["content-type"] == "audio/wav"
    download = await browser.get(f"/calls/{run_id}/recording", params={"download": "1"})
    assert download.status_code == 200 and "attachment" in download.headers["content-disposition"]
    assert (await other.api.get(f"/api/v1/workflow-runs/{run_id}/recording")).status_code == 404
    assert (await tenant.api.get(f"/api/v1/workflow-runs/{run_id}")).json()["recording_s"] == 1.5

    deleted = await browser.post(f"/calls/{run_id}/delete")
    assert deleted.status_code == 303 and deleted.headers["location"] == f"/calls?deleted={run_id}"
    assert not wav.exists() and await runs.get(tenant.org_id, run_id) is None
    assert await store.db.fetch_value("SELECT count(*) FROM run_events WHERE run_id = ?", (run_id,)) == 0
    assert (await browser.get(f"/calls/{run_id}")).status_code == 404


async def test_usage_and_limits_ui_and_api(tenant: Tenant, browser: httpx.AsyncClient, store: Store) -> None:
    await make_run(store, tenant.org_id, status="in_progress")
    ended = await make_run(store, tenant.org_id, status="in_progress")
    await store.db.execute("UPDATE workflow_runs SET answered_at = strftime('%Y-%m-%dT%H:%M:%fZ','now','-90 seconds') "
                           "WHERE id = ?", (ended,))
    await store.runs.finish(ended, "completed", "done")
    usage = (await tenant.api.get("/api/v1/organization/usage")).json()
    assert usage["month"] == time.strftime("%Y-%m", time.gmtime())
    assert abs(usage["minutes_this_month"] - 1.5) < 0.05
    assert (usage["concurrent_calls"], usage["max_concurrent_calls"], usage["monthly_minutes_limit"]) == (1, 10, None)

    changed = await tenant.api.patch("/api/v1/organization/limits", json={"monthly_minutes": 600})
    assert changed.json() == {"max_concurrent_calls": 10, "monthly_minutes": 600, "recording_retention_days": None}
    for body, field in (({"max_concurrent_calls": -1}, "max_concurrent_calls"),
                        ({"max_concurrent_calls": 2.5}, "max_concurrent_calls"),
                        ({"max_concurrent_calls": None}, "max_concurrent_calls"),
                        ({"monthly_minutes": "lots"}, "monthly_minutes"),
                        ({"recording_retention_days": 0}, "recording_retention_days"),
                        ({"recording_retention_days": True}, "recording_retention_days"),
                        ({"max_calls": 3}, "max_calls")):
        refused = await tenant.api.put("/api/v1/organization/limits", json=body)
        assert refused.status_code == 422 and field in refused.json()["error"]["fields"], body
    assert (await tenant.api.get("/api/v1/organization/limits")).json()["monthly_minutes"] == 600

    page = await browser.get("/organization")
    assert page.status_code == 200 and 'id="minutes-limit">600<' in page.text and 'id="calls-now">1<' in page.text
    invalid = await browser.post("/organization/limits", headers=HX, data={
        "max_concurrent_calls": "many", "monthly_minutes": "", "recording_retention_days": "30"})
    assert invalid.status_code == 422 and 'name="max_concurrent_calls" value="many"' in invalid.text
    assert re.search(r'id="f-max_concurrent_calls"[^>]*aria-invalid="true"', invalid.text)
    saved = await browser.post("/organization/limits", headers=HX, data={
        "max_concurrent_calls": "3", "monthly_minutes": "", "recording_retention_days": "30"})
    assert saved.status_code == 200 and "Saved." in saved.text
    org = await store.accounts.organization(tenant.org_id)
    assert org is not None and (org.max_concurrent_calls, org.monthly_minutes, org.recording_retention_days) == (3, None, 30)
    plain = await browser.post("/organization/limits", data={
        "max_concurrent_calls": "4", "monthly_minutes": "100", "recording_retention_days": ""})
    assert plain.status_code == 303 and plain.headers["location"] == "/organization?saved=1"
    polled = await browser.get("/organization", headers=HX)
    assert polled.text.lstrip().startswith('<section class="card" id="usage"') and 'id="calls-limit">4<' in polled.text


async def test_retention_sweep_removes_expired_and_orphan_recordings(tenant: Tenant, other: Tenant,
                                                                     store: Store) -> None:
    directory = store.db.path.parent / "recordings"
    directory.mkdir()
    old, fresh, forever = (await make_run(store, tenant.org_id), await make_run(store, tenant.org_id),
                           await make_run(store, other.org_id))
    for run_id in (old, fresh, forever):
        (directory / f"run-{run_id}.wav").write_bytes(b"RIFF")
        await store.runs.set_recording(run_id, f"run-{run_id}.wav", 1.0)
    await store.accounts.set_recording_retention(tenant.org_id, 7)
    await store.db.execute("UPDATE workflow_runs SET created_at = strftime('%Y-%m-%dT%H:%M:%fZ','now','-8 days') "
                           "WHERE id IN (?, ?)", (old, forever))
    orphan, young_orphan, stale_part = directory / "run-999.wav", directory / "run-998.wav", directory / "run-997.wav.part"
    for path in (orphan, young_orphan, stale_part):
        path.write_bytes(b"x")
    ancient = time.time() - 3 * 86400
    os.utime(orphan, (ancient, ancient))
    os.utime(stale_part, (ancient, ancient))

    report = await sweep(store.db)
    assert (report.expired, report.orphans) == (1, 2)
    assert sorted(p.name for p in directory.iterdir()) == sorted(
        [f"run-{fresh}.wav", f"run-{forever}.wav", young_orphan.name])
    expired = await store.runs.get(tenant.org_id, old)
    assert expired is not None and expired.recording_path is None  # the run and its transcript stay
    assert (await sweep(store.db)).expired == 0
