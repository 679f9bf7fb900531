"""Errors of the data layer.

    DatabaseError
     ├── SchemaTooNew      the file was written by a newer Switchboard
     ├── NotOurDatabase    the file is not a Switchboard database
     ├── SecretKeyError    the key that encrypts stored secrets is unusable
     └── Conflict          a uniqueness rule refused the write (carries the field)
"""
from __future__ import annotations


class DatabaseError(Exception):
    error_id = "db-error"


class SchemaTooNew(DatabaseError):
    error_id = "db-schema-too-new"


class NotOurDatabase(DatabaseError):
    error_id = "db-not-switchboard"


class SecretKeyError(DatabaseError):
    error_id = "secret-key-invalid"


class Conflict(DatabaseError):
    error_id = "conflict"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message
