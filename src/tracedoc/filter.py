"""Wireshark display filters over the packet table.

``compile_filter("ip.addr == 10.0.0.0/8 && tcp.port in {80, 443}")`` parses a
filter once, checks its fields against the packet table and returns a
:class:`Filter`: called with a decoded batch it gives one boolean per frame,
computed over whole columns (numpy / pyarrow, no per-row Python).

Semantics follow Wireshark 4.0 (wireshark-filter(4)):

* a field's occurrences are the packet's own value and the one quoted inside
  an ICMP error (the ``inner.`` columns); ``ip.addr``, ``ipv6.addr``,
  ``eth.addr``, ``tcp.port`` and ``udp.port`` are the source and destination
  occurrences of their protocol;
* ``==`` (``eq``, ``any_eq``) is true when any occurrence is equal; ``!=``
  (``ne``, ``all_ne``) when every occurrence differs; ``===`` (``all_eq``)
  and ``!==`` (``any_ne``, ``~=``) are the other two; ``any``/``all`` before a
  comparison choose explicitly; every comparison is false when the field is
  absent;
* a bare field or protocol name tests existence; ``not``/``!`` binds tighter
  than ``and``/``&&``, which binds tighter than ``or``/``||``;
* ``contains`` works on strings and byte fields, ``matches``/``~`` on strings
  (Python ``re``, case-insensitive unless the pattern starts with ``(?-i)``),
  ``in {a, b..c}`` tests membership, ``field & mask`` tests bits, and
  ``eth.src[0:3]`` slices an Ethernet address.
"""

from __future__ import annotations

import difflib
import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, Union

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tracedoc.decode.display import list_spans
from tracedoc.decode.fields import INNER_PREFIX, Field
from tracedoc.analyze.derived import DERIVED, FIELDS
from tracedoc.errors import FilterSyntaxError

# -- the names a filter may use ------------------------------------------------

EITHER_SIDE: dict[str, tuple[str, str]] = {
    "ip.addr": ("ip.src", "ip.dst"),
    "ipv6.addr": ("ipv6.src", "ipv6.dst"),
    "eth.addr": ("eth.src", "eth.dst"),
    "tcp.port": ("tcp.srcport", "tcp.dstport"),
    "udp.port": ("udp.srcport", "udp.dstport"),
}

PUBLIC_FIELDS: list[str] = [n for n in FIELDS if not n.startswith(INNER_PREFIX)]


NOT_PROTOCOL_EVIDENCE = {"ip.version"}
"""Fields that do not show their protocol is present: Wireshark puts a hidden
``ip.version`` in IPv6 headers too, and ``ip`` is false on those."""


def _protocol_columns() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for name in FIELDS:
        if name in DERIVED:
            continue  # derived from the protocol's own columns: no evidence of their own, and costly
        own = name[len(INNER_PREFIX):] if name.startswith(INNER_PREFIX) else name
        if own in NOT_PROTOCOL_EVIDENCE:
            continue
        proto = own.split(".", 1)[0]
        out.setdefault(proto, []).append(name)
    return out


PROTOCOLS: dict[str, list[str]] = _protocol_columns()
"""Protocol name -> every column (own and quoted) of that protocol."""

def _app_names() -> set[str]:
    from tracedoc.decode import dispatch

    mods = [*dispatch.APP_PROTOCOLS, *dispatch.UDP_APPS.values(), *dispatch.TCP_APPS.values(),
            *dispatch.UDP_HEURISTICS, *dispatch.TCP_HEURISTICS]
    return {m.NAME for m in mods if m is not dispatch.app}


APP_NAMES: set[str] = _app_names()
"""Application protocols: a frame has one when the application pass handed
it to that decoder (the ``tracedoc.app`` column), as tshark's protocol test
asks whether the dissector ran (``dns`` is false on mDNS, which has dns.*
fields but is the protocol ``mdns``)."""

KNOWN_NAMES: list[str] = sorted(set(PUBLIC_FIELDS) | set(EITHER_SIDE) | set(PROTOCOLS) | APP_NAMES)


def _field_of(name: str) -> Field:
    return FIELDS[EITHER_SIDE[name][0]] if name in EITHER_SIDE else FIELDS[name]


def occurrence_columns(name: str) -> list[str]:
    """The columns holding the occurrences of field ``name``."""
    parts = EITHER_SIDE.get(name, (name,))
    out = []
    for p in parts:
        out.append(p)
        if INNER_PREFIX + p in FIELDS:
            out.append(INNER_PREFIX + p)
    return out


# -- lexer -----------------------------------------------------------------------

_WORD_CHARS = re.compile(r"[A-Za-z0-9_.:/\-]+")
_SYMBOLS = ("===", "!==", "==", "!=", "~=", "<=", ">=", "&&", "||", "<", ">", "!", "~", "&",
            "(", ")", "{", "}", ",")
_KEYWORDS = {"and", "or", "not", "eq", "ne", "gt", "lt", "ge", "le", "any_eq", "all_ne", "all_eq", "any_ne",
             "contains", "matches", "in", "any", "all", "bitwise_and"}
_ESCAPES = {"'": "'", '"': '"', "\\": "\\", "a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r",
            "t": "\t", "v": "\v"}


