"""Encryption at rest for secrets kept in SQLite (ARI passwords, provider API keys).

The key comes from `SWITCHBOARD_SECRET_KEY` or from `secret.key` beside the database, created
on first use with mode 0600. Losing the key means re-entering the ARI passwords, nothing more.
"""
from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from data.errors import SecretKeyError


class SecretBox:
    def __init__(self, key_material: bytes) -> None:
        digest = hashlib.sha256(b"switchboard-secretbox\0" + key_material).digest()
        self._fernet = Fernet(base64.urlsafe_b64encode(digest))
        self.session_key = hashlib.sha256(b"switchboard-session\0" + key_material).hexdigest()

    @classmethod
    def load(cls, data_dir: Path, env_key: str | None = None) -> SecretBox:
        if env_key:
            return cls(env_key.encode())
        path = data_dir / "secret.key"
        if not path.exists():
            _create_key_file(path)
        material = path.read_bytes().strip()
        if not material:
            raise SecretKeyError(f"{path} is empty: restore it from a backup, or delete it and re-enter "
                                 "the ARI passwords")
        return cls(material)

    def encrypt(self, plain: str) -> str:
        return self._fernet.encrypt(plain.encode()).decode()

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken as exc:
            raise ValueError(
                "cannot decrypt a stored secret: the secret key changed; re-enter the password"
            ) from exc


def _create_key_file(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return  # another process (the CLI, a second start) made it first
    with os.fdopen(fd, "wb") as handle:
        handle.write(base64.urlsafe_b64encode(os.urandom(32)))
        handle.flush()
        os.fsync(handle.fileno())
