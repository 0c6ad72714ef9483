"""What keeps the workbench safe to run: the access token, the Host and
Origin checks, which files may be opened by path, and uploads streamed to
disk under a size limit.

Threats, and the answer to each:

* another machine (or user) reaching the port: on any address other than
  loopback every request must carry the token (``Authorization: Bearer T``,
  or the ``tracedoc_token`` cookie set by visiting ``/?token=T`` once);
* a web page in the user's own browser: it may send requests to
  ``127.0.0.1`` (CSRF) or rebind its own name to ``127.0.0.1`` (DNS
  rebinding).  State-changing requests must come from the workbench's own
  origin (``Origin`` / ``Referer`` checked), and on a loopback bind without
  a token the ``Host`` header must name the loopback address;
* a path typed into the form: only files under the ``--trace-dir``
  directories open, after resolving symlinks; ``..`` is refused outright;
* an upload: never held in memory, written to disk as it arrives and cut
  off (the partial file removed) as soon as it passes the limit.
"""

from __future__ import annotations

import ipaddress
import os
import re
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from tracedoc.errors import TracedocError

COOKIE = "tracedoc_token"

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class PathRefused(TracedocError):
    """A path outside the configured trace directories (or otherwise not allowed)."""


class UploadTooLarge(TracedocError):
    """An upload passed the size limit."""


class UploadError(TracedocError):
    """An upload request the server cannot take (no file, bad form)."""


# -- binding and token ---------------------------------------------------------------


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a bind address or a Host header's name) is this machine only."""
    h = host.strip().strip("[]").lower()
    if h == "localhost" or h.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(h).is_loopback
    except ValueError:
        return False


def token_for(host: str, token: str | None) -> str | None:
    """The token the server requires: the given one, else a fresh one when
    ``host`` is not loopback, else none."""
    if token:
        return token
    if not is_loopback(host):
        return secrets.token_urlsafe(24)
    return None


def _headers(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}


def _cookie(header: str, name: str) -> str | None:
    for part in header.split(";"):
        k, _, v = part.strip().partition("=")
        if k == name:
            return v
    return None


async def _plain(send: Send, status: int, text: str, extra: list[tuple[bytes, bytes]] | None = None) -> None:
    body = text.encode()
    headers = [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers + (extra or [])})
    await send({"type": "http.response.body", "body": body})


class Guard:
    """ASGI middleware: the token, and the Host check on loopback binds.

    With a token, a request passes when it carries it as a bearer token or
    in the cookie; ``?token=T`` on any GET sets the cookie and redirects to
    the same address without it (so the token does not stay in the history
    or in Referer headers).  Everything else gets 401.
    """

    def __init__(self, app: ASGIApp, token: str | None, loopback_only: bool) -> None:
        self.app = app
        self.token = token
        self.loopback_only = loopback_only

    def _valid(self, given: str | None) -> bool:
        return bool(given) and self.token is not None and secrets.compare_digest(
            given.encode("utf-8", "replace"), self.token.encode())  # type: ignore[union-attr]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = _headers(scope)
        if self.loopback_only and self.token is None:
            host = headers.get("host", "")
            name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
            if host and not is_loopback(name):
                await _plain(send, 400, "tracedoc: this server answers only to a loopback host name "
                                        "(127.0.0.1, localhost, [::1])\n")
                return
        if self.token is None:
            await self.app(scope, receive, send)
            return
        auth = headers.get("authorization", "")
        if auth.lower().startswith("bearer ") and self._valid(auth[7:].strip()):
            await self.app(scope, receive, send)
            return
        if self._valid(_cookie(headers.get("cookie", ""), COOKIE)):
            await self.app(scope, receive, send)
            return
        query = scope.get("query_string", b"").decode("latin-1")
        pairs = parse_qsl(query, keep_blank_values=True)
        given = [v for k, v in pairs if k == "token"]
        if given and self._valid(given[-1]) and scope.get("method") in ("GET", "HEAD"):
            rest = urlencode([(k, v) for k, v in pairs if k != "token"])
            location = scope.get("root_path", "") + scope["path"] + ("?" + rest if rest else "")
            cookie = f"{COOKIE}={self.token}; Path=/; HttpOnly; SameSite=Strict"
            await _plain(send, 303, "see other\n", [(b"location", location.encode("latin-1", "replace")),
                                                   (b"set-cookie", cookie.encode())])
            return
        await _plain(send, 401, "tracedoc: a token is required (Authorization: Bearer TOKEN, "
                                "or open /?token=TOKEN once)\n", [(b"www-authenticate", b"Bearer")])