@dataclass
class Tok:
    kind: str  # word, string, char, slice, sym, kw, end
    text: str
    pos: int
    value: Any = None


def _unescape(body: str, text: str, pos: int) -> str:
    out = []
    i = 0
    while i < len(body):
        c = body[i]
        if c != "\\":
            out.append(c)
            i += 1
            continue
        i += 1
        if i >= len(body):
            raise FilterSyntaxError("dangling backslash in string", text, pos)
        c = body[i]
        if c in _ESCAPES:
            out.append(_ESCAPES[c])
            i += 1
        elif c in "01234567":
            m = re.match(r"[0-7]{1,3}", body[i:])
            assert m
            out.append(chr(int(m.group(), 8)))
            i += len(m.group())
        elif c in "xuU":
            n = {"x": 2, "u": 4, "U": 8}[c]
            digits = body[i + 1:i + 1 + n]
            if len(digits) != n or not re.fullmatch(r"[0-9A-Fa-f]+", digits):
                raise FilterSyntaxError(f"bad \\{c} escape in string", text, pos)
            out.append(chr(int(digits, 16)))
            i += 1 + n
        else:
            raise FilterSyntaxError(f"unknown escape \\{c} in string", text, pos)
    return "".join(out)


def tokenize(text: str) -> list[Tok]:
    toks: list[Tok] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c.isspace():
            i += 1
            continue
        if c == '"' or (c == "r" and text.startswith('r"', i)):
            raw = c == "r"
            start = i
            j = i + (2 if raw else 1)
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            if j >= n:
                raise FilterSyntaxError("unterminated string", text, start)
            body = text[start + (2 if raw else 1):j]
            # Raw strings keep every backslash (an escaped quote stays \").
            value = body if raw else _unescape(body, text, start)
            toks.append(Tok("string", text[start:j + 1], start, value))
            i = j + 1
            continue
        if c == "'":
            m = re.match(r"'(\\[0-7]{1,3}|\\x[0-9A-Fa-f]{2}|\\.|[^\\'])'", text[i:])
            if not m:
                raise FilterSyntaxError("bad character constant", text, i)
            toks.append(Tok("char", m.group(), i, ord(_unescape(m.group(1), text, i))))
            i += len(m.group())
            continue
        if c == "[":
            j = text.find("]", i)
            if j < 0:
                raise FilterSyntaxError("unterminated slice '['", text, i)
            toks.append(Tok("slice", text[i:j + 1], i, text[i + 1:j]))
            i = j + 1
            continue
        for s in _SYMBOLS:
            if text.startswith(s, i):
                toks.append(Tok("sym", s, i))
                i += len(s)
                break
        else:
            m = _WORD_CHARS.match(text, i)
            if not m:
                raise FilterSyntaxError(f"unexpected character {c!r}", text, i)
            w = m.group()
            toks.append(Tok("kw" if w in _KEYWORDS else "word", w, i))
            i = m.end()
    toks.append(Tok("end", "", n))
    return toks


# -- parser (text -> tree) ------------------------------------------------------------

@dataclass
class Word:
    """An unquoted name or literal; which one is decided when compiling."""
    text: str
    pos: int


@dataclass
class Str:
    value: str
    text: str
    pos: int


@dataclass
class Char:
    value: int
    pos: int


@dataclass
class Sliced:
    name: Word
    spec: str
    pos: int


@dataclass
class BitAnd:
    operand: Any
    mask: Any
    pos: int


@dataclass
class Node:
    op: str  # and, or, not, exists, cmp, in, contains, matches
    pos: int
    args: list[Any] = field(default_factory=list)
    rel: str = ""
    quant: str = ""


_REL = {"==": ("any", "=="), "eq": ("any", "=="), "any_eq": ("any", "=="),
        "!=": ("all", "!="), "ne": ("all", "!="), "all_ne": ("all", "!="),
        "===": ("all", "=="), "all_eq": ("all", "=="),
        "!==": ("any", "!="), "any_ne": ("any", "!="), "~=": ("any", "!="),
        ">": ("any", ">"), "gt": ("any", ">"), "<": ("any", "<"), "lt": ("any", "<"),
        ">=": ("any", ">="), "ge": ("any", ">="), "<=": ("any", "<="), "le": ("any", "<=")}


class Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.toks = tokenize(text)
        self.i = 0

    @property
    def tok(self) -> Tok:
        return self.toks[self.i]

    def error(self, msg: str, pos: int | None = None) -> FilterSyntaxError:
        return FilterSyntaxError(msg, self.text, self.tok.pos if pos is None else pos)

    def take(self) -> Tok:
        t = self.tok
        self.i += 1
        return t

    def at(self, *texts: str) -> bool:
        return self.tok.kind in ("sym", "kw") and self.tok.text in texts

    def parse(self) -> Node:
        if self.tok.kind == "end":
            raise self.error("empty filter")
        node = self.parse_or()
        if self.tok.kind != "end":
            raise self.error(f"unexpected {self.tok.text!r}")
        return node

    def parse_or(self) -> Node:
        node = self.parse_and()
        while self.at("||", "or"):
            pos = self.take().pos
            node = Node("or", pos, [node, self.parse_and()])
        return node

    def parse_and(self) -> Node:
        node = self.parse_not()
        while self.at("&&", "and"):
            pos = self.take().pos
            node = Node("and", pos, [node, self.parse_not()])
        return node

    def parse_not(self) -> Node:
        if self.at("!", "not"):
            pos = self.take().pos
            return Node("not", pos, [self.parse_not()])
        return self.parse_primary()

    def parse_primary(self) -> Node:
        if self.at("("):
            open_pos = self.take().pos
            node = self.parse_or()
            if not self.at(")"):
                raise self.error("missing ')'" if self.tok.kind == "end" else f"expected ')', got {self.tok.text!r}",
                                 open_pos if self.tok.kind == "end" else None)
            self.take()
            return node
        return self.parse_test()

    def parse_value(self) -> Any:
        t = self.tok
        if t.kind == "word":
            self.take()
            w = Word(t.text, t.pos)
            if self.tok.kind == "slice":
                s = self.take()
                return Sliced(w, s.value, s.pos)
            return w
        if t.kind == "string":
            self.take()
            return Str(t.value, t.text, t.pos)
        if t.kind == "char":
            self.take()
            return Char(t.value, t.pos)
        if t.kind == "end":
            raise self.error("unexpected end of filter")
        raise self.error(f"expected a field or value, got {t.text!r}")

    def parse_operand(self) -> Any:
        v = self.parse_value()
        while self.at("&", "bitwise_and"):
            pos = self.take().pos
            v = BitAnd(v, self.parse_value(), pos)
        return v

    def parse_test(self) -> Node:
        quant = ""
        if self.at("any", "all"):
            quant = self.take().text
        start = self.tok.pos
        left = self.parse_operand()
        t = self.tok
        if t.kind in ("sym", "kw") and t.text in _REL:
            self.take()
            q, rel = _REL[t.text]
            return Node("cmp", t.pos, [left, self.parse_operand()], rel, quant or q)
        if quant:
            raise self.error(f"'{quant}' must be followed by a comparison", start)
        if self.at("contains"):
            self.take()
            return Node("contains", t.pos, [left, self.parse_value()])
        if self.at("matches", "~"):
            self.take()
            return Node("matches", t.pos, [left, self.parse_value()])
        if self.at("in"):
            self.take()
            return Node("in", t.pos, [left, self.parse_set()])
        if self.at("not") and self.toks[self.i + 1].text == "in":
            self.i += 2
            return Node("not", t.pos, [Node("in", t.pos, [left, self.parse_set()])])
        return Node("exists", start, [left])

    def parse_set(self) -> list[Any]:
        """``{a, b, c..d}``; elements are values or (low, high) ranges."""
        if not self.at("{"):
            raise self.error("expected '{' after 'in'")
        self.take()
        items: list[Any] = []
        pending_range = False
        while not self.at("}"):
            if self.tok.kind == "end":
                raise self.error("missing '}'")
            if self.at(","):
                self.take()
                continue
            t = self.tok
            if t.kind == "word" and ".." in t.text:
                self.take()
                lo, _, hi = t.text.partition("..")
                if lo:
                    if pending_range:
                        raise self.error("bad range", t.pos)
                    items.append(Word(lo, t.pos))
                if not items or isinstance(items[-1], tuple):
                    raise self.error("range without a lower bound", t.pos)
                if hi:
                    items[-1] = (items[-1], Word(hi, t.pos + t.text.index("..") + 2))
                else:
                    pending_range = True
                continue
            v = self.parse_value()
            if pending_range:
                items[-1] = (items[-1], v)
                pending_range = False
            else:
                items.append(v)
        if pending_range:
            raise self.error("range without an upper bound")
        if not items:
            raise self.error("empty set")
        self.take()
        return items


def parse(text: str) -> Node:
    return Parser(text).parse()


# -- literals ---------------------------------------------------------------------------

_INT_KINDS = {"u8": 8, "u16": 16, "u32": 32, "u64": 64}
_TYPE_NAMES = {"u8": "unsigned integer", "u16": "unsigned integer", "u32": "unsigned integer",
               "u64": "unsigned integer", "i64": "signed integer", "bool": "boolean", "ether": "Ethernet address",
               "ipv4": "IPv4 address", "ipv6": "IPv6 address", "bytes": "byte sequence",
               "string": "character string", "time": "time offset", "bytes-slice": "byte slice"}
_NAMEISH = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]*(\.[A-Za-z0-9_\-]+)+$")


def parse_int(s: str) -> int | None:
    neg = s.startswith("-")
    body = s[1:] if neg else s
    try:
        if re.fullmatch(r"0[0-7]+", body):
            v = int(body, 8)
        elif re.fullmatch(r"0[xX][0-9A-Fa-f]+|0[bB][01]+|[0-9]+", body):
            v = int(body, 0)
        else:
            return None
    except ValueError:
        return None
    return -v if neg else v


