"""Every URL of the server in one table."""
from __future__ import annotations

from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.websockets import WebSocket

from media.endpoint import media_endpoint
from web import (
    api,
    api_telephony,
    api_usage,
    api_workflows,
    health,
    metrics,
    views_auth,
    views_backup,
    views_calls,
    views_chat,
    views_configs,
    views_diagnostics,
    views_test_call,
    views_usage,
    views_workflows,
)
from web.state import app_state
from web.templating import TEMPLATES_DIR

STATIC_DIR = TEMPLATES_DIR.parent / "static"
C = "/telephony-configurations/{config_id:int}"
N = C + "/phone-numbers/{number_id:int}"
A = "/api/v1"


async def media_socket(websocket: WebSocket) -> None:
    await media_endpoint(websocket, app_state(websocket).media_registry)


def routes() -> list[BaseRoute]:
    return [
        Route("/", views_auth.home),
        Route("/healthz", health.healthz),
        Route("/readyz", health.readyz),
        Route("/metrics", metrics.metrics),
        Route("/setup", views_auth.setup, methods=["GET", "POST"]),
        Route("/login", views_auth.login_page, methods=["GET", "POST"]),
        Route("/logout", views_auth.logout_view, methods=["POST"]),
        # Configurations and phone numbers (HTML)
        Route("/telephony-configurations", views_configs.list_configs),
        Route("/telephony-configurations", views_configs.create_config, methods=["POST"]),
        Route("/telephony-configurations/new", views_configs.new_config),
        Route(C, views_configs.config_detail),
        Route(C, views_configs.update_config, methods=["POST"]),
        Route(C, views_configs.delete_config, methods=["DELETE"]),
        Route(C + "/delete", views_configs.delete_config, methods=["POST"]),
        Route(C + "/edit", views_configs.edit_config),
        Route(C + "/status", views_configs.config_status),
        Route(C + "/check", views_diagnostics.check_config, methods=["POST"]),
        Route(C + "/phone-numbers", views_configs.create_number, methods=["POST"]),
        Route(N, views_configs.number_row),
        Route(N, views_configs.update_number, methods=["POST"]),
        Route(N, views_configs.delete_number, methods=["DELETE"]),
        Route(N + "/delete", views_configs.delete_number, methods=["POST"]),
        Route(N + "/edit", views_configs.edit_number),
        # Workflows and calls (HTML)
        Route("/workflows", views_workflows.list_workflows),
        Route("/workflows", views_workflows.create_workflow, methods=["POST"]),
        Route("/workflows/new", views_workflows.new_workflow),
        Route("/workflows/{workflow_id:int}", views_workflows.workflow_page),
        Route("/workflows/{workflow_id:int}", views_workflows.update_workflow, methods=["POST"]),
        Route("/workflows/{workflow_id:int}", views_workflows.delete_workflow, methods=["DELETE"]),
        Route("/workflows/{workflow_id:int}/delete", views_workflows.delete_workflow, methods=["POST"]),
        Route("/workflows/import", views_workflows.import_workflow, methods=["POST"]),
        Route("/workflows/{workflow_id:int}/export", views_workflows.export_workflow),
        Route("/workflows/{workflow_id:int}/chat", views_chat.chat_turn, methods=["POST"]),
        Route("/calls", views_calls.list_calls),
        Route("/calls/{run_id:int}", views_calls.call_detail),
        Route("/calls/{run_id:int}", views_calls.delete_call, methods=["DELETE"]),
        Route("/calls/{run_id:int}/delete", views_calls.delete_call, methods=["POST"]),
        Route("/calls/{run_id:int}/hangup", views_calls.hang_up, methods=["POST"]),
        Route("/calls/{run_id:int}/recording", views_calls.call_recording),
        # Organisation: usage, limits, backups (HTML)
        Route("/organization", views_usage.organization_page),
        Route("/organization/limits", views_usage.update_limits, methods=["POST"]),
        Route("/organization/backup.db", views_backup.download_backup),
        Route("/organization/recordings.tar", views_backup.download_recordings),
        Route("/organization/backups", views_backup.backup_now, methods=["POST"]),
        Route("/test-call", views_test_call.test_call_form),
        Route("/test-call", views_test_call.place_test_call, methods=["POST"]),
        Route("/test-call/{run_id:int}", views_test_call.test_call_progress),
        Route("/test-call/{run_id:int}/cancel", views_test_call.cancel_test_call, methods=["POST"]),
        # JSON API
        Route(A + "/telephony-configurations", api.list_configs),
        Route(A + "/telephony-configurations", api.create_config, methods=["POST"]),
        Route(A + C, api.get_config),
        Route(A + C, api.update_config, methods=["PUT", "PATCH"]),
        Route(A + C, api.delete_config, methods=["DELETE"]),
        Route(A + C + "/status", api.config_status),
        Route(A + C + "/check", api_telephony.check_config, methods=["POST"]),
        Route(A + C + "/phone-numbers", api.list_numbers),
        Route(A + C + "/phone-numbers", api.create_number, methods=["POST"]),
        Route(A + N, api.get_number),
        Route(A + N, api.update_number, methods=["PUT", "PATCH"]),
        Route(A + N, api.delete_number, methods=["DELETE"]),
        Route(A + "/workflows", api_workflows.list_workflows),
        Route(A + "/workflows", api_workflows.create_workflow, methods=["POST"]),
        Route(A + "/workflows/{workflow_id:int}", api_workflows.get_workflow),
        Route(A + "/workflows/{workflow_id:int}", api_workflows.update_workflow, methods=["PUT", "PATCH"]),
        Route(A + "/workflows/{workflow_id:int}", api_workflows.delete_workflow, methods=["DELETE"]),
        Route(A + "/workflows/import", api_workflows.import_workflow, methods=["POST"]),
        Route(A + "/workflows/{workflow_id:int}/export", api_workflows.export_workflow),
        Route(A + "/workflows/{workflow_id:int}/chat", api_workflows.chat, methods=["POST"]),
        Route(A + "/workflow-runs", api_workflows.list_runs),
        Route(A + "/workflow-runs/{run_id:int}", api_workflows.get_run),
        Route(A + "/workflow-runs/{run_id:int}", api_workflows.delete_run, methods=["DELETE"]),
        Route(A + "/workflow-runs/{run_id:int}/hangup", api_workflows.hang_up_run, methods=["POST"]),
        Route(A + "/workflow-runs/{run_id:int}/recording", api_workflows.run_recording),
        Route(A + "/organization/usage", api_usage.get_usage),
        Route(A + "/organization/limits", api_usage.get_limits),
        Route(A + "/organization/limits", api_usage.update_limits, methods=["PUT", "PATCH"]),
        Route(A + "/workflow-runs/{run_id:int}/cancel", api_telephony.cancel_run, methods=["POST"]),
        Route(A + "/telephony/initiate-call", api_telephony.initiate_call, methods=["POST"]),
        WebSocketRoute(A + "/telephony/ws/ari", media_socket),
        Mount("/static", StaticFiles(directory=str(STATIC_DIR)), name="static"),
    ]
