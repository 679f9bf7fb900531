"""Which hosts the agent may call: an organisation's allowed hosts, judged on resolved addresses. Pure.

An organisation setting lists entries, each one of
- a host name (`crm.lan`), matched exactly (case-insensitive, trailing dot ignored);
- a wildcard (`*.corp.example`), matching every name below it (not the name itself);
- an address (`192.168.1.20`, `fd00::7`) or a network (`10.20.0.0/16`), matching resolved addresses.

A destination is judged on every address its name resolves to (DNS rebinding: the caller then
connects to exactly those addresses, see `agent.outbound_http`):
- never: unspecified (0.0.0.0, ::), 0.0.0.0/8, multicast, the broadcast and 240.0.0.0/4;
- a listed host or address: allowed, private or not (PBX installs call LAN CRMs);
- a public address: allowed, unless the organisation allows only listed hosts;
- anything else (private, loopback, link-local, CGNAT, documentation, ULA, site-local, and IPv6
  forms that embed such an IPv4 address: v4-mapped, v4-compatible, 6to4, Teredo, NAT64): refused.
"""
from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass

from agent.errors import HostNotAllowed

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

MAX_ENTRIES = 100
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)\Z")
_NAT64 = (ipaddress.IPv6Network("64:ff9b::/96"),)
_LOCAL_V6 = (ipaddress.IPv6Network("64:ff9b:1::/48"), ipaddress.IPv6Network("fec0::/10"))
_THIS_NETWORK = ipaddress.IPv4Network("0.0.0.0/8")


def embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for (v4-mapped, v4-compatible, 6to4, Teredo, NAT64)."""
    if isinstance(address, ipaddress.IPv4Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    value = int(address)
    if any(address in net for net in _NAT64) or (value >> 32 == 0 and value > 1):  # ::a.b.c.d
        return ipaddress.IPv4Address(value & 0xFFFFFFFF)
    return None


def _never(address: IPAddress) -> bool:
    if address.is_unspecified or address.is_multicast:
        return True
    if isinstance(address, ipaddress.IPv4Address):
        return address in _THIS_NETWORK or address.is_reserved or int(address) == 0xFFFFFFFF
    return False


def is_forbidden(address: IPAddress) -> bool:
    """Never called, even when listed."""
    inner = embedded_ipv4(address)
    return _never(address) or (inner is not None and _never(inner))


def is_public(address: IPAddress) -> bool:
    """A globally routed unicast address (and so is any IPv4 address it embeds)."""
    if is_forbidden(address):
        return False
    inner = embedded_ipv4(address)
    if inner is not None:
        return inner.is_global
    if isinstance(address, ipaddress.IPv6Address) and any(address in net for net in _LOCAL_V6):
        return False
    return address.is_global


def normalise_host(host: str) -> str:
    return host.strip().lower().rstrip(".")


def parse_address(text: str) -> IPAddress | None:
    """An IP literal (IPv6 with or without brackets, scope id dropped), else None."""
    text = text.strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    try:
        return ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return None


def _host_name(text: str) -> str | None:
    """`text` as an ASCII (IDNA) host name, or None when it is not one."""
    try:
        ascii_name = normalise_host(text).encode("idna").decode("ascii")
    except (UnicodeError, ValueError):
        return None
    labels = ascii_name.split(".")
    if not ascii_name or len(ascii_name) > 253 or not all(_LABEL.match(label) for label in labels):
        return None
    return ascii_name


@dataclass(frozen=True)
class HostPolicy:
    """An organisation's allowed hosts (see the module docstring). The default allows public hosts."""

    names: frozenset[str] = frozenset()
    suffixes: tuple[str, ...] = ()  # ".corp.example" for "*.corp.example"
    networks: tuple[IPNetwork, ...] = ()
    only_listed: bool = False

    @classmethod
    def parse(cls, entries: object, *, only_listed: bool = False,
              path: str = "allowed_hosts") -> tuple[HostPolicy, dict[str, str]]:
        """The policy and field errors keyed `<path>.<index>` (invalid entries are left out)."""
        errors: dict[str, str] = {}
        if not isinstance(entries, (list, tuple)):
            return cls(only_listed=only_listed), {path: "must be a list of host names, addresses or networks"}
        if len(entries) > MAX_ENTRIES:
            errors[path] = f"at most {MAX_ENTRIES} entries"
        names: set[str] = set()
        suffixes: list[str] = []
        networks: list[IPNetwork] = []
        for index, entry in enumerate(entries[:MAX_ENTRIES]):
            problem = _add_entry(entry, names, suffixes, networks)
            if problem:
                errors[f"{path}.{index}"] = problem
        return cls(frozenset(names), tuple(dict.fromkeys(suffixes)), tuple(dict.fromkeys(networks)),
                   only_listed), errors

    @classmethod
    def from_setting(cls, entries: Sequence[str], only_listed: bool) -> HostPolicy:
        """From a stored (already validated) setting; a bad entry is skipped, never fatal."""
        return cls.parse(list(entries), only_listed=only_listed)[0]

    def lists_name(self, host: str) -> bool:
        name = normalise_host(host)
        return name in self.names or any(name.endswith(suffix) for suffix in self.suffixes)

    def lists_address(self, address: IPAddress) -> bool:
        candidates = [address, embedded_ipv4(address)]
        return any(candidate in network for network in self.networks for candidate in candidates
                   if candidate is not None and candidate.version == network.version)

    def check(self, host: str, addresses: Sequence[IPAddress]) -> None:
        """Raise `HostNotAllowed` unless every address of `host` may be called."""
        if not addresses:
            raise HostNotAllowed(f"{host} has no address")
        name_listed = self.lists_name(host)
        for address in addresses:
            if is_forbidden(address):
                raise HostNotAllowed(f"{host} resolves to {address}, which is never called")
            if name_listed or self.lists_address(address):
                continue
            if not is_public(address):
                raise HostNotAllowed(
                    f"{host} resolves to {address}, a private, loopback or link-local address; add the host "
                    "to the organisation's allowed hosts to call it")
            if self.only_listed:
                raise HostNotAllowed(f"{host} is not in the organisation's allowed hosts")


def _add_entry(entry: object, names: set[str], suffixes: list[str], networks: list[IPNetwork]) -> str | None:
    """Add one entry to the right collection; a problem message when it is not valid."""
    if not isinstance(entry, str) or not entry.strip():
        return "must be a host name, an address or a network"
    text = entry.strip()
    if len(text) > 260:
        return "at most 260 characters"
    address = parse_address(text)
    if address is not None:
        networks.append(ipaddress.ip_network(address))
        return None
    if "/" in text:
        try:
            networks.append(ipaddress.ip_network(text, strict=True))
        except ValueError as exc:
            return f"not a network: {exc}"
        return None
    if text.count(":") == 1 and text.rsplit(":", 1)[1].isdigit():
        return "list the host without a port"
    if text.startswith("*."):
        name = _host_name(text[2:])
        if name is None:
            return "a wildcard is *. followed by a host name, like *.corp.example"
        suffixes.append("." + name)
        return None
    name = _host_name(text)
    if name is None:
        return "not a host name, an address (10.0.0.5) or a network (10.0.0.0/24)"
    names.add(name)
    return None
