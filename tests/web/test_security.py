"""The workbench's safety: the token on non-loopback binds, the Host and
Origin checks, paths only under --trace-dir, size-limited streamed uploads,
and trace contents (DNS names, HTTP headers, pcapng comments holding
``<script>``) shown as text on every page."""

from __future__ import annotations

import os
import socket
import struct
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import pcapgen
from tests.web.conftest import HOST, Bench, corpus_file, make_bench

TOKEN = "s3cret-token-for-tests"


# -- the token -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def exposed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bench]:
    """A workbench configured for a non-loopback bind, with a token."""
    from tracedoc.web.security import token_for

    token = token_for("0.0.0.0", TOKEN)
    b = make_bench(tmp_path_factory.mktemp("exposed"), host="0.0.0.0", token=token)
    with b.client:
        yield b


def test_a_non_loopback_bind_gets_a_token() -> None:
    from tracedoc.web.security import is_loopback, token_for

    made = token_for("0.0.0.0", None)
    assert made and len(made) >= 24 and made != token_for("0.0.0.0", None)
    assert token_for("192.0.2.7", None)
    assert token_for("127.0.0.1", None) is None and token_for("::1", None) is None
    assert token_for("localhost", None) is None
    assert token_for("127.0.0.1", "given-token") == "given-token"
    assert not is_loopback("0.0.0.0") and not is_loopback("example.org") and is_loopback("[::1]")


@pytest.mark.parametrize("path", ["/", "/traces", "/traces/1/summary", "/static/app.js", "/traces/add"])
def test_without_the_token_401(exposed: Bench, path: str) -> None:
    r = exposed.client.get(path)
    assert r.status_code == 401
    assert "token" in r.text
    assert exposed.client.get(path, headers={"Authorization": "Bearer wrong-token"}).status_code == 401
    assert exposed.client.get(path, headers={"Cookie": "tracedoc_token=wrong"}).status_code == 401
    assert exposed.client.post("/traces/add", data={"path": "x"}).status_code == 401


def test_with_the_token_in_the_header(exposed: Bench) -> None:
    r = exposed.client.get("/traces", headers={"Authorization": f"Bearer {TOKEN}"})
    assert r.status_code == 200 and 'id="add-path-form"' in r.text


def test_with_the_token_in_the_cookie(exposed: Bench) -> None:
    from fastapi.testclient import TestClient

    c = TestClient(exposed.client.app, base_url="http://192.0.2.10:8765")
    first = c.get(f"/traces?token={TOKEN}&x=1", follow_redirects=False)
    assert first.status_code == 303
    assert first.headers["location"] == "/traces?x=1"  # the token leaves the address
    cookie = first.headers["set-cookie"]
    assert cookie.startswith(f"tracedoc_token={TOKEN}") and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert c.get("/traces").status_code == 200
    fresh = TestClient(exposed.client.app, base_url="http://192.0.2.10:8765")
    assert fresh.get("/traces", headers={"Cookie": f"tracedoc_token={TOKEN}"}).status_code == 200
    assert fresh.get(f"/traces?token=wrong{TOKEN}", follow_redirects=False).status_code == 401


def test_loopback_refuses_other_host_names(bench: Bench) -> None:
    """DNS rebinding: a page whose name now points at 127.0.0.1 gets nothing."""
    r = bench.client.get("/traces", headers={"Host": "evil.example:8765"})
    assert r.status_code == 400
    for host in ("127.0.0.1:8765", "localhost:8765", "[::1]:8765"):
        assert bench.client.get("/traces", headers={"Host": host}).status_code == 200


def test_cross_site_posts_are_refused(bench: Bench) -> None:
    p = corpus_file("retr.pcap")
    dest = bench.trace_dir / "csrf.pcap"
    dest.write_bytes(p.read_bytes())
    before = len(bench.inv.list())
    r = bench.client.post("/traces/add", data={"path": str(dest)}, headers={"Origin": "http://evil.example"})
    assert r.status_code == 403
    assert len(bench.inv.list()) == before
    ok = bench.client.post("/traces/add", data={"path": str(dest)}, headers={"Origin": HOST},
                           follow_redirects=False)
    assert ok.status_code == 303


# -- paths --------------------------------------------------------------------------------------------