def same_origin(headers: MutableMapping[str, str] | Any, host: str) -> bool:
    """Whether a state-changing request comes from the workbench's own pages:
    its ``Origin`` (else ``Referer``) names this ``host``; a request with
    neither (curl, scripts) passes, a browser always sends one on a POST."""
    origin = headers.get("origin") or headers.get("referer")
    if not origin or origin == "null":
        return origin is None
    return urlsplit(origin).netloc.lower() == host.lower()


# -- paths ------------------------------------------------------------------------


def allowed_path(text: str, trace_dirs: list[Path]) -> Path:
    """The file ``text`` names, if it lies under one of ``trace_dirs``.

    Relative paths are taken relative to each directory in turn.  ``..``
    anywhere is refused before anything is resolved; the result is the
    resolved path (symlinks followed), which must still lie under a
    (resolved) trace directory and be a regular file.
    """
    if not trace_dirs:
        raise PathRefused("adding by path is off: start the server with --trace-dir DIR")
    t = text.strip()
    if not t:
        raise PathRefused("give a path")
    if "\0" in t:
        raise PathRefused("the path holds a NUL character")
    p = Path(t)
    if ".." in p.parts:
        raise PathRefused("'..' is not allowed in a path")
    roots = [d.resolve() for d in trace_dirs]
    candidates = [p] if p.is_absolute() else [r / p for r in roots]
    for c in candidates:
        try:
            real = c.resolve(strict=True)
        except (OSError, RuntimeError):
            continue
        if not any(real == r or real.is_relative_to(r) for r in roots):
            raise PathRefused(f"{text!r} is not under a trace directory "
                              f"({', '.join(str(r) for r in roots)})")
        if not real.is_file():
            raise PathRefused(f"{text!r} is not a regular file")
        return real
    raise PathRefused(f"no such file under the trace directories: {text!r}")


def trace_files(trace_dirs: list[Path], limit: int = 500) -> list[Path]:
    """Regular files under the trace directories (symlinks leading out are
    left out), sorted, at most ``limit``."""
    out: list[Path] = []
    for d in trace_dirs:
        root = d.resolve()
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = sorted(n for n in dirnames if not n.startswith("."))
            for name in sorted(filenames):
                if name.startswith("."):
                    continue
                p = Path(dirpath) / name
                try:
                    real = p.resolve(strict=True)
                except (OSError, RuntimeError):
                    continue
                if real.is_file() and real.is_relative_to(root):
                    out.append(p)
                    if len(out) >= limit:
                        return out
    return out


# -- uploads ------------------------------------------------------------------------------

_SAFE_NAME = re.compile(r"[^A-Za-z0-9._+-]+")


