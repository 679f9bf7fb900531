"""One-click diagnostics: the guide's troubleshooting list run as checks against Asterisk.

Each check has a stable id, passes or fails, and carries a plain-language fix. Later checks that
cannot run because an earlier one failed are reported as failed with "skipped: …", so the admin
always sees the whole list and the first real problem on top.
"""
from __future__ import annotations

import asyncio
import logging
from dataclasses import asdict, dataclass
from typing import Any

from ari.call import new_channel_id
from ari.calls import CallControl
from ari.errors import AUTH_FIX, UNREACHABLE_FIX, AriAuthFailed, AriError, AriHttpError, AriNotFound
from ari.link import LinkState, LinkStatus
from ari.rest import AriRestClient, build_transport_data
from media.registry import MediaRegistry

log = logging.getLogger("switchboard.ari.diagnostics")

MODULES = ("res_ari.so", "chan_websocket.so", "res_websocket_client.so")
BAD_CLIENT_NAME = "external_host must be a valid websocket_client connection id"
PROBE_PARAMS = {"workflow_id": "probe", "user_id": "probe", "workflow_run_id": "probe"}


@dataclass(frozen=True)
class Check:
    id: str
    ok: bool
    message: str
    fix: str = ""

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ProbeTarget:
    """What the checks need to know about one configuration."""

    endpoint: str
    app: str
    username: str
    password: str
    websocket_client_name: str


