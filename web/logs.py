"""Structured logs: one line per event, `key=value` text or JSON (`SWITCHBOARD_LOG_FORMAT`).

Switchboard's messages already carry their facts as `key=value` pairs (`config=3 channel=…
run=17 error_id=…`, see `ari.calls.Call.label`). The text format prefixes the time, level and
logger the same way; the JSON format lifts those pairs into fields, so a log pipeline can
filter on `config`, `channel`, `run` or `error_id` without parsing:

    ts=2025-05-03T10:00:01.234Z level=info logger=switchboard.ari.calls msg="call ended config=1 channel=c1 run=5 status=completed reason=caller hung up"
    {"ts": "2025-05-03T10:00:01.234Z", "level": "info", "logger": "switchboard.ari.calls", "msg": "call ended config=1 …", "config": "1", "channel": "c1", "run": "5", "status": "completed"}

A traceback stays on the same line (`exc="…\\n…"` / `"exc": "…"`). Uvicorn's own loggers
(startup, access log) go through the same handler.
"""
from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime

FORMATS = ("text", "json")
_PAIR = re.compile(r"(?<![\w.-])([a-z_]{2,20})=(\"[^\"]*\"|[^\s,;:]+)")
_RESERVED = {"ts", "level", "logger", "msg", "exc"}


def _timestamp(record: logging.LogRecord) -> str:
    moment = datetime.fromtimestamp(record.created, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{int(record.msecs):03d}Z"


def _quote(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def fields_of(message: str) -> dict[str, str]:
    """The `key=value` pairs of a message (the first value of a repeated key wins)."""
    found: dict[str, str] = {}
    for key, value in _PAIR.findall(message):
        if key not in found and key not in _RESERVED:
            found[key] = value.strip('"')
    return found


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = (f"ts={_timestamp(record)} level={record.levelname.lower()} logger={record.name} "
                f"msg={_quote(record.getMessage())}")
        if record.exc_info:
            line += f" exc={_quote(self.formatException(record.exc_info))}"
        return line


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        entry: dict[str, str] = {"ts": _timestamp(record), "level": record.levelname.lower(),
                                 "logger": record.name, "msg": message}
        entry.update(fields_of(message))
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure(log_format: str, level: int = logging.INFO) -> None:
    """Install one stderr handler on the root logger with the chosen format."""
    if log_format not in FORMATS:
        raise ValueError(f"SWITCHBOARD_LOG_FORMAT must be one of {', '.join(FORMATS)}, not {log_format!r}")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