def safe_filename(name: str) -> str:
    """A file name from a client, reduced to a harmless base name."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    base = _SAFE_NAME.sub("_", base).strip("._") or "upload"
    return base[:120]


class Sink:
    """Writes an upload to ``dest`` and stops at ``limit`` bytes: the file is
    removed and :class:`UploadTooLarge` raised as soon as one byte more
    arrives."""

    def __init__(self, dest: Path, limit: int) -> None:
        self.dest = dest
        self.limit = limit
        self.written = 0
        self._f = open(dest, "xb")  # noqa: SIM115 - closed in close()/discard()

    def write(self, data: bytes) -> None:
        if self.written + len(data) > self.limit:
            self.discard()
            raise UploadTooLarge(f"the upload is larger than the limit ({self.limit:,} bytes)")
        self._f.write(data)
        self.written += len(data)

    def close(self) -> None:
        self._f.close()

    def discard(self) -> None:
        self._f.close()
        try:
            self.dest.unlink()
        except OSError:
            pass


async def save_raw(chunks: AsyncIterator[bytes], sink: Sink) -> int:
    """A request body that is the file itself."""
    try:
        async for chunk in chunks:
            if chunk:
                sink.write(chunk)
    except UploadTooLarge:
        raise
    except BaseException:
        sink.discard()
        raise
    sink.close()
    return sink.written


async def save_multipart(chunks: AsyncIterator[bytes], content_type: str, make_sink: Callable[[str], Sink]
                         ) -> tuple[Sink, dict[str, str]]:
    """The first file part of a ``multipart/form-data`` body, streamed into
    the sink ``make_sink(filename)`` gives; the other (small) fields too."""
    try:
        from python_multipart.multipart import MultipartParser, parse_options_header
    except ImportError:  # python-multipart before 0.0.13 named its module "multipart"
        from multipart.multipart import MultipartParser, parse_options_header  # type: ignore[no-redef]

    _, params = parse_options_header(content_type)
    boundary = params.get(b"boundary")
    if not boundary:
        raise UploadError("multipart form without a boundary")
    state: dict[str, Any] = {"headers": {}, "field": b"", "value": b"", "sink": None, "name": None,
                             "buf": bytearray(), "file_done": False}
    fields: dict[str, str] = {}
    failure: list[BaseException] = []

    def on_part_begin() -> None:
        state["headers"] = {}
        state["buf"] = bytearray()
        state["name"] = None

    def on_header_field(data: bytes, start: int, end: int) -> None:
        state["field"] += data[start:end]

    def on_header_value(data: bytes, start: int, end: int) -> None:
        state["value"] += data[start:end]

    def on_header_end() -> None:
        state["headers"][state["field"].decode("latin-1").lower()] = state["value"]
        state["field"] = b""
        state["value"] = b""

    def on_headers_finished() -> None:
        disp, opts = parse_options_header(state["headers"].get("content-disposition", b""))
        name = opts.get(b"name", b"").decode("utf-8", "replace")
        filename = opts.get(b"filename")
        state["name"] = name
        if filename is not None and state["sink"] is None and not state["file_done"]:
            state["sink"] = make_sink(filename.decode("utf-8", "replace"))
            state["writing"] = True
        else:
            state["writing"] = False

    def on_part_data(data: bytes, start: int, end: int) -> None:
        if state["writing"]:
            state["sink"].write(data[start:end])
        elif len(state["buf"]) < 64 * 1024:
            state["buf"] += data[start:end]

    def on_part_end() -> None:
        if state["writing"]:
            state["file_done"] = True
            state["writing"] = False
        elif state["name"]:
            fields[state["name"]] = bytes(state["buf"]).decode("utf-8", "replace")

    parser = MultipartParser(boundary, {  # type: ignore[arg-type]
        "on_part_begin": on_part_begin, "on_header_field": on_header_field, "on_header_value": on_header_value,
        "on_header_end": on_header_end, "on_headers_finished": on_headers_finished,
        "on_part_data": on_part_data, "on_part_end": on_part_end})
    state["writing"] = False
    try:
        async for chunk in chunks:
            if chunk:
                parser.write(chunk)
        parser.finalize()
    except UploadTooLarge:
        raise
    except BaseException as e:
        if state["sink"] is not None:
            state["sink"].discard()
        failure.append(e)
    if failure:
        err = failure[0]
        if isinstance(err, (UploadError, PathRefused)):
            raise err
        raise UploadError(f"bad multipart form: {err}") from None
    sink = state["sink"]
    if sink is None or not state["file_done"]:
        if sink is not None:
            sink.discard()
        raise UploadError("the form holds no file")
    sink.close()
    return sink, fields
