"""Replay a golden trace (``tests/fixtures/asterisk-traces/*.jsonl``) against the fake and diff the outcome.

The replayer acts as the probe did: it issues the traced REST requests, opens the traced event
sockets, sends the traced media messages and performs the CLI actions through the fake's control
API. Before every action it waits (on conditions, never fixed sleeps) until the fake has produced
at least as many ARI events / media texts / media connections as the trace had at that point.

It then compares: per channel (trace id mapped to fake id) the sequence of event signatures and the
JSON shape of every event; every REST status, reason and normalised body; every media handshake,
the control messages per connection, and how sockets were closed.
"""
from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import websockets
from websockets.asyncio.client import connect

from ..fixtures import TRACES_DIR
from .core import FakeAsterisk
from .harness import EventsClient, MediaConn, MediaServer, wait_for

ARI_USER, ARI_PASS = "dograh", "secret123"


def traces_dir() -> Path:
    """The golden traces kept in the repo (tests/fixtures/asterisk-traces)."""
    return TRACES_DIR


@dataclass
class Rec:
    idx: int
    t: float
    channel: str
    dir: str
    kind: str
    payload: Any
    conn: int | None
    extra: dict[str, Any]


def load_trace(name: str) -> list[Rec]:
    recs = []
    with open(traces_dir() / f"{name}.jsonl") as fh:
        for i, line in enumerate(fh):
            r = json.loads(line)
            extra = {k: v for k, v in r.items() if k not in ("t", "channel", "dir", "kind", "payload", "conn")}
            recs.append(Rec(i, r["t"], r["channel"], r["dir"], r["kind"], r.get("payload"), r.get("conn"), extra))
    return recs


