"""The organisation's allowed hosts: address classes (IPv4, IPv6, embedded IPv4), entries, decisions."""
from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.errors import HostNotAllowed
from agent.hosts import HostPolicy, embedded_ipv4, is_forbidden, is_public

PUBLIC = ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111", "::ffff:8.8.8.8", "2002:808:808::1",
          "64:ff9b::808:808"]
NEEDS_LISTING = [
    "127.0.0.1", "127.8.9.10", "10.1.2.3", "172.16.0.1", "172.31.255.255", "192.168.1.20", "169.254.169.254",
    "100.64.0.1", "192.0.2.1", "198.18.0.1", "::1", "fe80::1", "fc00::1", "fd12:3456::1", "fec0::1",
    "::ffff:127.0.0.1", "::ffff:10.0.0.1", "::ffff:169.254.169.254", "::127.0.0.1", "2002:7f00:1::1",
    "2002:a00:1::1", "64:ff9b::a00:1", "64:ff9b:1::1", "2001:db8::1",
]
NEVER = ["0.0.0.0", "0.1.2.3", "::", "224.0.0.1", "239.255.255.250", "255.255.255.255", "240.0.0.1", "ff02::1",
         "::ffff:0.0.0.0", "::ffff:224.0.0.1"]


@pytest.mark.parametrize("text", PUBLIC)
def test_public_addresses(text: str) -> None:
    address = ipaddress.ip_address(text)
    assert is_public(address) and not is_forbidden(address)
    HostPolicy().check("example.com", [address])


@pytest.mark.parametrize("text", NEEDS_LISTING)
def test_private_loopback_and_link_local_need_listing(text: str) -> None:
    address = ipaddress.ip_address(text)
    assert not is_public(address) and not is_forbidden(address)
    with pytest.raises(HostNotAllowed, match="private, loopback or link-local"):
        HostPolicy().check("crm.lan", [address])
    HostPolicy.parse(["crm.lan"])[0].check("crm.lan", [address])  # listed by name
    HostPolicy.parse([text])[0].check("crm.lan", [address])  # listed by address


@pytest.mark.parametrize("text", NEVER)
def test_some_addresses_are_never_called_even_when_listed(text: str) -> None:
    address = ipaddress.ip_address(text)
    assert is_forbidden(address)
    with pytest.raises(HostNotAllowed, match="never called"):
        HostPolicy.parse(["crm.lan", "0.0.0.0/0", "::/0"])[0].check("crm.lan", [address])


def test_embedded_ipv4_forms() -> None:
    expected = {"::ffff:10.0.0.1": "10.0.0.1", "2002:a00:1::": "10.0.0.1", "64:ff9b::a00:1": "10.0.0.1",
                "::10.0.0.1": "10.0.0.1", "2001:0:4136:e378:8000:63bf:f5ff:fffe": "10.0.0.1", "::1": None,
                "2606:4700::1": None, "10.0.0.1": None}
    for text, inner in expected.items():
        found = embedded_ipv4(ipaddress.ip_address(text))
        assert (str(found) if found else None) == inner, text


def test_a_v4_network_lists_the_v4_mapped_form() -> None:
    policy = HostPolicy.parse(["192.168.0.0/16"])[0]
    policy.check("crm", [ipaddress.ip_address("::ffff:192.168.4.4")])
    with pytest.raises(HostNotAllowed):
        policy.check("crm", [ipaddress.ip_address("::ffff:10.0.0.1")])


def test_names_and_wildcards() -> None:
    policy, errors = HostPolicy.parse(["CRM.lan.", "*.corp.example", "bücher.de"])
    assert errors == {}
    loopback = [ipaddress.ip_address("127.0.0.1")]
    for host in ("crm.lan", "crm.LAN.", "a.corp.example", "x.y.corp.example", "xn--bcher-kva.de"):
        policy.check(host, loopback)
    for host in ("corp.example", "evilcorp.example", "crm.lan.evil", "other.lan"):
        with pytest.raises(HostNotAllowed):
            policy.check(host, loopback)


def test_only_listed_refuses_unlisted_public_hosts() -> None:
    public = [ipaddress.ip_address("93.184.216.34")]
    policy = HostPolicy.parse(["api.example.com"], only_listed=True)[0]
    policy.check("api.example.com", public)
    with pytest.raises(HostNotAllowed, match="not in the organisation's allowed hosts"):
        policy.check("other.example.com", public)


def test_entry_errors_are_keyed_by_index() -> None:
    policy, errors = HostPolicy.parse(["ok.lan", "crm.lan:8080", "10.0.0.1/8", "*.", "bad host", 7, "", "a" * 300,
                                       "10.0.0.0/8", "[fd00::1]"])
    assert errors == {
        "allowed_hosts.1": "list the host without a port",
        "allowed_hosts.2": "not a network: 10.0.0.1/8 has host bits set",
        "allowed_hosts.3": "a wildcard is *. followed by a host name, like *.corp.example",
        "allowed_hosts.4": "not a host name, an address (10.0.0.5) or a network (10.0.0.0/24)",
        "allowed_hosts.5": "must be a host name, an address or a network",
        "allowed_hosts.6": "must be a host name, an address or a network",
        "allowed_hosts.7": "at most 260 characters",
    }
    assert policy.names == {"ok.lan"} and len(policy.networks) == 2
    assert HostPolicy.parse("10.0.0.0/8")[1] == {"allowed_hosts": "must be a list of host names, addresses or "
                                                                  "networks"}
    assert HostPolicy.parse(["x.lan"] * 101)[1] == {"allowed_hosts": "at most 100 entries"}


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.text(max_size=40), st.integers(), st.none(), st.ip_addresses().map(str),
                          st.from_regex(r"\*?\.?[a-z0-9.:/\[\]-]{0,30}", fullmatch=True))))
def test_parsing_entries_never_raises(entries: list[object]) -> None:
    policy, errors = HostPolicy.parse(entries)
    assert all(key.startswith("allowed_hosts") for key in errors)
    assert isinstance(policy, HostPolicy)


@settings(max_examples=300, deadline=None)
@given(st.ip_addresses())
def test_every_address_gets_a_decision(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> None:
    try:
        HostPolicy().check("host", [address])
    except HostNotAllowed:
        assert not is_public(address)
    else:
        assert is_public(address)
