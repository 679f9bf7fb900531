"""The outbound request policy against a real HTTP server on loopback: allow-listing on resolved
addresses, connecting to the checked address, timeouts, size limits, redirects."""
from __future__ import annotations

import datetime
import gzip
import ipaddress
import socket
import ssl
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from agent.errors import (
    BadResponse,
    HostNotAllowed,
    OutboundBadUrl,
    OutboundTimeout,
    OutboundUnreachable,
    RedirectRefused,
    ResponseTooLarge,
)
from agent.hosts import HostPolicy, IPAddress
from agent.outbound_http import Limits, OutboundClient
from tests.user_system import UserSystem, hang, json_reply, redirect, sequence, text_reply, trickle

LOOPBACK = HostPolicy.parse(["127.0.0.1"])[0]
LOCALHOST_V4 = ipaddress.ip_address("127.0.0.1")


@pytest.fixture
async def system() -> AsyncIterator[UserSystem]:
    server = await UserSystem.start()
    yield server
    await server.close()


@pytest.fixture
async def outbound() -> AsyncIterator[OutboundClient]:
    client = OutboundClient()
    yield client
    await client.aclose()


def fixed_resolver(table: dict[str, list[str]]) -> tuple[list[str], OutboundClient]:
    """A client whose DNS is `table` (names unknown to the system resolver); logs each lookup."""
    lookups: list[str] = []

    async def resolve(host: str, port: int) -> Sequence[IPAddress]:
        lookups.append(host)
        if host not in table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [ipaddress.ip_address(a) for a in table[host]]
    return lookups, OutboundClient(resolver=resolve)


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_a_listed_loopback_address_is_called(system: UserSystem, outbound: OutboundClient) -> None:
    system.route("/customers", json_reply({"name": "Ada"}))
    response = await outbound.request("GET", system.url("/customers"), hosts=LOOPBACK)
    assert response.status == 200 and response.ok
    assert response.content_type == "application/json" and response.text() == '{"name": "Ada"}'
    assert system.paths() == ["/customers"]


async def test_a_private_address_is_refused_unless_listed(system: UserSystem, outbound: OutboundClient) -> None:
    system.route("/x", json_reply({}))
    for hosts in (HostPolicy(), HostPolicy.parse(["10.0.0.0/8", "crm.lan"])[0]):
        with pytest.raises(HostNotAllowed) as refused:
            await outbound.request("GET", system.url("/x"), hosts=hosts)
        assert refused.value.error_id == "tool-host-not-allowed"
        assert "allowed hosts" in str(refused.value)
    with pytest.raises(HostNotAllowed):  # the name is not the address: localhost resolves to loopback
        await outbound.request("GET", system.url("/x", host="localhost"), hosts=HostPolicy())
    assert system.received == []
    listed_as_network = HostPolicy.parse(["127.0.0.0/8"])[0]
    assert (await outbound.request("GET", system.url("/x"), hosts=listed_as_network)).status == 200


async def test_a_listed_name_is_called_at_the_address_that_was_checked(system: UserSystem) -> None:
    system.route("/ping", text_reply("pong"))
    lookups, client = fixed_resolver({"crm.test": ["127.0.0.1"]})
    try:
        response = await client.request("GET", f"http://crm.test:{system.port}/ping",
                                         hosts=HostPolicy.parse(["crm.test"])[0])
    finally:
        await client.aclose()
    assert response.text() == "pong"
    assert system.received[0].headers["host"] == f"crm.test:{system.port}"  # the name, on the checked address
    assert lookups == ["crm.test"]


async def test_dns_rebinding_cannot_move_the_connection(system: UserSystem) -> None:
    """The name resolves to the listed, serving address once, then to another one: the request
    still goes to the first (a client that resolved again to connect would be refused there)."""
    system.route("/ping", text_reply("pong"))
    answers = [["127.0.0.1"]]

    async def rebinding(host: str, port: int) -> Sequence[IPAddress]:
        current = answers[-1]
        answers.append(["127.0.0.2"])  # nothing listens there
        return [ipaddress.ip_address(a) for a in current]
    client = OutboundClient(resolver=rebinding)
    try:
        response = await client.request("GET", f"http://rebind.test:{system.port}/ping",
                                        hosts=HostPolicy.parse(["rebind.test"])[0])
    finally:
        await client.aclose()
    assert response.status == 200 and len(system.received) == 1