def test_paths_outside_the_trace_dirs_are_refused(bench: Bench, tmp_path: Path) -> None:
    outside = tmp_path / "outside.pcap"
    outside.write_bytes(corpus_file("retr.pcap").read_bytes())
    link = bench.trace_dir / "link-out.pcap"
    link.symlink_to(outside)
    before = len(bench.inv.list())
    for path in (str(outside), "/etc/passwd", str(bench.trace_dir / ".." / "x.pcap"), "../outside.pcap",
                 str(link), "link-out.pcap", str(bench.trace_dir)):
        r = bench.client.post("/traces/add", data={"path": path})
        assert r.status_code == 400, path
        assert 'data-kind="error"' in r.text
    assert len(bench.inv.list()) == before
    # The files list leaves out links that lead outside.
    listed = bench.client.get("/traces").text
    assert "link-out.pcap" not in listed


def test_a_relative_path_under_the_trace_dir(bench: Bench) -> None:
    (bench.trace_dir / "sub").mkdir(exist_ok=True)
    (bench.trace_dir / "sub" / "rel.pcap").write_bytes(corpus_file("ipv6.pcap").read_bytes())
    r = bench.client.post("/traces/add", data={"path": "sub/rel.pcap", "tags": "ipv6 ftp", "note": "relative"},
                          follow_redirects=False)
    assert r.status_code == 303
    rec = [t for t in bench.inv.list() if t.name == "rel.pcap"][0]
    assert set(rec.tags) == {"ipv6", "ftp"} and rec.notes == ["relative"]


def test_allowed_path_unit(tmp_path: Path) -> None:
    from tracedoc.web.security import PathRefused, allowed_path

    d = tmp_path / "d"
    d.mkdir()
    (d / "a.pcap").write_bytes(b"x")
    (tmp_path / "secret").write_bytes(b"x")
    (d / "in-link").symlink_to(d / "a.pcap")
    assert allowed_path(str(d / "a.pcap"), [d]) == (d / "a.pcap").resolve()
    assert allowed_path("in-link", [d]) == (d / "a.pcap").resolve()
    for bad in ("../secret", str(d / ".." / "secret"), str(tmp_path / "secret"), "", "a\0b", "nope.pcap"):
        with pytest.raises(PathRefused):
            allowed_path(bad, [d])
    with pytest.raises(PathRefused):
        allowed_path(str(d / "a.pcap"), [])


# -- uploads ----------------------------------------------------------------------------------------------


def test_upload_within_the_limit(bench: Bench) -> None:
    data = corpus_file("ftp-password-pass-command.pcap").read_bytes()
    r = bench.client.post("/traces/upload", files={"file": ("evil name<script>.pcap", data)},
                          data={"tags": "uploaded", "note": "by upload"}, follow_redirects=False)
    assert r.status_code == 303, r.text
    rec = [t for t in bench.inv.list() if "uploaded" in t.tags][0]
    assert rec.packets > 0 and rec.notes == ["by upload"]
    stored = Path(rec.path)
    assert stored.parent == bench.upload_dir and stored.read_bytes() == data
    assert "<" not in stored.name and "/" not in stored.name
    raw = bench.client.post("/traces/upload?name=raw.pcap", content=corpus_file("ipv4.pcap").read_bytes(),
                            headers={"Content-Type": "application/octet-stream", "Accept": "application/json"})
    assert raw.status_code == 200 and raw.json()["packets"] > 0


def test_upload_of_garbage_is_refused_and_removed(bench: Bench) -> None:
    before = set(os.listdir(bench.upload_dir)) if bench.upload_dir.exists() else set()
    r = bench.client.post("/traces/upload", files={"file": ("junk.pcap", b"not a trace at all" * 10)})
    assert r.status_code == 400 and "not a trace" in r.text
    assert set(os.listdir(bench.upload_dir)) == before


def test_sink_stops_at_the_limit(tmp_path: Path) -> None:
    """The body is read only up to the limit: one chunk past it, reading stops."""
    import asyncio

    from tracedoc.web.security import Sink, UploadTooLarge, save_raw

    pulled = 0

    async def chunks() -> Iterator[bytes]:  # type: ignore[misc]
        nonlocal pulled
        for _ in range(1000):
            pulled += 1
            yield b"x" * 65536

    sink = Sink(tmp_path / "up", 1_000_000)
    with pytest.raises(UploadTooLarge):
        asyncio.run(save_raw(chunks(), sink))  # type: ignore[arg-type]
    assert pulled == 1_000_000 // 65536 + 1
    assert not (tmp_path / "up").exists()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Path]]:
    """A real uvicorn server (HTTP/1.1 over a socket), uploads limited to 1 MiB."""
    import uvicorn

    from tracedoc.store import Inventory
    from tracedoc.web.app import WebConfig, build

    tmp = tmp_path_factory.mktemp("served")
    uploads = tmp / "uploads"
    cfg = WebConfig(upload_dir=uploads, max_upload=1024 * 1024)
    app = build(cfg, Inventory(tmp / "inv.duckdb"))
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="error", lifespan="off"))
    t = threading.Thread(target=srv.run, daemon=True)
    t.start()
    for _ in range(200):
        if srv.started:
            break
        time.sleep(0.05)
    port = srv.servers[0].sockets[0].getsockname()[1]
    yield port, uploads
    srv.should_exit = True
    t.join(10)