def parse_mac(s: str) -> int | None:
    m = re.fullmatch(r"([0-9A-Fa-f]{1,2})([:\-.])" + r"([0-9A-Fa-f]{1,2})\2" * 4 + r"([0-9A-Fa-f]{1,2})", s)
    if m:
        parts = [m.group(1)] + [m.group(k) for k in range(3, 8)]
    else:
        m = re.fullmatch(r"([0-9A-Fa-f]{4})\.([0-9A-Fa-f]{4})\.([0-9A-Fa-f]{4})|([0-9A-Fa-f]{12})", s)
        if not m:
            return None
        h = s.replace(".", "")
        parts = [h[k:k + 2] for k in range(0, 12, 2)]
    v = 0
    for p in parts:
        v = (v << 8) | int(p, 16)
    return v


def parse_bytes(s: str) -> bytes | None:
    if re.fullmatch(r"[0-9A-Fa-f]{1,2}", s):
        return bytes([int(s, 16)])
    m = re.fullmatch(r"[0-9A-Fa-f]{1,2}(?:([:\-.])[0-9A-Fa-f]{1,2})(?:\1[0-9A-Fa-f]{1,2})*", s)
    if m:
        return bytes(int(p, 16) for p in re.split(r"[:\-.]", s))
    return None


@dataclass
class Lit:
    """A literal converted to a field's type."""
    kind: str  # int, net4, net6, bytes, str
    value: Any
    prefix: int = 0  # CIDR prefix length (net4/net6)


def _bad(lit: Any, f: Field, text: str, why: str = "") -> FilterSyntaxError:
    shown = lit.text
    msg = f"{why or f'{shown!r} is not a valid {_TYPE_NAMES[f.type]}'}"
    if isinstance(lit, Word) and _NAMEISH.match(lit.text) and lit.text.split(".")[0] in PROTOCOLS:
        close = difflib.get_close_matches(lit.text, KNOWN_NAMES, n=5, cutoff=0.6)
        msg = f"unknown field '{lit.text}'" + (f"; did you mean {', '.join(close)}?" if close else "")
    return FilterSyntaxError(msg, text, lit.pos)


def convert(lit: Any, f: Field, text: str) -> Lit:
    """The literal ``lit`` (Word, Str or Char) as a value of field ``f``'s type."""
    t = f.type
    if isinstance(lit, Char):
        if t in _INT_KINDS or t in ("i64", "bool"):
            return Lit("int", lit.value)
        if t == "bytes":
            return Lit("bytes", bytes([lit.value & 0xFF]))
        raise FilterSyntaxError(f"a character constant cannot be compared with a {_TYPE_NAMES[t]}", text, lit.pos)
    if isinstance(lit, Str):
        if t == "string":
            return Lit("str", lit.value)
        if t == "bytes":
            return Lit("bytes", lit.value.encode("utf-8", "surrogateescape"))
        raise FilterSyntaxError(f"{_TYPE_NAMES[t]} cannot be converted from a string ({lit.text})", text, lit.pos)
    s = lit.text
    if t in _INT_KINDS or t == "i64":
        v = parse_int(s)
        if v is None:
            raise _bad(lit, f, text)
        bits = _INT_KINDS.get(t, 63)
        hi = (1 << bits) - 1
        if v > hi:
            raise FilterSyntaxError(f'"{s}" too big for this field, maximum {hi}.', text, lit.pos)
        if t == "i64" and v < -(1 << 63):
            raise FilterSyntaxError(f'"{s}" too small for this field', text, lit.pos)
        return Lit("int", v)
    if t == "bool":
        if s in ("True", "TRUE", "true"):
            return Lit("int", 1)
        if s in ("False", "FALSE", "false"):
            return Lit("int", 0)
        v = parse_int(s)
        if v is None:
            raise _bad(lit, f, text)
        return Lit("int", 1 if v else 0)
    if t == "ether":
        mv = parse_mac(s)
        if mv is None:
            raise _bad(lit, f, text)
        return Lit("int", mv)
    if t == "ipv4":
        try:
            if "/" in s:
                net = ipaddress.IPv4Network(s, strict=False)
                return Lit("net4", int(net.network_address), net.prefixlen)
            return Lit("net4", int(ipaddress.IPv4Address(s)), 32)
        except ValueError:
            raise _bad(lit, f, text) from None
    if t == "ipv6":
        try:
            if "/" in s:
                net6 = ipaddress.IPv6Network(s, strict=False)
                return Lit("net6", int(net6.network_address), net6.prefixlen)
            return Lit("net6", int(ipaddress.IPv6Address(s)), 128)
        except ValueError:
            raise _bad(lit, f, text) from None
    if t == "time":
        try:
            ns = int(Decimal(s) * 1_000_000_000)
        except InvalidOperation:
            raise _bad(lit, f, text) from None
        return Lit("int", ns)
    if t == "bytes":
        bv = parse_bytes(s)
        if bv is None:
            raise _bad(lit, f, text)
        return Lit("bytes", bv)
    if t == "string":
        return Lit("str", s)  # unquoted strings: deprecated in Wireshark, still taken
    raise _bad(lit, f, text)


# -- evaluation --------------------------------------------------------------------------

Mask = np.ndarray
Occ = tuple[Any, np.ndarray]
"""One occurrence of a value: (values, valid).  Values are a numpy array
(integers, addresses, times: int64 or uint64), a pair of uint64 arrays (IPv6:
high and low halves) or an Arrow array (bytes, strings)."""