async def test_every_resolved_address_is_judged(system: UserSystem) -> None:
    _, client = fixed_resolver({"mixed.test": ["93.184.216.34", "127.0.0.1"], "public.test": ["93.184.216.34"]})
    try:
        with pytest.raises(HostNotAllowed, match="127.0.0.1"):
            await client.request("GET", f"http://mixed.test:{system.port}/", hosts=HostPolicy())
        with pytest.raises(HostNotAllowed, match="not in the organisation's allowed hosts"):
            await client.request("GET", "http://public.test/", hosts=HostPolicy(only_listed=True))
        with pytest.raises(OutboundUnreachable, match="cannot resolve"):
            await client.request("GET", "http://unknown.test/", hosts=HostPolicy())
    finally:
        await client.aclose()
    assert system.received == []


async def test_a_hanging_server_hits_the_read_timeout(system: UserSystem, outbound: OutboundClient) -> None:
    gone: list[float] = []
    system.route("/slow", hang(gone))
    started = time.monotonic()
    with pytest.raises(OutboundTimeout) as timed_out:
        await outbound.request("POST", system.url("/slow"), hosts=LOOPBACK, content=b"{}",
                               limits=Limits(read_s=0.3, total_s=5))
    assert timed_out.value.error_id == "tool-timeout"
    assert time.monotonic() - started < 2.0
    assert len(system.received) == 1


async def test_a_trickling_body_hits_the_total_timeout(system: UserSystem, outbound: OutboundClient) -> None:
    system.route("/drip", trickle([b"x"] * 50, every_s=0.1))
    started = time.monotonic()
    with pytest.raises(OutboundTimeout, match="within 0.6 s"):
        await outbound.request("GET", system.url("/drip"), hosts=LOOPBACK, limits=Limits(read_s=1, total_s=0.6))
    assert time.monotonic() - started < 2.0


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
async def test_a_large_body_is_cut_at_the_limit(system: UserSystem, outbound: OutboundClient, declared: bool) -> None:
    chunks = [b"a" * 1000] * 20
    system.route("/big", trickle(chunks, every_s=0, declared=20000 if declared else None))
    with pytest.raises(ResponseTooLarge) as too_large:
        await outbound.request("GET", system.url("/big"), hosts=LOOPBACK, limits=Limits(max_response_bytes=4096))
    assert too_large.value.error_id == "tool-response-too-large"
    cut = await outbound.request("GET", system.url("/big"), hosts=LOOPBACK,
                                 limits=Limits(max_response_bytes=4096, cut_oversize=True))
    assert cut.truncated and cut.body == b"a" * 4096


async def test_compressed_bodies_are_inflated_under_the_limit(system: UserSystem, outbound: OutboundClient) -> None:
    system.route("/small", text_reply(gzip.compress(b'{"ok": true}'), headers={"Content-Encoding": "gzip"}))
    system.route("/bomb", text_reply(gzip.compress(b"\0" * 20_000_000), headers={"Content-Encoding": "gzip"}))
    system.route("/br", text_reply(b"??", headers={"Content-Encoding": "br"}))
    small = await outbound.request("GET", system.url("/small"), hosts=LOOPBACK)
    assert small.body == b'{"ok": true}'
    with pytest.raises(ResponseTooLarge):
        await outbound.request("GET", system.url("/bomb"), hosts=LOOPBACK, limits=Limits(max_response_bytes=65536))
    with pytest.raises(BadResponse, match="unsupported content encoding 'br'"):
        await outbound.request("GET", system.url("/br"), hosts=LOOPBACK)


async def test_same_host_redirects_are_followed(system: UserSystem, outbound: OutboundClient) -> None:
    system.route("/old", redirect("/new", 301))
    system.route("/new", json_reply({"moved": True}))
    system.route("/form", redirect("/done", 303))
    system.route("/done", text_reply("thanks"))
    system.route("/keep", redirect("/new", 307))
    response = await outbound.request("GET", system.url("/old"), hosts=LOOPBACK)
    assert response.text() == '{"moved": true}' and response.url.endswith("/new")
    await outbound.request("POST", system.url("/form"), hosts=LOOPBACK, content=b'{"a":1}',
                           headers={"Content-Type": "application/json"})
    await outbound.request("POST", system.url("/keep"), hosts=LOOPBACK, content=b'{"b":2}')
    seen = [(r.method, r.path, r.body) for r in system.received]
    assert seen == [("GET", "/old", b""), ("GET", "/new", b""), ("POST", "/form", b'{"a":1}'),
                    ("GET", "/done", b""), ("POST", "/keep", b'{"b":2}'), ("POST", "/new", b'{"b":2}')]


