"""The data layer on a real SQLite file: transactions, repositories, scoping, secrets."""
from __future__ import annotations

import asyncio
import os
import sqlite3
import stat
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from data.configs import ConfigFields
from data.db import Database
from data.errors import Conflict, SecretKeyError
from data.secretbox import SecretBox
from data.store import Store


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    """The store alone, without the web app (overrides the conftest fixture)."""
    s = await Store.open(tmp_path / "switchboard.db", "test-key")
    yield s
    await s.close()


async def org(store: Store, name: str = "Acme") -> int:
    organization, _ = await store.accounts.create_organization_with_admin(name, f"{name}@example.com", "hash")
    return organization.id


def fields(**overrides: object) -> ConfigFields:
    values: dict[str, object] = dict(
        name="PBX", ari_endpoint_url="http://pbx:8088", stasis_app_name="dograh", ari_username=None,
        app_password="pw", websocket_client_name="dograh", from_extensions=("PJSIP/6001",),
        dial_template="PJSIP/{number}", transfer_context="from-internal", enabled=True)
    return ConfigFields(**(values | overrides))  # type: ignore[arg-type]


# Transactions ----------------------------------------------------------------------------------

async def test_transaction_rolls_back_and_fires_callbacks_only_after_commit(store: Store) -> None:
    fired: list[str] = []

    async def note() -> None:
        # The callback sees the committed row through the reader connection.
        fired.append(await store.db.fetch_value("SELECT name FROM organizations ORDER BY id DESC LIMIT 1"))

    with pytest.raises(RuntimeError):
        async with store.db.transaction() as tx:
            await tx.execute("INSERT INTO organizations (name) VALUES ('lost')")
            tx.after_commit(note)
            raise RuntimeError("boom")
    assert fired == [] and await store.db.fetch_value("SELECT count(*) FROM organizations") == 0

    async with store.db.transaction() as tx:
        await tx.execute("INSERT INTO organizations (name) VALUES ('kept')")
        tx.after_commit(note)
        assert fired == []
    assert fired == ["kept"]


async def test_reads_see_writes_committed_before_them(store: Store) -> None:
    """Read-your-writes while other tasks keep the one reader connection busy: create() reads its
    new row back, which must never come back missing."""
    org_id = await org(store)

    async def keep_reading() -> None:
        while True:
            await store.workflows.list(org_id)

    readers = [asyncio.create_task(keep_reading()) for _ in range(3)]
    try:
        for _ in range(4):
            created = await asyncio.gather(*(store.workflows.create(org_id, f"w{i}", {}) for i in range(50)))
            assert all(await asyncio.gather(*(store.workflows.get(org_id, w.id) for w in created)))
    finally:
        for task in readers:
            task.cancel()
        await asyncio.gather(*readers, return_exceptions=True)


async def test_concurrent_writes_are_serialised(store: Store) -> None:
    org_id = await org(store)
    names = [f"w{i}" for i in range(40)]
    created = await asyncio.gather(*(store.workflows.create(org_id, n, {"greeting": n}) for n in names))
    assert sorted(w.name for w in created) == sorted(names)
    assert len({w.id for w in created}) == len(names)

    async def bump(tx_id: int) -> None:
        async with store.db.transaction() as tx:
            row = await tx.fetch_one("SELECT max_concurrent_calls FROM organizations WHERE id = ?", (org_id,))
            assert row is not None
            await asyncio.sleep(0)  # let the others try to interleave
            await tx.execute("UPDATE organizations SET max_concurrent_calls = ? WHERE id = ?",
                             (row[0] + 1, org_id))

    await asyncio.gather(*(bump(i) for i in range(25)))
    organization = await store.accounts.organization(org_id)
    assert organization is not None and organization.max_concurrent_calls == 10 + 25


async def test_foreign_keys_are_enforced(store: Store) -> None:
    with pytest.raises(sqlite3.IntegrityError):
        await store.db.execute("INSERT INTO workflows (organization_id, name) VALUES (999, 'x')")