class Env:
    """One batch being filtered; each column is converted once."""

    def __init__(self, batch: pa.RecordBatch | pa.Table) -> None:
        self.batch = batch
        self.n = batch.num_rows
        self.cache: dict[str, Occ] = {}
        self.valid_cache: dict[str, np.ndarray] = {}
        self.multi_cache: dict[str, list[Occ]] = {}

    def arrow(self, name: str) -> pa.Array:
        col = self.batch.column(name)
        if isinstance(col, pa.ChunkedArray):
            col = col.combine_chunks()
        return col

    def valid(self, name: str) -> np.ndarray:
        v = self.valid_cache.get(name)
        if v is None:
            col = self.arrow(name)
            if FIELDS[name].multi:
                # A multi-occurrence field is present when its list has an element.
                v = np.asarray(pc.fill_null(pc.greater(pc.list_value_length(col), 0), False)
                               .to_numpy(zero_copy_only=False), dtype=bool)
            elif col.null_count == 0:
                v = np.ones(self.n, dtype=bool)
            elif col.null_count == len(col):
                v = np.zeros(self.n, dtype=bool)
            else:
                v = np.asarray(col.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
            self.valid_cache[name] = v
        return v

    def values(self, name: str) -> Occ:
        got = self.cache.get(name)
        if got is not None:
            return got
        got = _occurrence(self.arrow(name), self.valid(name), FIELDS[name].type)
        self.cache[name] = got
        return got

    def occurrences(self, name: str) -> list[Occ]:
        """Every occurrence of a column's field: one for a plain column, one
        per list position for a multi-occurrence field (the k-th value of
        each row, valid where the row has k+1 values)."""
        if not FIELDS[name].multi:
            return [self.values(name)]
        key = "\x00occ\x00" + name
        got = self.multi_cache.get(key)
        if got is None:
            flat, first, end = list_spans(self.arrow(name))
            count = end - first
            got = []
            t = FIELDS[name].type
            for k in range(int(count.max()) if len(count) else 0):
                has = count > k
                picked = pc.take(flat, pa.array(np.where(has, first + k, 0), mask=~has))
                got.append(_occurrence(picked, has, t))
            self.multi_cache[key] = got
        return got


def _occurrence(col: pa.Array, valid: np.ndarray, t: str) -> Occ:
    """Values of one occurrence column in the form the comparisons take."""
    vals: Any
    if t in ("bytes", "string"):
        vals = col
    elif t == "ipv6":
        if len(col) == 0:
            raw = np.zeros((0, 16), np.uint8)
        else:
            filled = col.fill_null(b"\x00" * 16) if col.null_count else col
            raw = np.frombuffer(filled.buffers()[1], dtype=np.uint8)[filled.offset * 16:(filled.offset + len(filled)) * 16]
        pairs = raw.reshape(-1, 16).view(">u8").astype(np.uint64)
        vals = (pairs[:, 0], pairs[:, 1])
    elif t == "bool":
        vals = np.asarray(col.fill_null(False).to_numpy(zero_copy_only=False), dtype=np.int64)
    else:
        arr = np.asarray(col.fill_null(0).to_numpy(zero_copy_only=False))
        vals = arr.astype(np.uint64 if t == "u64" else np.int64, copy=False)
    return (vals, valid)


_NP_OPS: dict[str, Callable[[Any, Any], Any]] = {
    "==": np.equal, "!=": np.not_equal, "<": np.less, ">": np.greater, "<=": np.less_equal, ">=": np.greater_equal}
_PC_OPS = {"==": pc.equal, "!=": pc.not_equal, "<": pc.less, ">": pc.greater, "<=": pc.less_equal,
           ">=": pc.greater_equal}


def _np_bool(arr: Any, n: int) -> np.ndarray:
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    return np.asarray(arr.fill_null(False).to_numpy(zero_copy_only=False), dtype=bool)


def _cmp_int(vals: np.ndarray, rel: str, lit: int) -> np.ndarray:
    if vals.dtype == np.uint64 and lit < 0:
        # An unsigned value is never below a negative literal.
        return np.full(len(vals), rel in ("!=", ">", ">="), dtype=bool)
    return np.asarray(_NP_OPS[rel](vals, lit), dtype=bool)


def _cmp_ipv6(hi: np.ndarray, lo: np.ndarray, rel: str, a: int, b: int) -> np.ndarray:
    a64, b64 = np.uint64(a), np.uint64(b)
    if rel in ("==", "!="):
        eq = (hi == a64) & (lo == b64)
        return eq if rel == "==" else ~eq
    less = (hi < a64) | ((hi == a64) & (lo < b64))
    eq = (hi == a64) & (lo == b64)
    return {"<": less, "<=": less | eq, ">": ~(less | eq), ">=": ~less}[rel]


def cmp_literal(vals: Any, t: str, rel: str, lit: Lit, n: int) -> np.ndarray:
    """``vals rel lit`` for every row (validity is applied by the caller)."""
    if lit.kind == "int":
        return _cmp_int(vals, rel, lit.value)
    if lit.kind == "net4":
        if lit.prefix < 32 and rel in ("==", "!="):
            mask = (0xFFFFFFFF << (32 - lit.prefix)) & 0xFFFFFFFF
            eq = (vals & mask) == lit.value
            return eq if rel == "==" else ~eq
        return _cmp_int(vals, rel, lit.value)
    if lit.kind == "net6":
        hi, lo = vals
        if lit.prefix < 128 and rel in ("==", "!="):
            m = ((1 << 128) - 1) ^ ((1 << (128 - lit.prefix)) - 1)
            mh, ml = np.uint64(m >> 64), np.uint64(m & 0xFFFFFFFFFFFFFFFF)
            eq = ((hi & mh) == np.uint64(lit.value >> 64)) & ((lo & ml) == np.uint64(lit.value & 0xFFFFFFFFFFFFFFFF))
            return eq if rel == "==" else ~eq
        return _cmp_ipv6(hi, lo, rel, lit.value >> 64, lit.value & 0xFFFFFFFFFFFFFFFF)
    # bytes / strings: Arrow compares them
    scalar = pa.scalar(lit.value, type=pa.binary() if lit.kind == "bytes" else pa.string())
    arr = vals if lit.kind == "str" or vals.type == pa.binary() else vals.cast(pa.binary())
    return _np_bool(_PC_OPS[rel](arr, scalar), n)


def _per_distinct(arr: pa.Array, fn: Callable[[Any], bool]) -> np.ndarray:
    """``fn`` of every value, computed once per distinct value."""
    if len(arr) == 0:
        return np.zeros(0, dtype=bool)
    enc = pc.dictionary_encode(arr)
    uniq = enc.dictionary.to_pylist()
    res = np.array([bool(fn(u)) if u is not None else False for u in uniq] + [False], dtype=bool)
    idx = np.asarray(enc.indices.fill_null(len(uniq)).to_numpy(zero_copy_only=False), dtype=np.int64)
    return res[idx]


def combine(parts: list[tuple[np.ndarray, np.ndarray]], quant: str, n: int) -> np.ndarray:
    """Quantify over occurrences: each part is (valid, test)."""
    if not parts:
        return np.zeros(n, dtype=bool)
    if quant == "any":
        out = np.zeros(n, dtype=bool)
        for valid, test in parts:
            out |= valid & test
        return out
    present = np.zeros(n, dtype=bool)
    every = np.ones(n, dtype=bool)
    for valid, test in parts:
        present |= valid
        every &= ~valid | test
    return present & every


Eval = Callable[[Env], np.ndarray]


# -- compiler ----------------------------------------------------------------------------

@dataclass
class Operand:
    """A compiled field-side operand: its type and how to get its occurrences."""
    field: Field
    name: str
    columns: list[str]
    get: Callable[[Env], list[Occ]]
    numeric: bool


class Compiler:
    def __init__(self, text: str) -> None:
        self.text = text
        self.columns: dict[str, None] = {}

    def err(self, msg: str, pos: int) -> FilterSyntaxError:
        return FilterSyntaxError(msg, self.text, pos)

    def unknown(self, w: Word) -> FilterSyntaxError:
        close = difflib.get_close_matches(w.text, KNOWN_NAMES, n=5, cutoff=0.6)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        return self.err(f"unknown field '{w.text}' (neither a field nor a protocol name){hint}", w.pos)

    def use(self, cols: list[str]) -> None:
        for c in cols:
            self.columns[c] = None

    def is_name(self, v: Any) -> bool:
        return isinstance(v, Word) and (v.text in FIELDS and not v.text.startswith(INNER_PREFIX)
                                        or v.text in EITHER_SIDE)

    # operands -------------------------------------------------------------
    def operand(self, v: Any) -> Operand:
        if isinstance(v, BitAnd):
            inner = self.operand(v.operand)
            if not inner.numeric or inner.field.type in ("ipv4", "ether", "time"):
                raise self.err(f"{inner.name} (type={_TYPE_NAMES[inner.field.type]}) cannot be masked with '&'",
                               v.pos)
            if isinstance(v.mask, Word) and self.is_name(v.mask):
                raise self.err("the mask of '&' must be a number", v.mask.pos)
            m = self.literal_for(inner, v.mask)
            mask = m.value
            get_inner = inner.get

            def get_masked(env: Env) -> list[Occ]:
                return [(vals & np.asarray(mask, dtype=vals.dtype), valid) for vals, valid in get_inner(env)]

            return Operand(inner.field, inner.name, inner.columns, get_masked, True)
        if isinstance(v, Sliced):
            return self.sliced(v)
        if not isinstance(v, Word):
            raise self.err("the left side of a test must be a field", v.pos)
        name = v.text
        if name in PROTOCOLS and not self.is_name(v):
            raise self.err(f"the protocol '{name}' has no value in the packet table; compare one of its fields",
                           v.pos)
        if not self.is_name(v):
            raise self.unknown(v)
        f = _field_of(name)
        cols = occurrence_columns(name)
        self.use(cols)

        def get(env: Env) -> list[Occ]:
            return [occ for c in cols for occ in env.occurrences(c)]

        numeric = f.type not in ("bytes", "string", "ipv6")
        return Operand(f, name, cols, get, numeric)

    def sliced(self, v: Sliced) -> Operand:
        """``eth.src[i:j]`` and friends on Ethernet addresses (6 bytes)."""
        base = self.operand(v.name)
        if base.field.type != "ether":
            raise self.err(f"slices are supported on Ethernet addresses only, not {base.name}", v.pos)
        spec = v.spec.strip()
        m = re.fullmatch(r"(-?\d*)(?:(:)(\d*)|(-)(-?\d+))?", spec)
        if not m or (m.group(1) == "" and not m.group(2)):
            raise self.err(f"bad slice [{spec}]", v.pos)
        start = int(m.group(1) or 0)
        if start < 0:
            start += 6
        if m.group(2):
            end = start + int(m.group(3)) if m.group(3) else 6
        elif m.group(4):
            e = int(m.group(5))
            end = (e + 6 if e < 0 else e) + 1
        else:
            end = start + 1
        if not 0 <= start < end <= 6:
            raise self.err(f"slice [{spec}] is outside the 6 bytes of an Ethernet address", v.pos)
        shift = 8 * (6 - end)
        mask = (1 << (8 * (end - start))) - 1
        get_base = base.get

        def get(env: Env) -> list[Occ]:
            return [((vals >> shift) & mask, valid) for vals, valid in get_base(env)]

        nbytes = end - start
        f = Field(f"{base.name}[{spec}]", "bytes-slice", "slice", "dec", nbytes)
        return Operand(f, base.name, base.columns, get, True)

    def literal_for(self, op: Operand, v: Any) -> Lit:
        if op.field.type == "bytes-slice":
            s = v.text if isinstance(v, Word) else None
            bv = parse_bytes(s) if s is not None else None
            if isinstance(v, Str):
                bv = v.value.encode("utf-8", "surrogateescape")
            if s is not None and bv is None and (pi := parse_int(s)) is not None and s.lower().startswith("0x") \
                    and 0 <= pi <= 0xFF:
                bv = bytes([pi])
            if bv is None:
                raise self.err(f"{getattr(v, 'text', '?')!r} is not a byte sequence", v.pos)
            if len(bv) != op.field.width:
                raise self.err(f"the slice has {op.field.width} bytes, the value {len(bv)}", v.pos)
            return Lit("int", int.from_bytes(bv, "big"))
        return convert(v, op.field, self.text)

    # tests ------------------------------------------------------------------
    def compile(self, node: Node) -> Eval:
        k = node.op
        if k in ("and", "or"):
            a, b = self.compile(node.args[0]), self.compile(node.args[1])
            if k == "and":
                return lambda env: a(env) & b(env)
            return lambda env: a(env) | b(env)
        if k == "not":
            a = self.compile(node.args[0])
            return lambda env: ~a(env)
        if k == "exists":
            return self.exists(node.args[0])
        if k == "cmp":
            return self.compare(node)
        if k == "in":
            return self.member(node)
        if k in ("contains", "matches"):
            return self.search(node)
        raise AssertionError(k)

    def exists(self, v: Any) -> Eval:
        if isinstance(v, Word) and not self.is_name(v):
            if v.text in APP_NAMES:
                name = v.text
                self.use(["tracedoc.app"])

                def app_proto(env: Env) -> np.ndarray:
                    out = np.zeros(env.n, dtype=bool)
                    for vals, valid in env.occurrences("tracedoc.app"):
                        out |= valid & _np_bool(pc.equal(vals, name), env.n)
                    return out

                return app_proto
            if v.text in PROTOCOLS:
                cols = PROTOCOLS[v.text]
                self.use(cols)

                def proto(env: Env) -> np.ndarray:
                    out = np.zeros(env.n, dtype=bool)
                    for c in cols:
                        out |= env.valid(c)
                    return out

                return proto
            raise self.unknown(v)
        if isinstance(v, (Str, Char)) or (isinstance(v, Word) and not self.is_name(v)):
            raise self.err("a value alone is not a test", v.pos)
        op = self.operand(v)
        if isinstance(v, BitAnd):
            get = op.get
            return lambda env: combine([(valid, vals != 0) for vals, valid in get(env)], "any", env.n)
        cols = op.columns

        def present(env: Env) -> np.ndarray:
            out = np.zeros(env.n, dtype=bool)
            for c in cols:
                out |= env.valid(c)
            return out

        return present

    def compare(self, node: Node) -> Eval:
        left_v, right_v = node.args
        left = self.operand(left_v)
        rel, quant = node.rel, node.quant
        t = left.field.type
        if isinstance(right_v, (Word, Sliced, BitAnd)) and (not isinstance(right_v, Word) or self.is_name(right_v)):
            right = self.operand(right_v)
            return self.compare_fields(left, right, rel, quant, node.pos)
        if isinstance(right_v, Word) and right_v.text in PROTOCOLS:
            raise self.err(f"the protocol '{right_v.text}' cannot be compared", right_v.pos)
        lit = self.literal_for(left, right_v)
        get = left.get

        def run(env: Env) -> np.ndarray:
            return combine([(valid, cmp_literal(vals, t, rel, lit, env.n)) for vals, valid in get(env)], quant, env.n)

        return run

    def compare_fields(self, left: Operand, right: Operand, rel: str, quant: str, pos: int) -> Eval:
        if not (left.numeric and right.numeric and left.field.type == right.field.type):
            raise self.err(f"{left.name} and {right.name} cannot be compared (types "
                           f"{_TYPE_NAMES.get(left.field.type, 'slice')}, {_TYPE_NAMES.get(right.field.type, 'slice')})",
                           pos)
        lg, rg = left.get, right.get

        def run(env: Env) -> np.ndarray:
            parts = []
            for a, va in lg(env):
                for b, vb in rg(env):
                    if a.dtype != b.dtype:
                        a, b = a.astype(np.int64), b.astype(np.int64)
                    parts.append((va & vb, np.asarray(_NP_OPS[rel](a, b), dtype=bool)))
            return combine(parts, quant, env.n)

        return run

    def member(self, node: Node) -> Eval:
        left = self.operand(node.args[0])
        t = left.field.type
        tests: list[tuple[Lit, Lit | None]] = []
        for item in node.args[1]:
            if isinstance(item, tuple):
                lo, hi = (self.literal_for(left, x) for x in item)
                if lo.kind in ("str", "bytes"):
                    raise self.err("ranges are for numbers and addresses", item[0].pos)
                tests.append((lo, hi))
            else:
                if isinstance(item, Word) and self.is_name(item):
                    raise self.err("set elements must be values", item.pos)
                tests.append((self.literal_for(left, item), None))
        get = left.get

        def test(vals: Any, n: int) -> np.ndarray:
            out = np.zeros(n, dtype=bool)
            for lo, hi in tests:
                if hi is None:
                    out |= cmp_literal(vals, t, "==", lo, n)
                else:
                    out |= cmp_literal(vals, t, ">=", lo, n) & cmp_literal(vals, t, "<=", hi, n)
            return out

        return lambda env: combine([(valid, test(vals, env.n)) for vals, valid in get(env)], "any", env.n)

    def search(self, node: Node) -> Eval:
        left_v, right_v = node.args
        if isinstance(left_v, Word) and left_v.text in PROTOCOLS and not self.is_name(left_v):
            raise self.err(f"'{node.op}' on a whole protocol needs its bytes, which the packet table does not keep",
                           node.pos)
        left = self.operand(left_v)
        t = left.field.type
        if t not in ("string", "bytes"):
            raise self.err(f"{left.name} (type={_TYPE_NAMES.get(t, 'slice')}) cannot participate in "
                           f"{node.op} comparison", left_v.pos)
        get = left.get
        if node.op == "contains":
            if isinstance(right_v, Word) and self.is_name(right_v):
                raise self.err("'contains' needs a value on the right", right_v.pos)
            lit = convert(right_v, left.field, self.text)
            if t == "string":
                pat = str(lit.value)

                def contains_str(env: Env) -> np.ndarray:
                    return combine([(valid, _np_bool(pc.match_substring(vals, pat), env.n)) for vals, valid in get(env)],
                                   "any", env.n)

                return contains_str
            needle = lit.value if isinstance(lit.value, bytes) else str(lit.value).encode()
            return lambda env: combine([(valid, _per_distinct(vals, lambda b: needle in b)) for vals, valid in get(env)],
                                       "any", env.n)
        if not isinstance(right_v, Str):
            raise self.err("the regular expression of 'matches' must be a double-quoted string", right_v.pos)
        pattern = right_v.value
        flags: int = re.IGNORECASE
        if pattern.startswith("(?-i)"):
            pattern, flags = pattern[5:], 0
        try:
            rx = re.compile(pattern, flags)
        except re.error as e:
            raise self.err(f"bad regular expression: {e}", right_v.pos) from None

        def as_text(v: Any) -> str:
            return v.decode("latin-1") if isinstance(v, bytes) else v

        return lambda env: combine([(valid, _per_distinct(vals, lambda s: rx.search(as_text(s)) is not None))
                                    for vals, valid in get(env)], "any", env.n)


class Filter:
    """A compiled display filter: ``Filter(batch)`` -> one bool per frame."""

    def __init__(self, text: str, evaluate: Eval, columns: list[str]) -> None:
        self.text = text
        self._eval = evaluate
        self.columns = columns
        """The packet-table columns the filter reads."""

    def __call__(self, batch: Union[pa.RecordBatch, pa.Table]) -> np.ndarray:
        env = Env(batch)
        out = self._eval(env)
        return np.asarray(out, dtype=bool)

    def apply(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        """The frames of ``batch`` the filter selects."""
        mask = self(batch)
        if mask.all():
            return batch
        return batch.filter(pa.array(mask))

    def __repr__(self) -> str:
        return f"Filter({self.text!r})"


def compile_filter(text: str) -> Filter:
    """Parse and check a Wireshark display filter.

    Raises :class:`~tracedoc.errors.FilterSyntaxError` (with the position of
    the fault) on bad syntax, unknown fields and values of the wrong type.
    """
    tree = parse(text)
    comp = Compiler(text)
    ev = comp.compile(tree)
    return Filter(text, ev, list(comp.columns))


def caret_lines(err: FilterSyntaxError) -> list[str]:
    """The filter text and a caret under the fault, for showing ``err``."""
    if not err.text:
        return []
    pos = max(0, min(err.position, len(err.text)))
    return [err.text, " " * pos + "^"]
