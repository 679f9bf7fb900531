"""Server settings: command-line flags win over environment variables, which win over defaults."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_DB = Path("var") / "switchboard.db"


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8000
    db_path: Path = DEFAULT_DB
    # Base URL Asterisk uses to reach this server (websocket_client.conf `uri`); derived from the
    # request when empty.
    public_url: str = ""
    secret_key: str | None = None
    secure_cookies: bool = False
    log_format: str = "text"
    # ARI link and call timing; tests shrink these.
    media_connect_timeout_s: float = 5.0
    ari_backoff_max_s: float = 30.0
    # Scheduled backups (data.backup): into backup_dir (default <db dir>/backups) every
    # backup_interval_h hours (0 = off), keeping the newest backup_keep; recordings as a tar too
    # when backup_recordings. Recording retention is swept every retention_sweep_s seconds.
    backup_dir: Path | None = None
    backup_interval_h: float = 24.0
    backup_keep: int = 7
    backup_recordings: bool = False
    retention_sweep_s: float = 3600.0
    # Post-call webhooks: the first retry waits about this long, doubling each time (tests shrink it).
    webhook_retry_base_s: float = 10.0
    extra: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        return cls(
            host=env.get("SWITCHBOARD_HOST", cls.host),
            port=int(env.get("SWITCHBOARD_PORT", cls.port)),
            db_path=Path(env.get("SWITCHBOARD_DB", str(DEFAULT_DB))),
            public_url=env.get("SWITCHBOARD_PUBLIC_URL", ""),
            secret_key=env.get("SWITCHBOARD_SECRET_KEY") or None,
            secure_cookies=env.get("SWITCHBOARD_SECURE_COOKIES", "") in ("1", "true", "yes"),
            log_format=env.get("SWITCHBOARD_LOG_FORMAT", "text"),
            backup_dir=Path(env["SWITCHBOARD_BACKUP_DIR"]) if env.get("SWITCHBOARD_BACKUP_DIR") else None,
            backup_interval_h=float(env.get("SWITCHBOARD_BACKUP_INTERVAL_HOURS", cls.backup_interval_h)),
            backup_keep=int(env.get("SWITCHBOARD_BACKUP_KEEP", cls.backup_keep)),
            backup_recordings=env.get("SWITCHBOARD_BACKUP_RECORDINGS", "") in ("1", "true", "yes"),
        )

    @property
    def backups_path(self) -> Path:
        return self.backup_dir or self.db_path.parent / "backups"
