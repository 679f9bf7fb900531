"""Tiny HTTP control surface under ``/_fake/...`` (no auth) for demos and out-of-process benchmarks.

POST bodies are JSON. Audio is base64 µ-law (``audio_b64``) or a file path (``audio_file``).

    GET  /_fake/state                         channels, bridges, apps, media connection summaries
    GET  /_fake/media                         every media connection record (summary)
    POST /_fake/calls                         {caller, exten, context, app, audio_b64|audio_file, echo, noise}
                                              -> {channel_id}; echo: true (Echo()) or {delay_ms, gain_db};
                                              noise: {level_dbfs} or {snr_db}
    POST /_fake/calls/{id}/hangup             {cause}
    POST /_fake/calls/{id}/dtmf               {digits, duration_ms, interval_s}
    POST /_fake/calls/{id}/say                {audio_b64|audio_file}
    GET  /_fake/calls/{id}/heard              {frames, bytes, audio_b64}
    POST /_fake/calls/{id}/line               {echo, noise} (either may be null: off; a missing key: unchanged)
    POST /_fake/calls/{id}/noise_burst        {duration_ms, level_dbfs, kind: "babble"|"white"|"vowels"}
    POST /_fake/outbound                      {pattern, behavior, ringing_s, early_media, audio_b64, echo}
    POST /_fake/restart                       {downtime_s}
    POST /_fake/drop_events                   {app}
    POST /_fake/silent                        {on}
    POST /_fake/reject_credentials            {on}
    POST /_fake/inject                        {raw} or {event}
    POST /_fake/swap_vparams                  {on, window_s}
    POST /_fake/rest_hang                     {on}
    POST /_fake/rest_fail_500                 {on, path_prefix}
    POST /_fake/modules/{name}                {loaded}
"""
from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .httpserver import HttpRequest, HttpResponse
from .line import EchoPath, LineNoise

if TYPE_CHECKING:
    from .core import FakeAsterisk


def _audio(body: dict[str, Any]) -> bytes | None:
    if body.get("audio_b64"):
        return base64.b64decode(body["audio_b64"])
    if body.get("audio_file"):
        return Path(body["audio_file"]).read_bytes()
    return None


def _echo(value: Any) -> bool | EchoPath:
    """``true``/``false`` or ``{"delay_ms": 40, "gain_db": -6}``."""
    if isinstance(value, dict):
        return EchoPath(float(value.get("delay_ms", 0)) / 1000, float(value.get("gain_db", 0)))
    return bool(value)


