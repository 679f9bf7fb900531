"""Errors of the agent package. Each carries a stable `error_id` that logs, run events and the UI show.

    AgentError
    ├── DefinitionInvalid      definition-invalid: a workflow definition with field errors (`errors`)
    ├── DialogError            the dialog engine could not produce a reply
    │   ├── LlmUnreachable     llm-unreachable: connection refused, DNS, TLS
    │   ├── LlmTimeout         llm-timeout: no answer (or no next token) in time
    │   └── LlmBadResponse     llm-http-error / llm-bad-response: non-2xx status or unreadable stream
    └── SpeechError            stt-failed, stt-unavailable, tts-failed, tts-unavailable
"""
from __future__ import annotations


class AgentError(Exception):
    error_id = "agent-error"

    def __init__(self, message: str, *, error_id: str | None = None) -> None:
        super().__init__(message)
        if error_id is not None:
            self.error_id = error_id

    def __str__(self) -> str:
        return f"{self.error_id}: {self.args[0] if self.args else ''}"


class DefinitionInvalid(AgentError):
    error_id = "definition-invalid"

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{key}: {message}" for key, message in errors.items()))
        self.errors = errors
        """{"definition.<path>": message}"""


class DialogError(AgentError):
    error_id = "dialog-error"


class LlmUnreachable(DialogError):
    error_id = "llm-unreachable"


class LlmTimeout(DialogError):
    error_id = "llm-timeout"


class LlmBadResponse(DialogError):
    error_id = "llm-bad-response"


class SpeechError(AgentError):
    error_id = "speech-error"