async def test_redirects_to_another_host_are_refused(system: UserSystem, outbound: OutboundClient) -> None:
    everywhere = HostPolicy.parse(["127.0.0.0/8", "localhost"])[0]
    system.route("/away", redirect(system.url("/landed", host="localhost")))
    system.route("/landed", text_reply("should not be reached"))
    system.route("/loop", redirect("/loop"))
    system.route("/ftp", redirect("ftp://127.0.0.1/file"))
    with pytest.raises(RedirectRefused, match="another host") as refused:
        await outbound.request("GET", system.url("/away"), hosts=everywhere)
    assert refused.value.error_id == "tool-redirect-refused"
    with pytest.raises(RedirectRefused, match="more than 2 times"):
        await outbound.request("GET", system.url("/loop"), hosts=everywhere, limits=Limits(max_redirects=2))
    with pytest.raises(RedirectRefused):
        await outbound.request("GET", system.url("/ftp"), hosts=everywhere)
    assert "/landed" not in system.paths() and system.paths().count("/loop") == 3


@pytest.mark.parametrize("url", ["ftp://127.0.0.1/", "http://user:pw@127.0.0.1/", "http:///nohost", "no url",
                                 "file:///etc/passwd"])
async def test_bad_urls_are_refused(outbound: OutboundClient, url: str) -> None:
    with pytest.raises(OutboundBadUrl) as refused:
        await outbound.request("GET", url, hosts=LOOPBACK)
    assert refused.value.error_id == "tool-bad-url"


async def test_a_refused_connection_is_unreachable(outbound: OutboundClient) -> None:
    with pytest.raises(OutboundUnreachable) as failed:
        await outbound.request("GET", f"http://127.0.0.1:{closed_port()}/", hosts=LOOPBACK)
    assert failed.value.error_id == "tool-unreachable"


async def test_the_next_checked_address_is_tried_when_one_refuses(system: UserSystem) -> None:
    system.route("/ping", text_reply("pong"))
    _, client = fixed_resolver({"two.test": ["127.0.0.2", "127.0.0.1"]})
    try:
        response = await client.request("GET", f"http://two.test:{system.port}/ping",
                                        hosts=HostPolicy.parse(["two.test"])[0])
    finally:
        await client.aclose()
    assert response.text() == "pong"


async def test_any_status_is_a_response(system: UserSystem, outbound: OutboundClient) -> None:
    system.route("/err", sequence(text_reply("down", 503), json_reply({"error": "nope"}, 404)))
    first = await outbound.request("GET", system.url("/err"), hosts=LOOPBACK)
    second = await outbound.request("GET", system.url("/err"), hosts=LOOPBACK)
    assert (first.status, first.ok, second.status) == (503, False, 404)


async def test_ipv6_loopback_when_the_host_has_it(outbound: OutboundClient) -> None:
    try:
        system = await UserSystem.start("::1")
    except OSError:
        pytest.skip("no IPv6 loopback here")
    try:
        system.route("/v6", text_reply("six"))
        with pytest.raises(HostNotAllowed):
            await outbound.request("GET", system.url("/v6"), hosts=LOOPBACK)
        listed = HostPolicy.parse(["::1"])[0]
        assert (await outbound.request("GET", system.url("/v6"), hosts=listed)).text() == "six"
    finally:
        await system.close()


def certificate(directory: Path, name: str) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A self-signed certificate for `name`: (server context, client context trusting only it)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = directory / f"{name}.pem", directory / f"{name}.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert_file, key_file)
    client = ssl.create_default_context(cafile=str(cert_file))
    return server, client


async def test_https_to_the_checked_address_keeps_the_name_for_tls(tmp_path: Path) -> None:
    """The connection goes to the address, yet the certificate is checked against the host name
    (the TLS server name comes from the URL, not from the address)."""
    server_tls, client_tls = certificate(tmp_path, "crm.test")
    system = await UserSystem.start(tls=server_tls)
    system.route("/secure", text_reply("over tls"))
    table = {"crm.test": [ipaddress.ip_address("127.0.0.1")], "other.test": [ipaddress.ip_address("127.0.0.1")]}

    async def resolve(host: str, port: int) -> Sequence[IPAddress]:
        return table[host]
    client = OutboundClient(resolver=resolve, verify=client_tls)
    hosts = HostPolicy.parse(["crm.test", "other.test"])[0]
    try:
        response = await client.request("GET", f"https://crm.test:{system.port}/secure", hosts=hosts)
        assert response.text() == "over tls"
        assert system.received[0].headers["host"] == f"crm.test:{system.port}"
        with pytest.raises(OutboundUnreachable, match="CERTIFICATE_VERIFY_FAILED|hostname"):
            await client.request("GET", f"https://other.test:{system.port}/secure", hosts=hosts)
        assert len(system.received) == 1
    finally:
        await client.aclose()
        await system.close()
