"""Every URL of the server in one table."""
from __future__ import annotations

from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles

from media.endpoint import media_endpoint
from web import api, api_telephony, api_workflows, health, views_diagnostics, views_auth, views_calls, views_configs, views_workflows
from web.templating import TEMPLATES_DIR

STATIC_DIR = TEMPLATES_DIR.parent / "static"
C = "/telephony-configurations/{config_id:int}"
N = C + "/phone-numbers/{number_id:int}"
A = "/api/v1"


def routes() -> list[BaseRoute]:
    return [
        Route("/", views_auth.home),
        Route("/healthz", health.healthz),
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
        Route("/calls", views_calls.list_calls),
        Route("/calls/{run_id:int}", views_calls.call_detail),
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
        Route(A + "/workflow-runs", api_workflows.list_runs),
        Route(A + "/workflow-runs/{run_id:int}", api_workflows.get_run),
        WebSocketRoute(A + "/telephony/ws/ari", media_endpoint),
        Mount("/static", StaticFiles(directory=str(STATIC_DIR)), name="static"),
    ]