# Accounts --------------------------------------------------------------------------------------

async def test_accounts(store: Store) -> None:
    assert await store.accounts.user_count() == 0
    organization, user = await store.accounts.create_organization_with_admin("Acme", "Boss@Example.com", "h")
    assert (organization.max_concurrent_calls, organization.monthly_minutes) == (10, None)
    with pytest.raises(Conflict) as caught:
        await store.accounts.create_organization_with_admin("Other", "boss@example.com", "h")
    assert caught.value.field == "email"
    assert [o.name for o in await store.accounts.organizations()] == ["Acme"]  # nothing half-created
    found = await store.accounts.user_with_hash("BOSS@example.com")
    assert found is not None and found[0] == user and found[1] == "h"

    await store.accounts.add_api_key(user.id, "abcd1234", "hash-of-key", "ci")
    assert await store.accounts.api_key("abcd1234") == (user, "hash-of-key")
    assert await store.accounts.api_key("zzzz9999") is None
    await store.accounts.set_limits(organization.id, 3, 600)
    limited = await store.accounts.organization(organization.id)
    assert limited is not None and (limited.max_concurrent_calls, limited.monthly_minutes) == (3, 600)


# Configurations and numbers --------------------------------------------------------------------

async def test_configs_are_scoped_and_unique(store: Store) -> None:
    a, b = await org(store, "A"), await org(store, "B")
    config = await store.configs.create(a, fields())
    assert config.username == "dograh" and config.from_extensions == ("PJSIP/6001",)
    assert await store.configs.get(b, config.id) is None
    assert await store.configs.update(b, config.id, fields(name="Hijack")) is None
    assert await store.configs.delete(b, config.id) is False
    assert (await store.configs.get(a, config.id)) == config
    assert [c.id for c in await store.configs.all()] == [config.id]

    with pytest.raises(Conflict) as caught:
        await store.configs.create(b, fields())
    assert caught.value.field == "stasis_app_name"
    second = await store.configs.create(a, fields(stasis_app_name="other"))
    with pytest.raises(Conflict):
        await store.configs.update(a, second.id, fields(stasis_app_name="dograh"))
    assert (await store.configs.get(a, second.id)).stasis_app_name == "other"  # type: ignore[union-attr]

    updated = await store.configs.update(a, config.id, fields(name="Renamed", ari_username="ari", app_password=None))
    assert updated is not None and updated.name == "Renamed" and updated.username == "ari"
    assert await store.configs.ari_password(config.id) == "pw"
    assert await store.configs.delete(a, config.id) is True
    assert await store.configs.get(a, config.id) is None
    assert await store.configs.ari_password(config.id) == ""


async def test_password_needs_the_same_key(tmp_path: Path) -> None:
    path = tmp_path / "switchboard.db"
    store = await Store.open(path, "key-one")
    config = await store.configs.create(await org(store), fields(app_password="p&#:%"))
    await store.close()
    store = await Store.open(path, "key-two")
    try:
        with pytest.raises(ValueError, match="secret key changed"):
            await store.configs.ari_password(config.id)
    finally:
        await store.close()


def test_secret_box_key_file(tmp_path: Path) -> None:
    box = SecretBox.load(tmp_path / "data")
    key_file = tmp_path / "data" / "secret.key"
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    token = box.encrypt("p&#:% ☎")
    assert token != box.encrypt("p&#:% ☎")  # random IV
    assert SecretBox.load(tmp_path / "data").decrypt(token) == "p&#:% ☎"  # the same key is reused
    assert SecretBox.load(tmp_path / "data", "env-key").session_key != box.session_key
    with pytest.raises(ValueError):
        SecretBox(b"another key").decrypt(token)