def _status(sock: socket.socket) -> int:
    sock.settimeout(10)
    head = b""
    while b"\r\n" not in head:
        got = sock.recv(4096)
        if not got:
            break
        head += got
    return int(head.split(b" ", 2)[1])


def test_declared_too_large_is_refused_before_the_body(server: tuple[int, Path]) -> None:
    port, uploads = server
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(b"POST /traces/upload?name=big.pcap HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                  b"Content-Type: application/octet-stream\r\nContent-Length: 104857600\r\n\r\n")
        # No body sent at all: the answer comes from the header alone.
        assert _status(s) == 413
    assert not uploads.exists() or not os.listdir(uploads)


def test_streamed_too_large_is_cut_off(server: tuple[int, Path]) -> None:
    """A chunked upload (no length given) is written up to the limit, then
    refused and removed; the server stops reading long before the client
    would have finished sending 64 MiB."""
    import select

    port, uploads = server
    total = 64 * 1024 * 1024
    chunk = b"x" * 65536
    sent = 0
    status = None
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(b"POST /traces/upload?name=big.pcap HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                  b"Content-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n\r\n")
        s.settimeout(5)
        try:
            while sent < total:
                readable, _, _ = select.select([s], [], [], 0)
                if readable:
                    break
                s.sendall(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
                sent += len(chunk)
        except (BrokenPipeError, ConnectionResetError, socket.timeout):
            pass
        try:
            status = _status(s)
        except (ConnectionResetError, OSError):
            status = None
    assert status == 413
    assert sent < total // 2, f"the client could send {sent} bytes"
    assert not os.listdir(uploads)


# -- trace contents are text ------------------------------------------------------------------------------

SCRIPT_DNS = b"<script>alert(1)</script>"
SCRIPT_URI = b"/<script>alert(2)</script>"
SCRIPT_HOST = b"<script>alert(3)</script>"
SCRIPT_AGENT = b"<img src=x onerror=alert(4)>"
SCRIPT_COMMENT = "<script>alert(5)</script>"


def _dns(src: str, dst: str, sport: int, dport: int, flags: int) -> bytes:
    labels = b"".join(bytes([len(p)]) + p for p in (SCRIPT_DNS, b"example", b"org")) + b"\0"
    msg = struct.pack("!HHHHHH", 0x4242, flags, 1, 0, 0, 0) + labels + struct.pack("!HH", 1, 1)
    return pcapgen.ether("02:00:00:00:00:02", "02:00:00:00:00:01", 0x0800,
                         pcapgen.ipv4(src, dst, 17, pcapgen.udp(sport, dport, msg)))


def _tcp(src: str, dst: str, sport: int, dport: int, seq: int, ack: int, flags: int, payload: bytes = b"") -> bytes:
    return pcapgen.ether("02:00:00:00:00:02", "02:00:00:00:00:01", 0x0800,
                         pcapgen.ipv4(src, dst, 6, pcapgen.tcp(sport, dport, seq, ack, flags, 65535,
                                                               payload=payload)))


def _epb_with_comment(rec: pcapgen.Rec, comment: str) -> bytes:
    ticks = rec.ts_ns // 1000
    text = comment.encode()
    opts = struct.pack("<HH", 1, len(text)) + text + b"\0" * (-len(text) % 4) + struct.pack("<HH", 0, 0)
    body = struct.pack("<IIIII", 0, ticks >> 32, ticks & 0xFFFFFFFF, rec.caplen, rec.origlen)
    return pcapgen.ng_block(6, body + rec.data + b"\0" * (-len(rec.data) % 4) + opts)


def script_trace(path: Path) -> None:
    c, s = "192.0.2.1", "192.0.2.80"
    req = (b"GET " + SCRIPT_URI + b" HTTP/1.1\r\nHost: " + SCRIPT_HOST + b"\r\nUser-Agent: " + SCRIPT_AGENT
           + b"\r\n\r\n")
    rsp = b"HTTP/1.1 404 <script>alert(6)</script>\r\nContent-Length: 0\r\n\r\n"
    packets = [
        _dns(c, "192.0.2.53", 40000, 53, 0x0100),
        _dns("192.0.2.53", c, 53, 40000, 0x8183),
        _tcp(c, s, 41000, 80, 1000, 0, 0x02),
        _tcp(s, c, 80, 41000, 5000, 1001, 0x12),
        _tcp(c, s, 41000, 80, 1001, 5001, 0x10),
        _tcp(c, s, 41000, 80, 1001, 5001, 0x18, req),
        _tcp(s, c, 80, 41000, 5001, 1001 + len(req), 0x18, rsp),
        _tcp(c, s, 41000, 80, 1001 + len(req), 5001 + len(rsp), 0x11),
    ]
    recs = [pcapgen.Rec(pcapgen.BASE_TS + i * 3_000_000, p, len(p)) for i, p in enumerate(packets)]
    blocks = [pcapgen.ng_shb(), pcapgen.ng_idb(1)]
    blocks += [_epb_with_comment(r, SCRIPT_COMMENT) if i == 5 else pcapgen.ng_epb(r) for i, r in enumerate(recs)]
    path.write_bytes(b"".join(blocks))


@pytest.fixture(scope="module")
def scripted(bench: Bench, tmp_path_factory: pytest.TempPathFactory) -> int:
    path = tmp_path_factory.mktemp("script") / "script.pcapng"
    script_trace(path)
    tid = bench.add(path)
    bench.client.post(f"/traces/{tid}/annotate", data={"text": "<script>alert(7)</script>", "frame": "6"})
    bench.client.post(f"/traces/{tid}/tag", data={"tag": "<b>bold</b>"})
    return tid


PAYLOADS = ["<script>alert(", "<img src=x onerror", "<b>bold"]


def _pages(tid: int) -> list[str]:
    base = f"/traces/{tid}"
    return ["/traces", f"/traces?trace={tid}", f"{base}/summary", f"{base}/summary/rows?offset=0",
            f"{base}/sessions", f"{base}/hosts", f"{base}/times", f"{base}/findings", f"{base}/plots",
            f"{base}/sequence?session=2", f"{base}/sequence?session=1", f"{base}/exports",
            f"{base}/query"] + [f"{base}/packet/{n}" for n in range(1, 9)]


def test_script_in_the_trace_is_shown_as_text(bench: Bench, scripted: int) -> None:
    seen: dict[str, str] = {}
    for url in _pages(scripted):
        r = bench.client.get(url)
        assert r.status_code == 200, (url, r.text[:300])
        for p in PAYLOADS:
            assert p not in r.text, (url, p)
        seen[url] = r.text
    summary = seen[f"/traces/{scripted}/summary"]
    # The payloads are there, as text.
    assert "&lt;script&gt;alert(1)&lt;/script&gt;.example.org" in summary
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in summary
    details = seen[f"/traces/{scripted}/packet/6"]
    assert "&lt;script&gt;alert(3)&lt;/script&gt;" in details
    assert "&lt;img src=x onerror=alert(4)&gt;" in details
    assert "&lt;script&gt;alert(5)&lt;/script&gt;" in details  # the pcapng comment, as an annotation
    assert "&lt;script&gt;alert(7)&lt;/script&gt;" in details
    assert "&lt;b&gt;bold&lt;/b&gt;" in seen["/traces"]
    ladder = seen[f"/traces/{scripted}/sequence?session=2"]
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in ladder
    assert "<script" not in ladder.split('<div id="ladder"', 1)[1].split("</div>", 1)[0]


def test_script_in_the_filter_text_is_escaped(bench: Bench, scripted: int) -> None:
    r = bench.client.get(f"/traces/{scripted}/summary", params={"filter": '"<script>alert(8)</script>"'})
    assert r.status_code == 400
    assert "<script>alert(8)" not in r.text and "&lt;script&gt;alert(8)" in r.text
    ok = bench.client.get(f"/traces/{scripted}/summary", params={"filter": 'dns.qry.name contains "<script>"'})
    assert ok.status_code == 200 and "<script>" not in ok.text
    assert 'value="dns.qry.name contains &#34;&lt;script&gt;&#34;"' in ok.text


def test_json_and_svg_keep_trace_text_inert(bench: Bench, scripted: int) -> None:
    j = bench.client.get(f"/traces/{scripted}/packet/6.json")
    assert j.headers["content-type"].startswith("application/json")
    svg = bench.client.get(f"/traces/{scripted}/sequence.svg", params={"session": 2})
    assert "<script" not in svg.text and "&lt;script&gt;" in svg.text
    for kind in ("io", "histogram", "hierarchy", "stevens"):
        r = bench.client.get(f"/traces/{scripted}/plots/{kind}.svg")
        assert r.status_code == 200 and "<script" not in r.text
        assert r.headers["content-security-policy"].startswith("default-src 'none'")