class Diagnostics:
    def __init__(
        self, target: ProbeTarget, *, rest: AriRestClient | None = None, control: CallControl | None = None,
        link_status: LinkStatus | None = None, registry: MediaRegistry | None = None, media_timeout_s: float = 5.0,
    ) -> None:
        self.target = target
        self.rest = rest or AriRestClient(target.endpoint, target.username, target.password, timeout=5.0)
        self._owns_rest = rest is None
        self.control = control
        self.link_status = link_status
        self.registry = registry
        self.media_timeout_s = media_timeout_s

    async def run(self) -> list[Check]:
        try:
            return await self._run()
        finally:
            if self._owns_rest:
                await self.rest.aclose()

    async def _run(self) -> list[Check]:
        checks = [await self._reachable()]
        if not checks[0].ok:
            return checks + _skipped(("credentials", *_module_ids(), "stasis-app", "websocket-client-name",
                                      "media-reaches-switchboard"), "Asterisk is not reachable")
        checks.append(await self._credentials())
        if not checks[-1].ok:
            return checks + _skipped((*_module_ids(), "stasis-app", "websocket-client-name",
                                      "media-reaches-switchboard"), "the credentials were refused")
        for module in MODULES:
            checks.append(await self._module(module))
        if self.control is None or self.registry is None:
            return checks + _skipped(("stasis-app", "websocket-client-name", "media-reaches-switchboard"),
                                     "only checked by a running Switchboard (use Test connection in the admin)")
        stasis_app = await self._stasis_app()
        checks.append(stasis_app)
        if not stasis_app.ok:
            return checks + _skipped(("websocket-client-name", "media-reaches-switchboard"),
                                     "the Stasis app is not registered by Switchboard")
        checks.extend(await self._media())
        return checks

    async def _reachable(self) -> Check:
        try:
            await self.rest.ping()
        except AriAuthFailed:
            return Check("endpoint-reachable", True, f"Asterisk answers at {self.target.endpoint}")
        except AriNotFound as exc:
            return Check("endpoint-reachable", False, f"{self.target.endpoint} answered, but not as ARI: {exc}",
                         UNREACHABLE_FIX)
        except AriError as exc:
            return Check("endpoint-reachable", False, f"cannot reach {self.target.endpoint}: {exc}", UNREACHABLE_FIX)
        return Check("endpoint-reachable", True, f"Asterisk answers at {self.target.endpoint}")

    async def _credentials(self) -> Check:
        try:
            info = await self.rest.info()
        except AriAuthFailed as exc:
            return Check("credentials", False, f"ARI user {self.target.username!r} was refused: {exc}", AUTH_FIX)
        except AriError as exc:
            return Check("credentials", False, f"asterisk/info failed: {exc}", exc.fix)
        version = (info.get("system") or {}).get("version", "unknown") if isinstance(info, dict) else "unknown"
        return Check("credentials", True, f"ARI user {self.target.username!r} accepted (Asterisk {version})")

    async def _module(self, name: str) -> Check:
        check_id = f"module-{name.removesuffix('.so')}"
        fix = (f"Load {name}: `module load {name}` in the Asterisk CLI (and make sure it is built and not "
               f"`noload` in modules.conf); `module show like {name.removesuffix('.so')}` must say Running.")
        try:
            module = await self.rest.module(name)
        except AriNotFound:
            return Check(check_id, False, f"{name} is not loaded", fix)
        except AriError as exc:
            return Check(check_id, False, f"cannot read the state of {name}: {exc}", fix)
        status = module.get("status", "unknown") if isinstance(module, dict) else "unknown"
        if status != "Running":
            return Check(check_id, False, f"{name} is {status}", fix)
        return Check(check_id, True, f"{name} is Running")

    async def _stasis_app(self) -> Check:
        fix = ("Switchboard keeps an events connection for this app; see the status above. "
               "If another client took the app, stop it or use another app name.")
        if self.link_status is None or self.link_status.state is not LinkState.CONNECTED:
            state = self.link_status.state.value if self.link_status else "not running"
            return Check("stasis-app", False, f"Switchboard's events connection is {state}", fix)
        try:
            await self.rest.application(self.target.app)
        except AriError as exc:
            return Check("stasis-app", False, f"Asterisk does not list the app {self.target.app!r}: {exc}", fix)
        return Check("stasis-app", True, f"Stasis app {self.target.app!r} is registered by Switchboard")

    async def _media(self) -> list[Check]:
        """An externalMedia probe: tells a wrong client name apart from a uri that does not reach us."""
        name = self.target.websocket_client_name
        name_fix = (f"Add a `[{name}]` section with `type = websocket_client` to websocket_client.conf (or enter "
                    "the existing section name here), then `module reload res_websocket_client.so`.")
        uri_fix = ("The `uri` in websocket_client.conf must be ws://<this server>:<port>/api/v1/telephony/ws/ari "
                   "(wss:// with `tls_enabled = yes` behind TLS), reachable from the Asterisk host; check the "
                   "host, port, firewall and that `protocols = media` is set.")
        assert self.control is not None and self.registry is not None
        probe_id = new_channel_id("p")
        watch = self.control.watch(probe_id)
        pending = self.registry.expect(probe_id, run_id=0, workflow_id=0, config_id=0)
        try:
            try:
                await self.rest.external_media(channel_id=probe_id, app=self.target.app, external_host=name,
                                               transport_data=build_transport_data(PROBE_PARAMS))
            except AriHttpError as exc:
                if BAD_CLIENT_NAME in str(exc):
                    return [Check("websocket-client-name", False,
                                  f"Asterisk has no websocket_client named {name!r}", name_fix),
                            *_skipped(("media-reaches-switchboard",), "the WebSocket client name is wrong")]
                return [Check("websocket-client-name", False, f"externalMedia failed: {exc}", exc.fix),
                        *_skipped(("media-reaches-switchboard",), "externalMedia failed")]
            name_ok = Check("websocket-client-name", True, f"Asterisk knows the websocket_client {name!r}")
            connected = asyncio.ensure_future(asyncio.shield(pending.connected))
            gone = asyncio.ensure_future(watch.gone.wait())
            waiting: set[asyncio.Future[Any]] = {connected, gone}
            done, _ = await asyncio.wait(waiting, timeout=self.media_timeout_s,
                                         return_when=asyncio.FIRST_COMPLETED)
            for task in (connected, gone):
                if task not in done:
                    task.cancel()
            if connected in done and not connected.cancelled() and connected.exception() is None:
                await connected.result().close(1000, "diagnostics probe")
                return [name_ok, Check("media-reaches-switchboard", True,
                                       "Asterisk opened a media WebSocket to Switchboard")]
            why = (f"Asterisk could not connect (cause {watch.destroyed.cause} {watch.destroyed.cause_txt})"
                   if watch.destroyed else f"no media WebSocket arrived within {self.media_timeout_s:g} s")
            return [name_ok, Check("media-reaches-switchboard", False,
                                   f"websocket_client.conf uri does not reach Switchboard: {why}", uri_fix)]
        finally:
            self.registry.discard(probe_id)
            try:
                await self.rest.hangup(probe_id)
            except AriError as exc:
                log.info("probe channel %s cleanup: %s", probe_id, exc)
            self.control.unwatch(probe_id)


def _module_ids() -> tuple[str, ...]:
    return tuple(f"module-{m.removesuffix('.so')}" for m in MODULES)


def _skipped(ids: tuple[str, ...], why: str) -> list[Check]:
    return [Check(check_id, False, f"skipped: {why}") for check_id in ids]