async def test_phone_numbers(store: Store) -> None:
    a, b = await org(store, "A"), await org(store, "B")
    config = await store.configs.create(a, fields())
    other_config = await store.configs.create(a, fields(stasis_app_name="two"))
    workflow = await store.workflows.create(a, "Sales", {"greeting": "hi"})
    number = await store.numbers.create(a, config.id, "8000", "Front", workflow.id)
    assert number.inbound_workflow_name == "Sales"
    assert await store.numbers.find(config.id, "8000") == number
    assert await store.numbers.find(other_config.id, "8000") is None
    assert (await store.numbers.create(a, other_config.id, "8000", "", None)).address == "8000"

    with pytest.raises(Conflict) as caught:
        await store.numbers.create(a, config.id, "8000", "", None)
    assert caught.value.field == "address"
    with pytest.raises(Conflict) as caught:
        await store.numbers.create(a, config.id, "8001", "", 987654)
    assert caught.value.field == "inbound_workflow_id"
    second = await store.numbers.create(a, config.id, "8001", "", None)
    with pytest.raises(Conflict):
        await store.numbers.update(a, config.id, second.id, "8000", "", None)

    assert await store.numbers.get(b, config.id, number.id) is None
    assert await store.numbers.get(a, other_config.id, number.id) is None
    assert await store.numbers.update(b, config.id, number.id, "9", "", None) is None
    assert await store.numbers.delete(b, config.id, number.id) is False
    assert [n.id for n in await store.numbers.using_workflow(a, workflow.id)] == [number.id]
    assert await store.numbers.using_workflow(b, workflow.id) == []
    assert (await store.configs.get(a, config.id)).phone_number_count == 2  # type: ignore[union-attr]
    assert await store.numbers.delete(a, config.id, number.id) is True
    assert [n.address for n in await store.numbers.list(a, config.id)] == ["8001"]


# Workflows -------------------------------------------------------------------------------------

async def test_workflows(store: Store) -> None:
    a, b = await org(store, "A"), await org(store, "B")
    workflow = await store.workflows.create(a, "Sales", {"greeting": "hi", "nested": {"x": [1, "☎"]}})
    assert workflow.greeting == "hi" and workflow.definition["nested"] == {"x": [1, "☎"]}
    assert await store.workflows.get(b, workflow.id) is None
    assert await store.workflows.update(b, workflow.id, "x", {}) is None
    assert await store.workflows.delete(b, workflow.id) is False
    updated = await store.workflows.update(a, workflow.id, "Renamed", {"greeting": "yo"})
    assert updated is not None and updated.name == "Renamed" and updated.greeting == "yo"

    config = await store.configs.create(a, fields())
    n1 = await store.numbers.create(a, config.id, "8123", "", workflow.id)
    await store.numbers.create(a, config.id, "8000", "", workflow.id)
    with pytest.raises(Conflict) as caught:
        await store.workflows.delete(a, workflow.id)
    assert "8000, 8123" in caught.value.message
    assert await store.workflows.get(a, workflow.id) is not None
    await store.numbers.update(a, config.id, n1.id, "8123", "", None)
    await store.configs.delete(a, config.id)
    assert await store.workflows.delete(a, workflow.id) is True


# Runs ------------------------------------------------------------------------------------------