def _noise(value: Any) -> LineNoise | None:
    """``null`` or ``{"level_dbfs": -50}`` or ``{"snr_db": 15}`` (optional ``seed``)."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ValueError("noise must be an object with level_dbfs or snr_db")
    seed = int(value.get("seed", 0))
    if "snr_db" in value:
        return LineNoise.at_snr(float(value["snr_db"]), seed)
    return LineNoise(float(value["level_dbfs"]), seed)


def media_summary(fake: FakeAsterisk) -> list[dict[str, Any]]:
    out = []
    for rec in fake.media_connections:
        out.append(
            {
                "channel_id": rec.channel_id,
                "mode": rec.mode,
                "path": rec.path,
                "subprotocol": rec.subprotocol,
                "connected": rec.connected,
                "failed": rec.failed,
                "attempts": rec.attempts,
                "texts_from_app": rec.texts_from_app_only(),
                "texts_to_app": rec.texts_to_app_only(),
                "binary_messages_from_app": len(rec.binary_from_app),
                "bytes_from_app": rec.bytes_from_app,
                "frames_to_app": rec.frames_to_app,
                "frames_played": len(rec.played),
                "underruns": [{"after_t": g.after_t, "missed_ticks": g.missed_ticks} for g in rec.underruns()],
                "closed": rec.closed,
                "closed_by": rec.closed_by,
                "close_code": rec.close_code,
            }
        )
    return out


def state(fake: FakeAsterisk) -> dict[str, Any]:
    return {
        "channels": [c.snapshot() | {"kind": c.kind.value, "bridge_id": c.bridge_id} for c in fake.channels.values()],
        "bridges": [b.snapshot() for b in fake.bridges.values()],
        "registered_apps": sorted(fake.registered_apps),
        "media": media_summary(fake),
        "requests": len(fake.requests),
        "events": len(fake.events),
        "continues": [c.__dict__ for c in fake.continues],
    }


async def handle(fake: FakeAsterisk, request: HttpRequest) -> HttpResponse:
    parts = [p for p in request.path.split("/") if p][1:]
    try:
        body = request.json_body() or {}
    except ValueError:
        return HttpResponse.json(400, "Bad Request", {"message": "invalid JSON"})
    method = request.method
    try:
        result = await _dispatch(fake, method, parts, body)
    except KeyError as exc:
        return HttpResponse.json(404, "Not Found", {"message": str(exc)})
    except (ValueError, TypeError) as exc:
        return HttpResponse.json(400, "Bad Request", {"message": str(exc)})
    if result is None:
        return HttpResponse.no_content()
    return HttpResponse(200, "OK", json.dumps(result, default=str).encode(), "application/json")


async def _dispatch(fake: FakeAsterisk, method: str, parts: list[str], body: dict[str, Any]) -> Any:
    if method == "GET" and parts == ["state"]:
        return state(fake)
    if method == "GET" and parts == ["media"]:
        return media_summary(fake)
    if method == "POST" and parts == ["calls"]:
        cid = await fake.place_inbound_call(
            str(body.get("caller", "")),
            str(body.get("exten", "8000")),
            _audio(body),
            context=body.get("context", "from-external"),
            caller_name=body.get("caller_name", ""),
            app=body.get("app"),
            app_args=body.get("app_args", []),
            echo=_echo(body.get("echo", False)),
            noise=_noise(body.get("noise")),
        )
        return {"channel_id": cid}
    if len(parts) == 3 and parts[0] == "calls":
        cid, action = parts[1], parts[2]
        if method == "POST" and action == "hangup":
            await fake.caller_hangup(cid, int(body.get("cause", 0)))
            return None
        if method == "POST" and action == "dtmf":
            digits, interval = str(body["digits"]), float(body.get("interval_s", 0.25))
            fake.spawn(fake.press_dtmf(cid, digits, int(body.get("duration_ms", 100)), interval))
            return None
        if method == "POST" and action == "say":
            await fake.caller_say(cid, _audio(body) or b"")
            return None
        if method == "POST" and action == "line":
            if "echo" in body:
                fake.set_caller_echo(cid, _echo(body["echo"]) if body["echo"] is not None else False)
            if "noise" in body:
                fake.set_line_noise(cid, _noise(body["noise"]))
            return None
        if method == "POST" and action == "noise_burst":
            fake.noise_burst(cid, float(body.get("duration_ms", 400)) / 1000, float(body.get("level_dbfs", -20)),
                             str(body.get("kind", "babble")))
            return None
        if method == "GET" and action == "heard":
            data = fake.heard(cid)
            frames = len(fake.caller(cid).heard)
            return {"frames": frames, "bytes": len(data), "audio_b64": base64.b64encode(data).decode()}
    if method == "POST" and parts == ["outbound"]:
        fake.set_outbound_behavior(
            str(body["pattern"]),
            str(body.get("behavior", "answer")),
            ringing_s=body.get("ringing_s"),
            early_media=bool(body.get("early_media", False)),
            audio=_audio(body),
            echo=_echo(body.get("echo", False)),
        )
        return None
    if method == "POST" and parts == ["restart"]:
        fake.spawn(fake.restart(float(body.get("downtime_s", 1.0))), name="restart")
        return None
    if method == "POST" and parts == ["drop_events"]:
        await fake.drop_events_socket(body.get("app"))
        return None
    if method == "POST" and parts == ["silent"]:
        fake.go_silent(bool(body.get("on", True)))
        return None
    if method == "POST" and parts == ["reject_credentials"]:
        fake.reject_credentials(bool(body.get("on", True)))
        return None
    if method == "POST" and parts == ["inject"]:
        return {"sent": await fake.inject_event(body["raw"] if "raw" in body else body["event"], body.get("app"))}
    if method == "POST" and parts == ["swap_vparams"]:
        fake.swap_vparams(bool(body.get("on", True)), float(body.get("window_s", 0.05)))
        return None
    if method == "POST" and parts == ["rest_hang"]:
        fake.rest_hang(bool(body.get("on", True)))
        return None
    if method == "POST" and parts == ["rest_fail_500"]:
        fake.rest_fail_500(bool(body.get("on", True)), str(body.get("path_prefix", "")))
        return None
    if method == "POST" and len(parts) == 2 and parts[0] == "modules":
        (fake.load_module if body.get("loaded", True) else fake.unload_module)(parts[1])
        return None
    raise KeyError(f"no control endpoint {method} /_fake/{'/'.join(parts)}")
