"""Ready-to-paste Asterisk configuration for one telephony configuration (pure text). `media_path`
is where chan_websocket connects: the path of the route `api.media_socket`."""
from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from data.models import TelephonyConfig


@dataclass(frozen=True)
class Snippet:
    filename: str
    text: str
    reload: str


def media_uri(public_base_url: str, media_path: str) -> str:
    parts = urlsplit(public_base_url)
    scheme = {"https": "wss", "wss": "wss"}.get(parts.scheme, "ws")
    return f"{scheme}://{parts.netloc}{parts.path.rstrip('/')}{media_path}"


def ari_port(endpoint: str) -> int:
    parts = urlsplit(endpoint)
    return parts.port or (443 if parts.scheme == "https" else 8088)


def http_lines(endpoint: str) -> list[str]:
    """Asterisk's HTTP server as the ARI Endpoint URL expects it: plain, or TLS for https://."""
    port = ari_port(endpoint)
    if urlsplit(endpoint).scheme != "https":
        return ["[general]", "enabled = yes", "bindaddr = 0.0.0.0", f"bindport = {port}"]
    return [
        "[general]", "enabled = yes", "bindaddr = 0.0.0.0", "bindport = 8088",
        "tlsenable = yes", f"tlsbindaddr = 0.0.0.0:{port}",
        "tlscertfile = /etc/asterisk/keys/asterisk.crt", "tlsprivatekey = /etc/asterisk/keys/asterisk.key",
    ]


def asterisk_snippets(config: TelephonyConfig, public_base_url: str, media_path: str) -> list[Snippet]:
    uri = media_uri(public_base_url, media_path)
    tls = uri.startswith("wss://")
    ws_lines = [
        f"[{config.websocket_client_name}]",
        "type = websocket_client",
        f"uri = {uri}",
        "protocols = media",
    ]
    if tls:
        ws_lines += ["tls_enabled = yes", "ca_list_file = /etc/ssl/certs/ca-certificates.crt"]
    return [
        Snippet("ari.conf", "\n".join([
            "[general]", "enabled = yes", "",
            f"[{config.username}]", "type = user", "read_only = no",
            "password = <the App Password you entered here>",
        ]), "ari reload"),
        Snippet("http.conf", "\n".join(http_lines(config.ari_endpoint_url)), "core reload"),
        Snippet("extensions.conf", "\n".join([
            "[from-external]",
            "exten => _X.,1,NoOp(Incoming call to ${EXTEN})",
            f" same => n,Stasis({config.stasis_app_name})",
            " same => n,Hangup()",
        ]), "dialplan reload"),
        Snippet("websocket_client.conf", "\n".join(ws_lines), "module reload res_websocket_client.so"),
    ]