async def test_runs_lifecycle(store: Store) -> None:
    a, b = await org(store, "A"), await org(store, "B")
    workflow = await store.workflows.create(a, "Sales", {})
    config = await store.configs.create(a, fields())
    number = await store.numbers.create(a, config.id, "8000", "", None)
    run = await store.runs.create(org_id=a, workflow_id=workflow.id, direction="inbound", status="ringing",
                                  telephony_configuration_id=config.id, phone_number_id=number.id,
                                  caller_number="+1555", called_number="8000", context={"direction": "inbound"})
    assert (run.workflow_name, run.configuration_name, run.ended_at, run.duration_s) == ("Sales", "PBX", None, None)
    assert await store.runs.active_count(a) == 1 and await store.runs.active_count(b) == 0
    assert await store.runs.get(b, run.id) is None

    await store.runs.set_call(run.id, "chan-1")
    await store.runs.set_status(run.id, "in_progress", answered=True)
    answered = await store.runs.get(a, run.id)
    assert answered is not None and answered.status == "in_progress" and answered.answered_at
    assert answered.call_id == "chan-1"

    assert await store.runs.finish(run.id, "completed", "caller hung up", hangup_cause="16") is True
    assert await store.runs.finish(run.id, "failed", "late") is False  # ends once
    await store.runs.set_status(run.id, "in_progress")  # no effect after the end
    done = await store.runs.get(a, run.id)
    assert done is not None and (done.status, done.reason, done.hangup_cause) == ("completed", "caller hung up", "16")
    assert done.ended_at and done.duration_s is not None and done.duration_s >= 0
    assert await store.runs.active_count(a) == 0
    assert await store.runs.minutes_this_month(a) == pytest.approx(done.duration_s / 60)

    refused = await store.runs.create(org_id=a, workflow_id=None, direction="inbound", status="rejected",
                                      reason="over quota", error_id="quota")
    assert refused.ended_at and refused.duration_s == 0

    # Deleting what a run points at keeps the run (history) and clears the link.
    await store.configs.delete(a, config.id)
    await store.workflows.delete(a, workflow.id)
    kept = await store.runs.get(a, run.id)
    assert kept is not None and (kept.workflow_id, kept.telephony_configuration_id, kept.phone_number_id) == (
        None, None, None)


async def test_runs_events_and_restart_cleanup(store: Store) -> None:
    a = await org(store)
    open_runs = [await store.runs.create(org_id=a, workflow_id=None, direction="outbound", status=s)
                 for s in ("queued", "ringing", "in_progress")]
    finished = await store.runs.create(org_id=a, workflow_id=None, direction="test", status="completed")
    await store.runs.add_event(open_runs[0].id, "transcript", role="agent", text="Hello", data={"n": 1})
    await store.runs.add_event(open_runs[0].id, "hangup")
    events = await store.runs.events(open_runs[0].id)
    assert [(e.kind, e.role, e.text, e.data) for e in events] == [
        ("transcript", "agent", "Hello", {"n": 1}), ("hangup", None, None, {})]

    assert await store.runs.finish_all_open("failed", "server restarted", "server-restarted") == 3
    for run in open_runs:
        after = await store.runs.get(a, run.id)
        assert after is not None and (after.status, after.error_id) == ("failed", "server-restarted")
    unchanged = await store.runs.get(a, finished.id)
    assert unchanged is not None and unchanged.status == "completed"
    assert await store.runs.finish_all_open("failed", "again", "x") == 0


async def test_database_close_and_reopen(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "x.db")
    await db.execute("INSERT INTO organizations (name) VALUES ('A')")
    await db.close()
    db = await Database.open(tmp_path / "x.db")
    try:
        assert await db.fetch_value("SELECT name FROM organizations") == "A"
    finally:
        await db.close()


async def test_failed_commit_leaves_no_open_transaction(store: Store) -> None:
    fired: list[bool] = []

    async def note() -> None:
        fired.append(True)

    with pytest.raises(sqlite3.IntegrityError):
        async with store.db.transaction() as tx:
            await tx.execute("PRAGMA defer_foreign_keys = ON")
            await tx.execute("INSERT INTO workflows (organization_id, name) VALUES (999, 'orphan')")
            tx.after_commit(note)
    assert fired == []
    org_id = await org(store)  # the writer is usable again
    assert await store.db.fetch_value("SELECT count(*) FROM workflows WHERE name = 'orphan'") == 0
    assert org_id > 0


def test_empty_secret_key_file_is_refused(tmp_path: Path) -> None:
    from tests.test_migrations import cli

    (tmp_path / "secret.key").write_bytes(b"\n")
    with pytest.raises(SecretKeyError, match="is empty"):
        SecretBox.load(tmp_path)
    result = cli(tmp_path / "switchboard.db", "create-api-key", "--email", "a@example.com")
    assert result.returncode != 0 and "secret-key-invalid" in result.stderr and "Traceback" not in result.stderr
