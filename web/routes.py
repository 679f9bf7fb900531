"""Every URL of the server: each resource module's named routes, in one flat table (the tests
walk it), plus the static files."""
from __future__ import annotations

from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles

from web import health, metrics
from web.api import configs as api_configs
from web.api import numbers as api_numbers
from web.api import runs as api_runs
from web.api import telephony as api_telephony
from web.api import usage as api_usage
from web.api import workflows as api_workflows
from web.templating import TEMPLATES_DIR
from web.views import auth, backups, calls, configs, numbers, organization, test_call, workflows

STATIC_DIR = TEMPLATES_DIR.parent / "static"


def routes() -> list[BaseRoute]:
    return [
        *auth.routes, *health.routes, *metrics.routes,
        *configs.routes, *numbers.routes, *workflows.routes, *calls.routes, *test_call.routes,
        *organization.routes, *backups.routes,
        *api_configs.routes, *api_numbers.routes, *api_workflows.routes, *api_runs.routes,
        *api_telephony.routes, *api_usage.routes,
        Mount("/static", StaticFiles(directory=str(STATIC_DIR)), name="static"),
    ]