# ---------------------------------------------------------------------- normalisation
_PATTERNS = [
    (re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"), "<uuid>"),
    (re.compile(r"0x[0-9a-f]+"), "0x<ptr>"),
    (re.compile(r"\b\d{10}\.\d+\b"), "<uid>"),
    (re.compile(r"-[0-9a-f]{8};"), "-<seq>;"),
    (re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000"), "<ts>"),
    (re.compile(r"\b(ext-)\d+"), r"\1<k>"),
]
_COUNT_KEYS = {"channels", "channel_ids", "bridge_ids"}


def norm_str(s: str) -> str:
    for pattern, repl in _PATTERNS:
        s = pattern.sub(repl, s)
    return s


def normalize(obj: Any, key: str | None = None) -> Any:
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            if key == "channelvars" and k == "STASISSTATUS":
                continue  # present only when the 200 raced with the media connect
            out[k] = normalize(v, k)
        return out
    if isinstance(obj, list):
        if key in _COUNT_KEYS:
            return f"<{len(obj)} items>"
        return [normalize(v, key) for v in obj]
    if isinstance(obj, str):
        return norm_str(obj)
    return obj


def shape(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: shape(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [shape(obj[0])] if obj else []
    return type(obj).__name__


def channel_kind(name: str) -> str:
    if name.startswith("WebSocket/INCOMING/"):
        return "ws_server"
    if name.startswith("WebSocket/"):
        return "extmedia"
    if name.startswith("Local/") and name.endswith(";2") and "@from-external" in name:
        return "inbound"
    if name.startswith("Local/") and name.endswith(";1"):
        return "outbound1"
    if name.startswith("Local/"):
        return "outbound2"
    return "other"


def event_signature(e: dict[str, Any]) -> tuple[Any, ...]:
    t = e.get("type")
    ch = e.get("channel") or {}
    sig: list[Any] = [t]
    if ch:
        sig += [ch.get("state"), ch.get("dialplan", {}).get("app_name")]
    if t == "ChannelVarset":
        value = e.get("value")
        sig += [e.get("variable"), bool(value) if e.get("variable") == "BRIDGEPEER" else value]
    elif t == "ChannelHangupRequest":
        sig += [e.get("cause"), e.get("soft"), e.get("tech_cause")]
    elif t == "ChannelDestroyed":
        sig += [e.get("cause"), e.get("cause_txt"), e.get("tech_cause")]
    elif t == "Dial":
        peer = e.get("peer") or {}
        sig += [e.get("dialstatus"), norm_str(str(e.get("dialstring"))), peer.get("state"), peer.get("dialplan", {}).get("app_name")]
    elif t == "StasisStart":
        sig += [tuple(e.get("args", []))]
    elif t == "ChannelDtmfReceived":
        sig += [e.get("digit"), e.get("duration_ms")]
    elif t in ("ChannelEnteredBridge", "ChannelLeftBridge", "BridgeDestroyed"):
        sig += [len(e["bridge"]["channels"]), e["bridge"]["technology"]]
    elif t == "ChannelDialplan":
        sig += [e.get("dialplan_app")]
    elif t == "ChannelCallerId":
        sig += [e.get("caller_presentation")]
    return tuple(sig)


def media_signature(text: str) -> tuple[Any, ...]:
    """Control message type and the fields that are protocol facts (ids, queue lengths masked)."""
    if text.startswith("{"):
        obj = json.loads(text)
        keep = {k: v for k, v in obj.items() if k not in ("channel", "channel_id", "queue_length")}
        if "channel_variables" in keep:
            keep["channel_variables"] = normalize(keep["channel_variables"])
        return ("json", tuple(sorted((k, json.dumps(v, sort_keys=True)) for k, v in keep.items())))
    if text.startswith("ERROR "):
        return ("ERROR", text.partition("error_text:")[2])
    head, _, rest = text.partition(" ")
    fields = []
    for tok in rest.split(" ") if rest else []:
        k, sep, v = tok.partition(":")
        if not sep:
            fields.append(tok)
        elif k not in ("channel", "channel_id", "queue_length"):
            fields.append(f"{k}:{norm_str(v)}")
    return (head, tuple(fields))


# ---------------------------------------------------------------------- replayer
@dataclass
class Diff:
    problems: list[str] = field(default_factory=list)

    def add(self, msg: str) -> None:
        self.problems.append(msg)


Hook = Callable[["Replayer", Rec], Awaitable[None]]


class Replayer:
    def __init__(self, name: str, fake: FakeAsterisk, media: MediaServer, *, caller_audio: bytes = b"") -> None:
        self.name = name
        self.recs = load_trace(name)
        self.fake = fake
        self.media = media
        self.caller_audio = caller_audio
        self.http = httpx.AsyncClient(base_url=fake.ari_url, auth=(ARI_USER, ARI_PASS), timeout=10.0, trust_env=False)
        self.clients: list[EventsClient] = []
        self.ws2: EventsClient | None = None
        self.responses: list[tuple[Rec, dict[str, Any]]] = []  # (trace response rec, fake response)
        self.fake_log: list[tuple[str, Any]] = []  # ("event"|"response", obj) in arrival order
        self.event_offset = 0
        self.notes_hooks: dict[str, Hook] = {}
        self.after_text_hooks: dict[str, Hook] = {}
        self.before_request_hooks: list[tuple[Callable[[Rec], bool], Hook]] = []
        self.sync_timeout = 15.0
        self.hung_by_cli: set[str] = set()
        self.restarting = False
        self.last_bin_seq: dict[int, int] = {}
        self.diff = Diff()
        self.rejections: list[tuple[Rec, dict[str, Any]]] = []
        self._pending_response_recs: list[Rec] = []
        self._bg: list[asyncio.Task[Any]] = []
        self._trace_seen: dict[str, list[str]] = self.trace_first_seen()

    # ---------------------------------------------------------------- counts
    @property
    def main_events(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for c in self.clients:
            out += c.events
        return out

    def trace_counts(self, upto: int) -> tuple[int, dict[int, int], int]:
        n_events = 0
        texts: dict[int, int] = {}
        conns = 0
        for r in self.recs[:upto]:
            if r.channel == "ari_ws" and r.kind == "event" and isinstance(r.payload, dict):
                n_events += 1
            elif r.channel == "media_ws" and r.dir == "in" and r.kind == "text":
                texts[r.conn or 0] = texts.get(r.conn or 0, 0) + 1
            elif r.channel == "media_ws" and r.kind == "handshake":
                conns += 1
        return n_events, texts, conns

    async def sync(self, upto: int, *, events_only: bool = False) -> None:
        n_events, texts, conns = self.trace_counts(upto)
        if events_only:
            # A far-end action (DTMF): its own DTMF_END may precede its ARI event in the trace.
            for r in reversed(self.recs[:upto]):
                if r.channel == "ari_ws":
                    break
                if r.channel == "media_ws" and r.kind == "text" and "DTMF_END" in str(r.payload):
                    texts[r.conn or 0] -= 1

        def ready() -> bool:
            if len(self.main_events) < n_events or len(self.media.conns) < conns:
                return False
            for conn, n in texts.items():
                if conn > len(self.media.conns) or len(self.media.conns[conn - 1].texts) < n:
                    return False
            return True

        try:
            await wait_for(ready, self.sync_timeout)
        except TimeoutError:
            got_texts = {i + 1: len(c.texts) for i, c in enumerate(self.media.conns)}
            raise AssertionError(
                f"[{self.name}] before trace record {upto}: expected >= {n_events} events, {conns} media conns, "
                f"texts {texts}; got {len(self.main_events)} events, {len(self.media.conns)} conns, texts {got_texts}.\n"
                f"last events: {[e.get('type') for e in self.main_events[-8:]]}"
            ) from None

    # ---------------------------------------------------------------- id mapping
    def _first_seen(self, items: list[Any]) -> dict[str, list[str]]:
        seen: dict[str, list[str]] = {}
        known: set[str] = set()

        def visit(obj: Any) -> None:
            if isinstance(obj, dict):
                if isinstance(obj.get("id"), str):
                    if "technology" in obj:
                        kind = "bridge"
                    elif isinstance(obj.get("name"), str) and "dialplan" in obj:
                        kind = channel_kind(obj["name"])
                    else:
                        kind = None
                    if kind and obj["id"] not in known:
                        known.add(obj["id"])
                        seen.setdefault(kind, []).append(obj["id"])
                for v in obj.values():
                    visit(v)
            elif isinstance(obj, list):
                for v in obj:
                    visit(v)

        for item in items:
            visit(item)
        return seen

    def trace_first_seen(self) -> dict[str, list[str]]:
        items = []
        for r in self.recs:
            if r.channel == "ari_ws" and r.kind == "event":
                items.append(r.payload)
            elif r.channel == "ari_http" and r.kind == "response" and isinstance(r.payload, dict):
                items.append(r.payload.get("body"))
        return self._first_seen(items)

    def fake_first_seen(self) -> dict[str, list[str]]:
        return self._first_seen([obj for _, obj in self.fake_log] + self.main_events)

    def map_id(self, trace_id: str) -> str | None:
        tseen = self._trace_seen
        fseen = self.fake_first_seen()
        for kind, ids in tseen.items():
            if trace_id in ids:
                k = ids.index(trace_id)
                fids = fseen.get(kind, [])
                return fids[k] if k < len(fids) else None
        return None

    def subst(self, value: Any) -> Any:
        if isinstance(value, str):
            def repl(m: re.Match[str]) -> str:
                return self.map_id(m.group(0)) or m.group(0)

            value = re.sub(r"\b\d{10}\.\d+\b", repl, value)
            value = re.sub(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", repl, value)
            return value
        if isinstance(value, dict):
            return {k: self.subst(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.subst(v) for v in value]
        return value

    # ---------------------------------------------------------------- running
    async def run(self) -> Diff:
        try:
            i = 0
            while i < len(self.recs):
                rec = self.recs[i]
                await self.step(rec)
                i += 1
            await self.sync(len(self.recs))
            for task in self._bg:
                await task
        finally:
            await self.close()
        self.compare()
        return self.diff

    async def close(self) -> None:
        for c in self.clients + ([self.ws2] if self.ws2 else []):
            await c.close()
        await self.http.aclose()

    def _next(self, rec: Rec, pred: Callable[[Rec], bool]) -> Rec | None:
        return next((r for r in self.recs[rec.idx + 1 :] if pred(r)), None)

    async def step(self, rec: Rec) -> None:
        ch, d, kind, p = rec.channel, rec.dir, rec.kind, rec.payload
        if ch == "meta" and kind == "note":
            for key, hook in self.notes_hooks.items():
                if isinstance(p, str) and p.startswith(key):
                    await self.sync(rec.idx)
                    await hook(self, rec)
            if isinstance(p, str) and p.startswith("media ws server listening"):
                if rec.idx > 5:  # the first one is the harness's own start
                    await self.media.start(port=self.media.port, subprotocols=None if p.endswith("None") else ("media",))
            elif isinstance(p, str) and p.startswith("(a) media server stopped"):
                await self.media.stop()
            return
        if ch == "ari_ws" and d == "out" and kind == "connect":
            await self.sync(rec.idx)
            await self.ws_connect(rec)
            return
        if ch == "ari_ws" and d == "in" and kind == "closed" and isinstance(p, dict):
            await self.sync(rec.idx)
            if p.get("rcvd_code") is None:
                client = self.clients[-1]
                await asyncio.wait_for(client.closed.wait(), 10)
                if client.close_info and client.close_info.rcvd_code is not None:
                    self.diff.add(f"events socket got a close frame on restart: {client.close_info}")
            else:
                client = self.clients[-1]
                await client.close()
                info = client.close_info
                if info is None or (info.rcvd_code, info.sent_code) != (p["rcvd_code"], p["sent_code"]):
                    self.diff.add(f"events socket close: expected {p}, got {info}")
            return
        if ch == "ari_ws" and d == "in" and kind == "event" and isinstance(p, dict):
            await self.spontaneous(rec)
            return
        if ch == "ari_http" and d == "out" and kind == "request":
            await self.sync(rec.idx)
            for pair in list(self.before_request_hooks):
                if pair[0](rec):
                    self.before_request_hooks.remove(pair)
                    await pair[1](self, rec)
            await self.http_request(rec)
            return
        if ch == "cli" and d == "out" and kind == "command":
            await self.sync(rec.idx)
            await self.cli(rec)
            return
        if ch == "media_ws" and d == "out":
            await self.sync(rec.idx)
            await self.media_out(rec)
            return

    # ---------------------------------------------------------------- actions
    async def ws_connect(self, rec: Rec) -> None:
        url = str(rec.payload["url"]).replace("ws://127.0.0.1:8088", self.fake.ws_base_url)
        nxt = self._next(rec, lambda r: r.channel == "ari_ws" and r.dir == "in")
        if nxt is not None and nxt.kind == "rejected":
            try:
                ws = await connect(url, proxy=None)
            except websockets.InvalidStatus as exc:
                resp = exc.response
                got = {
                    "status": resp.status_code,
                    "reason": resp.reason_phrase,
                    "headers": {k.lower(): v for k, v in resp.headers.raw_items()},
                    "body": resp.body.decode(errors="replace") if resp.body else None,
                }
                self.rejections.append((nxt, got))
            else:
                await ws.close()
                self.diff.add(f"events connect {url} should have been rejected")
            return
        if nxt is not None and nxt.kind == "reconnect_failed":
            try:
                ws = await connect(url, proxy=None, open_timeout=2)
            except OSError:
                return
            await ws.close()
            self.diff.add("events socket reconnect during the restart downtime should be refused")
            return
        client = EventsClient()

        async def attempt() -> bool:
            try:
                await client.connect(url)
                return True
            except OSError:
                return False

        loop = asyncio.get_running_loop()
        deadline = loop.time() + 10
        while not await attempt():
            if loop.time() > deadline:
                raise AssertionError(f"could not connect {url}")
            await asyncio.sleep(0.05)
        if client.ws is not None and client.ws.subprotocol is not None:
            self.diff.add(f"events socket selected a subprotocol: {client.ws.subprotocol}")
        self.clients.append(client)
        self._watch(client)

    def _watch(self, client: EventsClient) -> None:
        async def pump() -> None:
            seen = 0
            while not client.closed.is_set() or seen < len(client.events):
                while seen < len(client.events):
                    self.fake_log.append(("event", client.events[seen]))
                    seen += 1
                await asyncio.sleep(0.002)

        self._bg.append(asyncio.get_running_loop().create_task(pump()))

    async def http_request(self, rec: Rec) -> None:
        p = rec.payload
        path = self.subst(p["path"])
        assert path.startswith("/ari")
        path = path[len("/ari") :]
        params = self.subst(p.get("params")) if p.get("params") else None
        body = self.subst(p.get("json")) if "json" in p else None
        responses = []
        j = rec.idx + 1
        while j < len(self.recs) and not (self.recs[j].channel == "ari_http" and self.recs[j].kind == "request"):
            if self.recs[j].channel == "ari_http" and self.recs[j].kind == "response":
                responses.append(self.recs[j])
            j += 1
        if p.get("note") == "no credentials":
            plain = httpx.AsyncClient(timeout=10.0, trust_env=False)
            try:
                for resp_rec, url in zip(
                    responses,
                    [
                        f"{self.fake.ari_url}/asterisk/info",
                        f"{self.fake.ari_url}/asterisk/info?api_key={ARI_USER}:{ARI_PASS}",
                        f"{self.fake.ari_url}/asterisk/info?api_key={ARI_USER}:bad",
                    ],
                ):
                    r = await plain.get(url)
                    self.responses.append((resp_rec, {"status": r.status_code, "reason": r.reason_phrase, "text": r.text, "headers": dict(r.headers)}))
            finally:
                await plain.aclose()
            return
        resp_rec = responses[0] if responses else None
        auth: Any = None
        if resp_rec is not None and resp_rec.payload.get("status") == 401:
            auth = ("dograh", "wrongpass") if not any(x[0].payload.get("status") == 401 for x in self.responses) else ("nouser", ARI_PASS)
        kwargs: dict[str, Any] = {"params": params}
        if body is not None:
            kwargs["json"] = body
        if auth is not None:
            kwargs["auth"] = auth
        r = await self.http.request(p["method"], path, **kwargs)
        try:
            rbody = r.json() if r.content else None
        except ValueError:
            rbody = r.text
        got = {"status": r.status_code, "reason": r.reason_phrase, "body": rbody}
        self.fake_log.append(("response", rbody))
        if resp_rec is not None:
            self.responses.append((resp_rec, got))

    async def cli(self, rec: Rec) -> None:
        cmd = str(rec.payload)
        m = re.match(r"channel originate Local/(\w+)@([\w-]+) extension s@([\w-]+)", cmd)
        if m:
            exten, context, caller_ctx = m.groups()
            echo = caller_ctx in ("caller-play-echo", "caller-echo")
            audio = self.caller_audio if caller_ctx.startswith(("caller-play", "caller-json")) else None
            await self.fake.place_inbound_call("", exten, audio, context=context, echo=echo)
            return
        m = re.match(r"channel request hangup (\S+);1", cmd)
        if m:
            half2 = m.group(1) + ";2"
            trace_id = next(
                r.payload["channel"]["id"]
                for r in self.recs
                if r.kind == "event" and isinstance(r.payload, dict) and r.payload.get("channel", {}).get("name") == half2
            )
            fake_id = self.map_id(trace_id)
            assert fake_id, f"unmapped channel {trace_id}"
            self.hung_by_cli.add(trace_id)
            await self.fake.caller_hangup(fake_id, 0)
            return
        if cmd == "core restart now":
            self.restarting = True
            self._bg.append(asyncio.get_running_loop().create_task(self.fake.restart(downtime_s=0.5, drop_delay_s=0.05)))
            return
        if cmd.startswith("module reload"):
            return
        raise AssertionError(f"unknown CLI command {cmd!r}")

    async def spontaneous(self, rec: Rec) -> None:
        """Events the far end caused on its own (dialplan SendDTMF / Hangup)."""
        e = rec.payload
        chan = e.get("channel") or {}
        if channel_kind(chan.get("name", "")) != "inbound" or self.restarting:
            return
        trace_id = chan["id"]
        if e["type"] == "ChannelDtmfReceived":
            await self.sync(rec.idx, events_only=True)
            fake_id = self.map_id(trace_id)
            assert fake_id
            await self.fake.press_dtmf(fake_id, e["digit"], e.get("duration_ms", 100))
        elif e["type"] == "ChannelHangupRequest" and not e.get("soft") and trace_id not in self.hung_by_cli:
            await self.sync(rec.idx, events_only=True)
            fake_id = self.map_id(trace_id)
            assert fake_id
            self.hung_by_cli.add(trace_id)
            await self.fake.caller_hangup(fake_id, e.get("cause", 0))

    def conn(self, index: int) -> MediaConn:
        return self.media.conns[index - 1]

    async def send_frames(self, conn: MediaConn, n: int, size: int = 160) -> None:
        for k in range(n):
            try:
                await conn.send_binary(bytes([0x80 + (k % 64)]) * size)
            except websockets.ConnectionClosed:
                return

    async def media_out(self, rec: Rec) -> None:
        conn = self.conn(rec.conn or 1)
        p = rec.payload
        try:
            if rec.kind == "text":
                await conn.send_text(p)
                hook = self.after_text_hooks.get(p)
                if hook is not None:
                    await hook(self, rec)
            elif rec.kind == "binary":
                head = bytes.fromhex(p["head_hex"])
                data = (head + b"\xff" * p["size"])[: p["size"]]
                await conn.send_binary(data)
                seq = rec.extra.get("seq")
                if seq is not None:
                    self.last_bin_seq[rec.conn or 1] = seq
                    nxt = self._next(rec, lambda r: r.channel == "media_ws" and r.kind == "binary" and r.dir == "out" and r.conn == rec.conn)
                    if nxt is not None and nxt.extra.get("seq", seq + 1) > seq + 1:
                        # the probe stopped logging inside a burst: the missing frames follow right here
                        await self.send_frames(conn, nxt.extra["seq"] - seq - 1, p["size"] if p["size"] == 160 else 160)
            elif rec.kind == "close":
                await conn.close(p.get("code", 1000))
        except websockets.ConnectionClosed:
            pass

    # ---------------------------------------------------------------- comparison
    def compare(self) -> None:
        self._compare_events()
        self._compare_responses()
        self._compare_media()
        self._compare_rejections()

    def _compare_events(self) -> None:
        trace_by_id: dict[str, list[dict[str, Any]]] = {}
        other_trace: list[str] = []
        for r in self.recs:
            if r.channel == "ari_ws" and r.kind == "event" and isinstance(r.payload, dict):
                key = self._event_key(r.payload)
                if key is None:
                    other_trace.append(r.payload["type"])
                else:
                    trace_by_id.setdefault(key, []).append(r.payload)
        fake_by_id: dict[str, list[dict[str, Any]]] = {}
        other_fake: list[str] = []
        for e in self.main_events[self.event_offset :]:
            key = self._event_key(e)
            if key is None:
                other_fake.append(e.get("type", "?"))
            else:
                fake_by_id.setdefault(key, []).append(e)
        if sorted(other_trace) != sorted(other_fake):
            self.diff.add(f"non-channel events differ: trace {other_trace} fake {other_fake}")
        mapped: set[str] = set()
        for trace_id, tevents in trace_by_id.items():
            fake_id = self.map_id(trace_id)
            if fake_id is None:
                self.diff.add(f"trace object {trace_id} ({[e['type'] for e in tevents]}) has no counterpart in the fake")
                continue
            mapped.add(fake_id)
            fevents = fake_by_id.get(fake_id, [])
            tsig = [event_signature(e) for e in tevents]
            fsig = [event_signature(e) for e in fevents]
            if tsig != fsig:
                self.diff.add(f"events for {trace_id}->{fake_id} differ:\n  trace: {tsig}\n  fake:  {fsig}")
                continue
            for te, fe in zip(tevents, fevents):
                if shape(te) != shape(fe):
                    self.diff.add(f"{te['type']} JSON shape differs:\n  trace: {shape(te)}\n  fake:  {shape(fe)}")
        for fake_id, fevents in fake_by_id.items():
            if fake_id not in mapped:
                self.diff.add(f"fake produced events for unexpected object {fake_id}: {[e.get('type') for e in fevents]}")

    @staticmethod
    def _event_key(e: dict[str, Any]) -> str | None:
        if "channel" in e:
            return e["channel"]["id"]
        if "peer" in e:
            return e["peer"]["id"]
        if "bridge" in e:
            return e["bridge"]["id"]
        return None

    def _compare_responses(self) -> None:
        for trace_rec, got in self.responses:
            want = trace_rec.payload
            if want.get("status") != got["status"]:
                self.diff.add(f"HTTP status for record {trace_rec.idx}: trace {want.get('status')} fake {got['status']} ({got})")
                continue
            if "reason" in want and want["reason"] != got["reason"]:
                self.diff.add(f"HTTP reason for record {trace_rec.idx}: trace {want['reason']!r} fake {got['reason']!r}")
            if "body" in want and "text" not in got:
                if normalize(want["body"]) != normalize(got["body"]):
                    self.diff.add(f"HTTP body for record {trace_rec.idx}:\n  trace: {normalize(want['body'])}\n  fake:  {normalize(got['body'])}")
            if "text" in got:
                if "body" in want and want["body"] != got["text"]:
                    self.diff.add(f"HTTP text body for record {trace_rec.idx}: trace {want['body']!r} fake {got['text']!r}")
                if "body_prefix" in want and not got["text"].startswith(want["body_prefix"][:40]):
                    self.diff.add(f"HTTP body prefix for record {trace_rec.idx}: {got['text'][:60]!r}")
                for h in ("www-authenticate", "content-type", "content-length", "server", "cache-control"):
                    if h in want.get("headers", {}) and want["headers"][h] != got["headers"].get(h):
                        self.diff.add(f"header {h}: trace {want['headers'][h]!r} fake {got['headers'].get(h)!r}")

    def _compare_media(self) -> None:
        trace_conns: dict[int, dict[str, Any]] = {}
        for r in self.recs:
            if r.channel != "media_ws" or r.conn is None:
                continue
            c = trace_conns.setdefault(r.conn, {"texts": [], "handshake": None, "closed": None})
            if r.kind == "handshake":
                c["handshake"] = r.payload
            elif r.kind == "text" and r.dir == "in":
                c["texts"].append(r.payload)
            elif r.kind == "closed":
                c["closed"] = r.payload
        if len(trace_conns) != len(self.media.conns):
            self.diff.add(f"media connections: trace {len(trace_conns)} fake {len(self.media.conns)}")
        for index, want in sorted(trace_conns.items()):
            if index > len(self.media.conns):
                continue
            got = self.media.conns[index - 1]
            hs = want["handshake"]
            if hs is not None:
                if norm_str(hs["path"]) != norm_str(got.path):
                    self.diff.add(f"media conn {index} path: trace {hs['path']} fake {got.path}")
                if sorted(k.lower() for k in hs["headers"]) != sorted(k.lower() for k, _ in got.headers):
                    self.diff.add(f"media conn {index} headers: trace {sorted(hs['headers'])} fake {sorted(k for k, _ in got.headers)}")
                if hs["headers"].get("Sec-WebSocket-Protocol") != dict(got.headers).get("Sec-WebSocket-Protocol"):
                    self.diff.add(f"media conn {index} requested subprotocol differs")
                if hs.get("selected_subprotocol") != got.subprotocol:
                    self.diff.add(f"media conn {index} selected subprotocol: trace {hs.get('selected_subprotocol')} fake {got.subprotocol}")
            tsig = [media_signature(t) for t in want["texts"]]
            fsig = [media_signature(t) for t in got.texts]
            if tsig != fsig:
                self.diff.add(f"media conn {index} control messages differ:\n  trace: {tsig}\n  fake:  {fsig}")
            if want["closed"] is not None:
                info = got.close_info
                w = want["closed"]
                if info is None or (info.rcvd_code, info.peer_closed_first) != (w["rcvd_code"], w["peer_closed_first"]):
                    self.diff.add(f"media conn {index} close: trace rcvd={w['rcvd_code']} asterisk_first={w['peer_closed_first']}, fake {info}")

    def _compare_rejections(self) -> None:
        for want_rec, got in self.rejections:
            want = want_rec.payload
            for key in ("status", "reason", "body"):
                if want[key] != got[key]:
                    self.diff.add(f"events reject {key}: trace {want[key]!r} fake {got[key]!r}")
            want_headers = {k.lower(): v for k, v in want["headers"].items()}
            for h in ("www-authenticate", "content-type", "content-length", "server", "cache-control"):
                if want_headers.get(h) != got["headers"].get(h):
                    self.diff.add(f"events reject header {h}: trace {want_headers.get(h)!r} fake {got['headers'].get(h)!r}")
