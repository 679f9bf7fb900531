"""HTML: the "Test call" dialog (configuration page, workflow page) and its live progress.

    GET  /test-call?telephony_configuration_id=&workflow_id=   the form (htmx: the dialog; else a page)
    POST /test-call                                             dial → progress (htmx) or 303 → result page
    GET  /test-call/{run_id}                                    progress; polls itself while the call is live
    POST /test-call/{run_id}/cancel                             hang up (canceled while ringing)

Without JavaScript the form posts normally and the result page refreshes itself while the call is
live (`<noscript>` meta refresh). The same checks and error ids as the JSON API.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from data.models import RunEvent, WorkflowRun
from web.auth import org_id, page
from web.errors import ApiError
from web.requests import form_values, path_id
from web.services import calls
from web.state import app_state
from web.telephony import CallRefused
from web.templating import is_htmx, path_for, redirect, render

POLL = "every 1s"


@dataclass(frozen=True)
class Step:
    id: str
    label: str
    state: str  # done | current | todo | skipped


def steps(run: WorkflowRun, events: list[RunEvent]) -> list[Step]:
    """dialling → ringing → answered → ended, from the run and its `progress` events."""
    phases = {e.data.get("phase") for e in events if e.kind == "progress"}
    ended = run.ended_at is not None
    answered = run.answered_at is not None or "answered" in phases
    ringing = bool(phases & {"ringing", "early-media"})
    ring_label = "Ringing (early media)" if "early-media" in phases else "Ringing"
    ended_label = f"Ended: {run.status}" if ended else "Ended"

    def state(reached: bool, later: bool) -> str:
        if later:
            return "done" if reached else "skipped"
        return "current" if reached else "todo"

    return [
        Step("dialling", "Dialling", state(True, ringing or answered or ended)),
        Step("ringing", ring_label, state(ringing, answered or ended)),
        Step("answered", "Answered", state(answered, ended)),
        Step("ended", ended_label, "done" if ended else "todo"),
    ]


async def _form_context(request: Request, values: dict[str, Any], errors: dict[str, str] | None = None,
                        error: dict[str, str] | None = None) -> dict[str, Any]:
    store = app_state(request).store
    configs = await store.configs.list(org_id(request))
    workflows = await store.workflows.list(org_id(request))
    default = next((c for c in configs if c.enabled), configs[0] if configs else None)
    chosen = str(values.get("telephony_configuration_id") or (default.id if default else ""))
    return {"configs": configs, "workflows": workflows, "values": values, "chosen_config": chosen,
            "errors": errors or {}, "error": error, "nav": "calls"}


def _form(request: Request, context: dict[str, Any], status_code: int = 200) -> Response:
    template = "calls/_test_call.html" if is_htmx(request) else "calls/test_call.html"
    if is_htmx(request) and request.method == "POST":
        template = "calls/_test_call_form.html"
    return render(request, template, context, status_code=status_code)


@page
async def test_call_form(request: Request) -> Response:
    values = {k: request.query_params.get(k, "") for k in ("telephony_configuration_id", "workflow_id")}
    return _form(request, await _form_context(request, values))


@page
async def place_test_call(request: Request) -> Response:
    values: dict[str, Any] = await form_values(request)
    values["to"] = values.get("to", "").strip()
    try:
        run_id = await calls.initiate_call(app_state(request), org_id(request), calls.call_request(values))
    except ApiError as exc:
        if exc.status == 404:
            raise
        context = await _form_context(request, values, exc.fields, {"id": exc.error_id, "message": exc.message})
        return _form(request, context, exc.status)
    except CallRefused as exc:
        fields = {exc.field: exc.message} if exc.field in ("to", "from") else {}
        context = await _form_context(request, values, fields, {"id": exc.error_id, "message": exc.message})
        status = calls.REFUSAL_STATUS.get(exc.error_id, 409)
        return _form(request, context, status if status in (409, 422) else 409)  # htmx swaps only these
    if is_htmx(request):
        return await _progress(request, run_id)
    return redirect(request, path_for(request, "test_call", run_id=run_id))


async def _load(request: Request, run_id: int) -> WorkflowRun:
    run = await app_state(request).store.runs.get(org_id(request), run_id)
    if run is None:
        raise ApiError(404, "not-found", "this call does not exist")
    return run


async def _progress(request: Request, run_id: int) -> Response:
    run = await _load(request, run_id)
    events = await app_state(request).store.runs.events(run.id)
    context = {"run": run, "steps": steps(run, events), "active": run.ended_at is None, "poll": POLL,
               "nav": "calls"}
    template = "calls/_test_call_progress.html" if is_htmx(request) else "calls/test_call_result.html"
    return render(request, template, context)


@page
async def test_call_progress(request: Request) -> Response:
    return await _progress(request, path_id(request, "run_id"))


@page
async def cancel_test_call(request: Request) -> Response:
    run = await _load(request, path_id(request, "run_id"))
    if run.ended_at is None:
        calls.cancel_call(app_state(request), run.id)
    if is_htmx(request):
        return await _progress(request, run.id)
    return redirect(request, path_for(request, "test_call", run_id=run.id))


BASE = "/test-call"
routes = [
    Route(BASE, test_call_form, name="test_call_form"),
    Route(BASE, place_test_call, methods=["POST"], name="test_call_place"),
    Route(BASE + "/{run_id:int}", test_call_progress, name="test_call"),
    Route(BASE + "/{run_id:int}/cancel", cancel_test_call, methods=["POST"], name="test_call_cancel"),
]
