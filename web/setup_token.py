"""Who may claim a new server: the first visit to /setup creates the administrator, so on a server
others can reach (it listens on a non-loopback address, e.g. 0.0.0.0 in Docker) the claim needs a
one-time setup token. It is made at start-up while no user exists, printed in the log (one line,
with the setup URL: `docker logs switchboard`), compared in constant time, and spent when the
administrator is created. A server on loopback only needs none: whoever reaches it is on the
machine already.
"""
from __future__ import annotations

import hmac
import ipaddress
import logging
import secrets
from dataclasses import dataclass

from data.store import Store
from web.settings import Settings

log = logging.getLogger("switchboard")

WILDCARDS = ("", "0.0.0.0", "::", "[::]")


def is_loopback(host: str) -> bool:
    """True for an address only this machine reaches (127.0.0.0/8, ::1, localhost). A host name
    other than localhost may resolve to anything, so it is not."""
    name = host.strip().strip("[]").lower()
    if name in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


@dataclass
class SetupGate:
    required: bool
    """The server is reachable from elsewhere and had no user when it started."""
    token: str | None = None
    """The one-time token while it is unspent."""

    @classmethod
    def for_server(cls, host: str, *, has_users: bool) -> SetupGate:
        if has_users or is_loopback(host):
            return cls(required=False)
        return cls(required=True, token=secrets.token_urlsafe(24))

    def admits(self, given: str) -> bool:
        """Whether a claim carrying `given` may create the first administrator."""
        if not self.required:
            return True
        return self.token is not None and hmac.compare_digest(given.encode(), self.token.encode())

    def spend(self) -> None:
        """The administrator exists: the token never works again (a restart makes a new one only
        if the database has no user)."""
        self.token = None


def setup_url(settings: Settings, setup_path: str, token: str) -> str:
    """Where to claim the server: the public URL when one is configured, else the listening
    address (localhost for a wildcard; from another machine, the server's own address)."""
    if settings.public_url:
        base = settings.public_url.rstrip("/")
    else:
        host = settings.host.strip()
        shown = "localhost" if host in WILDCARDS else host
        if ":" in shown and not shown.startswith("["):
            shown = f"[{shown}]"
        base = f"http://{shown}:{settings.port}"
    return f"{base}{setup_path}?token={token}"


async def open_gate(store: Store, settings: Settings, setup_path: str) -> SetupGate:
    """The gate for this start-up; when it needs a token, the one log line that hands it over."""
    gate = SetupGate.for_server(settings.host, has_users=await store.accounts.user_count() > 0)
    if gate.token is not None:
        log.warning("no administrator yet and this server listens on %s: create the first one at "
                    "%s (one-time setup token; from another machine use this server's address) "
                    "error_id=setup-token-required", settings.host, setup_url(settings, setup_path, gate.token))
    return gate
