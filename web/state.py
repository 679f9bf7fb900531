"""What the server holds while it runs, built once at start-up (`web.lifespan`) and read by
every handler through `app_state(request)`: one typed object instead of loose `app.state` names."""
from __future__ import annotations

from dataclasses import dataclass, field

from starlette.applications import Starlette
from starlette.requests import HTTPConnection

from agent.outbound_http import OutboundClient
from data.store import Store
from media.registry import MediaRegistry
from web.services.webhooks import PostCallWebhooks
from web.settings import Settings
from web.setup_token import SetupGate
from web.telephony import Telephony
from web.throttle import LoginThrottle

_ATTRIBUTE = "switchboard"


@dataclass
class AppState:
    settings: Settings
    store: Store
    telephony: Telephony
    """The web layer's port to the ARI side (`web.telephony`)."""
    media_registry: MediaRegistry
    """Media sockets the calls are waiting for (`media.endpoint` claims them)."""
    setup_gate: SetupGate
    """Whether /setup needs the one-time setup token (`web.setup_token`)."""
    outbound: OutboundClient
    """Every request to a user's system (tools, lookups, webhooks) goes through it (`agent.outbound_http`)."""
    webhooks: PostCallWebhooks
    """Post-call webhooks: queued when a run ends, sent by its worker (`web.services.webhooks`)."""
    login_throttle: LoginThrottle = field(default_factory=LoginThrottle)

    def attach(self, app: Starlette) -> None:
        setattr(app.state, _ATTRIBUTE, self)


def app_state(source: HTTPConnection | Starlette) -> AppState:
    """The running server's state, from a request, a WebSocket or the app itself."""
    found = running_state(source.app if isinstance(source, HTTPConnection) else source)
    if found is None:
        raise RuntimeError("the app's lifespan has not started: no database or telephony yet")
    return found


def running_state(app: object) -> AppState | None:
    """The state when `app` is a started Switchboard app, else None (e.g. before the lifespan)."""
    found = getattr(getattr(app, "state", None), _ATTRIBUTE, None)
    return found if isinstance(found, AppState) else None
