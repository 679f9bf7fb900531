"""Errors of the agent package. Each carries a stable `error_id` that logs, run events and the UI show.

    AgentError
    ├── DefinitionInvalid      definition-invalid: a workflow definition with field errors (`errors`)
    ├── DialogError            the dialog engine could not produce a reply
    │   ├── LlmUnreachable     llm-unreachable: connection refused, DNS, TLS
    │   ├── LlmTimeout         llm-timeout: no answer (or no next token) in time
    │   └── LlmBadResponse     llm-http-error / llm-bad-response: non-2xx status or unreadable stream
    ├── SpeechError            stt-failed, stt-unavailable, tts-failed, tts-unavailable
    ├── ToolArgumentsError     tool-bad-arguments: the LLM's arguments do not match the tool's parameters
    ├── ToolSecretUnreadable   tool-secret-unreadable: a secret header cannot be decrypted (key changed)
    └── OutboundError          tool-request-failed: a request to the user's system (a tool, the pre-call
        │                      lookup, a post-call webhook) got no usable answer (`agent.outbound_http`)
        ├── OutboundBadUrl     tool-bad-url: not http(s), no host, user:password@ in the URL
        ├── HostNotAllowed     tool-host-not-allowed: a private/loopback/link-local address that the
        │                      organisation's allowed hosts do not list (or any unlisted host when
        │                      only listed hosts may be called)
        ├── RedirectRefused    tool-redirect-refused: to another host, a downgrade to http, too many
        ├── OutboundTimeout    tool-timeout: connect, read or total time exceeded
        ├── OutboundUnreachable tool-unreachable: DNS, connection refused, TLS, connection dropped
        ├── ResponseTooLarge   tool-response-too-large: more than the size limit
        └── BadResponse        tool-bad-response: unreadable (unknown content encoding, broken body)
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


class ToolArgumentsError(AgentError):
    error_id = "tool-bad-arguments"


class ToolSecretUnreadable(AgentError):
    error_id = "tool-secret-unreadable"


class OutboundError(AgentError):
    error_id = "tool-request-failed"


class OutboundBadUrl(OutboundError):
    error_id = "tool-bad-url"


class HostNotAllowed(OutboundError):
    error_id = "tool-host-not-allowed"


class RedirectRefused(OutboundError):
    error_id = "tool-redirect-refused"


class OutboundTimeout(OutboundError):
    error_id = "tool-timeout"


class OutboundUnreachable(OutboundError):
    error_id = "tool-unreachable"


class ResponseTooLarge(OutboundError):
    error_id = "tool-response-too-large"


class BadResponse(OutboundError):
    error_id = "tool-bad-response"
