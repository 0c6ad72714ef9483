"""The IP Summary (one row per IP address) and the protocol hierarchy.

IP Summary
----------
Per address seen as the source or destination of an IP header: packets and
IP bytes sent and received, the sessions it opened (initiator) and accepted
(responder) as the Session Summary counts them, the protocols of the packets
it sent or received (the transport and the application protocols, by their
display-filter names), and the first and last time it was seen.  ARP and
non-IP frames count for nobody.

A tunnelled frame (more than one IP header: GRE, IP-in-IP, 6in4, VXLAN,
Teredo, GTP-U, ERSPAN ...) counts for the tunnel's ends (the outermost IP
header) *and* for the hosts inside it (the innermost IP header), as
Wireshark's Endpoints table counts every IP header's addresses.  The tunnel
ends are credited with the tunnel's protocols (``gre``; ``udp`` and
``vxlan``; ``ipv6`` for 6in4 ...), the inner hosts with the transport after
the innermost header and the frame's application protocols.  An address in
both headers (a host that ends its own tunnel) counts the frame once, where
Wireshark counts it once per header.  The bytes are the outermost IP
header's length (``ip.len``, or ``ipv6.plen`` + 40) for both: the packet
table does not keep the inner header's length, so an inner host's bytes
include the tunnel's headers.  Headers between the outermost and the
innermost (a tunnel inside a tunnel) are not in the table and count for
nobody; neither does an IP header quoted in an ICMP error (nor does it in
Wireshark's table).

Protocol hierarchy
------------------
Like ``tshark -q -z io,phs``: every frame counts, with its length on the
wire, in each node of its protocol path (``eth`` / ``ip`` / ``tcp`` /
``http``).  The path is built from the packet table: ``pkt_comment`` for a
frame with a comment (as tshark shows it), the link layer and what its type
fields say follows (VLAN, PPPoE, PPP, MPLS, ARP), the outermost network
layer (an IP-in-IP packet shows both headers), its transport, a tunnel
(VXLAN, Geneve, GTP-U, ERSPAN) and the application protocols tracedoc
decodes (``tracedoc.app``).  What tshark
shows and tracedoc does not decode is not there: undissected payload
(``data``), media types inside HTTP (``data-text-lines``, ``xml``, ...), its
reassembly markers (``tcp.segments``) and protocols carried inside tunnels
past the first transport (the table holds only the first occurrence of a
header); a frame of such a protocol counts in its nearest decoded ancestor.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tracedoc.analyze import endpoints
from tracedoc.analyze.columns import valid as _valid
from tracedoc.analyze.columns import values
from tracedoc.analyze.endpoints import Ends, address_text, ends
from tracedoc.decode.display import format_ipv4, format_ipv6

SCHEMA = pa.schema([
    pa.field("address", pa.string()),
    pa.field("packets_sent", pa.int64()),
    pa.field("packets_received", pa.int64()),
    pa.field("bytes_sent", pa.int64()),
    pa.field("bytes_received", pa.int64()),
    pa.field("sessions_opened", pa.int64()),
    pa.field("sessions_accepted", pa.int64()),
    pa.field("protocols", pa.list_(pa.string())),
    pa.field("first_seen", pa.int64()),
    pa.field("last_seen", pa.int64()),
])
"""One row per IP address, the busiest (packets sent + received) first.
``first_seen``/``last_seen`` are epoch ns; ``sessions_*`` are null when no
session table was given or could be built."""

COLUMNS = list(dict.fromkeys([
    "frame.number", "frame.time_epoch", "frame.len", "frame.linktype", "frame.comment",
    "eth.type", "vlan.etype", "sll.etype", "llc.dsap",
    "ip.src", "ip.dst", "ip.len", "ip.proto", "ipv6.src", "ipv6.dst", "ipv6.plen", "ipv6.nxt",
    "tcp.srcport", "udp.srcport", "icmp.type", "icmpv6.type", "gre.proto", "esp.spi", "ah.spi",
    "eth.src", "sll.pkttype", "null.family", "wlan.fc.type_subtype", "vlan.id", "pppoe.code",
    "pppoe.session_id", "ppp.protocol", "mpls.label", "arp.opcode",
    "vxlan.vni", "geneve.vni", "gtp.teid", "erspan.spanid", "ctrace.record_type", "tracedoc.app",
    *endpoints.NEEDS,
]))
"""The packet-table columns :func:`hosts` and :func:`protocol_hierarchy` read."""

# IP protocol numbers with their filter names, for packets with no decoded transport.
IP_PROTOCOLS = {1: "icmp", 2: "igmp", 4: "ip", 6: "tcp", 17: "udp", 41: "ipv6", 47: "gre", 50: "esp",
                51: "ah", 58: "icmpv6", 89: "ospf", 103: "pim", 112: "vrrp", 132: "sctp"}

# Link types (LINKTYPE_*) and the protocol tshark's io,phs shows for them.
LINK_PROTOCOLS = {0: "null", 1: "eth", 9: "ppp", 12: "raw", 14: "raw", 101: "raw", 105: "wlan", 108: "null",
                  113: "sll", 276: "sll"}


def _col(tbl: pa.Table, name: str) -> pa.Array:
    if name not in tbl.column_names:
        return pa.nulls(tbl.num_rows)
    return tbl[name].combine_chunks()


def _ints(tbl: pa.Table, name: str) -> np.ndarray:
    return values(tbl, name, np.int64)[0]


def _text(arr: pa.Array, kind: str) -> pa.Array:
    if pa.types.is_null(arr.type):
        return pa.nulls(len(arr), pa.string())
    return format_ipv4(arr) if kind == "v4" else format_ipv6(arr)


_IPV6_EXTENSIONS = (0, 43, 44, 60)  # hop-by-hop, routing, fragment, destination options

# The column that shows a transport was decoded, by IP protocol number.
_DECODED = {1: "icmp.type", 6: "tcp.srcport", 17: "udp.srcport", 47: "gre.proto", 50: "esp.spi", 51: "ah.spi",
            58: "icmpv6.type"}


_TUNNELS = {"gre.proto": "", "vxlan.vni": "vxlan", "geneve.vni": "geneve", "gtp.teid": "gtp",
            "erspan.spanid": "erspan"}
"""Tunnel columns, and the name the hierarchy shows after the transport (GRE is the transport)."""


class _Layers:
    """The network layers of each frame: the outermost IP header, an IP
    header it carries directly (6in4, 4in6), and the protocol number of the
    transport that follows."""

    def __init__(self, tbl: pa.Table) -> None:
        has4, has6 = _valid(tbl, "ip.src"), _valid(tbl, "ipv6.src")
        proto4, nxt6 = _ints(tbl, "ip.proto"), _ints(tbl, "ipv6.nxt")
        self.six_outer = has6 & (~has4 | (nxt6 == 4))
        self.four_outer = has4 & ~self.six_outer
        self.inner6 = self.four_outer & has6 & (proto4 == 41)
        self.inner4 = self.six_outer & has4 & (nxt6 == 4)
        self.number = np.where(self.four_outer & ~self.inner6, proto4, nxt6)
        self.has_ip = has4 | has6
        # An IP header of the other version that is no direct inner header
        # came through a tunnel (Teredo, L2TP, ...).
        self.tunnelled = has4 & has6 & ~self.inner6 & ~self.inner4

    def tunnel(self, tbl: pa.Table) -> np.ndarray:
        """Frames carrying a tunnel (another IP version not directly inside,
        GRE, VXLAN, Geneve, GTP-U, ERSPAN): past it the table holds no more
        layers of the inner packet (only each header's first occurrence)."""
        out = self.tunnelled.copy()
        for col in _TUNNELS:
            out |= _valid(tbl, col)
        return out

    def transport(self, tbl: pa.Table, decoded_only: bool) -> np.ndarray:
        """The transport's filter name per frame ("" for none): by the IP
        protocol number, and only if tracedoc decoded it when ``decoded_only``."""
        out = np.full(tbl.num_rows, "", dtype=object)
        for p in np.unique(self.number[self.has_ip]).tolist():
            mask = self.has_ip & (self.number == p)
            if p in _IPV6_EXTENSIONS:
                # The transport follows extension headers: the decoded one, if any.
                for q, after in _DECODED.items():
                    out[mask & _valid(tbl, after)] = IP_PROTOCOLS[q]
                continue
            if decoded_only:
                col = _DECODED.get(p)
                if col is None:
                    continue
                mask &= _valid(tbl, col)
            out[mask] = IP_PROTOCOLS.get(p, f"ip.proto {p}")
        return out


def hosts(tbl: pa.Table, sessions: pa.Table | None = None) -> pa.Table:
    """The IP Summary of the packets in ``tbl``.

    ``sessions`` is the Session Summary's table (or its
    :class:`~tracedoc.analyze.sessions.Sessions`), whose ``initiator_ip`` and
    ``responder_ip`` give the sessions opened and accepted; when None it is
    built from ``tbl`` (which then needs the session columns)."""
    if sessions is None:
        sessions = _build_sessions(tbl)
    elif not isinstance(sessions, pa.Table):
        sessions = sessions.table
    ip = _Addresses(tbl)
    size = pa.array(np.where(ip.outer_v6, _ints(tbl, "ipv6.plen") + 40, _ints(tbl, "ip.len")), pa.int64())
    t = _col(tbl, "frame.time_epoch")
    if pa.types.is_null(t.type):
        t = pa.nulls(tbl.num_rows, pa.int64())
    # Each frame once for its outermost addresses, once more for the
    # innermost ones of a tunnelled frame (unless they are the same).
    inner_src = pc.if_else(pc.equal(ip.inner_src, ip.src), pa.nulls(tbl.num_rows, pa.string()), ip.inner_src)
    inner_dst = pc.if_else(pc.equal(ip.inner_dst, ip.dst), pa.nulls(tbl.num_rows, pa.string()), ip.inner_dst)
    size2, t2 = pa.concat_arrays([size, size]), pa.concat_arrays([t, t])
    sent = _per_address(pa.concat_arrays([ip.src, inner_src]), size2, t2, "sent")
    recv = _per_address(pa.concat_arrays([ip.dst, inner_dst]), size2, t2, "received")
    joined = sent.join(recv, "address", join_type="full outer", coalesce_keys=True)
    addr = joined["address"].combine_chunks()
    zero = pa.scalar(0, pa.int64())
    cols: dict[str, pa.Array] = {"address": addr}
    for name in ("packets_sent", "packets_received", "bytes_sent", "bytes_received"):
        cols[name] = pc.fill_null(joined[name].combine_chunks(), zero)
    if sessions is not None and sessions.num_rows:
        cols["sessions_opened"] = _count_in(addr, sessions["initiator_ip"].combine_chunks())
        cols["sessions_accepted"] = _count_in(addr, sessions["responder_ip"].combine_chunks())
    elif sessions is not None:
        cols["sessions_opened"] = cols["sessions_accepted"] = pa.array(np.zeros(len(addr), np.int64))
    else:
        cols["sessions_opened"] = cols["sessions_accepted"] = pa.nulls(len(addr), pa.int64())
    cols["protocols"] = _protocols(tbl, ip, addr)
    cols["first_seen"] = pc.min_element_wise(joined["first_sent"].combine_chunks(),
                                             joined["first_received"].combine_chunks())
    cols["last_seen"] = pc.max_element_wise(joined["last_sent"].combine_chunks(),
                                            joined["last_received"].combine_chunks())
    out = pa.table(cols, schema=SCHEMA)
    if not out.num_rows:
        return out
    busy = pc.add(out["packets_sent"], out["packets_received"])
    order = pc.sort_indices(pa.table({"busy": busy, "address": out["address"]}),
                            sort_keys=[("busy", "descending"), ("address", "ascending")])
    return out.take(order)


class _Addresses:
    """The addresses each frame counts for, as text (null: none): the
    outermost IP header's (``src``, ``dst``) and, on a tunnelled frame, the
    innermost one's (``inner_src``, ``inner_dst``)."""

    def __init__(self, tbl: pa.Table) -> None:
        n = tbl.num_rows
        self.ends = e = _ends(tbl)
        has4, has6 = _valid(tbl, "ip.src"), _valid(tbl, "ipv6.src")
        # The table keeps each header's first occurrence, so with both
        # families present the outermost is the one the innermost is not.
        self.outer_v6 = has6 & (~has4 | (e.tunnelled & e.is_v4))
        self.outer_v4 = has4 & ~self.outer_v6
        none = pa.nulls(n, pa.string())
        v4, v6 = pa.array(self.outer_v4), pa.array(self.outer_v6)
        self.src = pc.if_else(v4, _text(_col(tbl, "ip.src"), "v4"),
                              pc.if_else(v6, _text(_col(tbl, "ipv6.src"), "v6"), none))
        self.dst = pc.if_else(v4, _text(_col(tbl, "ip.dst"), "v4"),
                              pc.if_else(v6, _text(_col(tbl, "ipv6.dst"), "v6"), none))
        self.inner_src = _ends_text(e.src, e.tunnelled)
        self.inner_dst = _ends_text(e.dst, e.tunnelled)


def _ends(tbl: pa.Table) -> Ends:
    """:func:`~tracedoc.analyze.endpoints.ends` of ``tbl``; a column it
    lacks (or holds as nulls only) reads as no value on every row."""
    cols = {}
    for name in endpoints.NEEDS:
        a = _col(tbl, name)
        cols[name] = pa.nulls(tbl.num_rows, pa.int64()) if pa.types.is_null(a.type) else a
    return ends(pa.table(cols))


def _ends_text(addr: np.ndarray, rows: np.ndarray) -> pa.Array:
    """The 16-byte addresses of :class:`Ends` as text where ``rows``, else null."""
    n = len(addr)
    raw = pa.FixedSizeBinaryArray.from_buffers(pa.binary(16), n, [None, pa.py_buffer(addr.tobytes())])
    enc = pc.dictionary_encode(pc.if_else(pa.array(rows), raw, pa.nulls(n, pa.binary(16))))
    texts = pa.array([address_text(v) for v in enc.dictionary.to_pylist()], pa.string())
    return pc.take(texts, enc.indices)


def _build_sessions(tbl: pa.Table) -> pa.Table | None:
    from tracedoc.analyze.sessions import build_sessions

    if "ip.src" not in tbl.column_names:
        return None
    return build_sessions(tbl).table


def _per_address(addr: pa.Array, size: np.ndarray, t: pa.Array, side: str) -> pa.Table:
    part = pa.table({"address": addr, "size": pa.array(size, pa.int64()), "t": t})
    part = part.filter(pc.is_valid(part["address"]))
    g = part.group_by("address", use_threads=False).aggregate(
        [("address", "count"), ("size", "sum"), ("t", "min"), ("t", "max")])
    return pa.table({"address": g["address"],
                     f"packets_{side}": pc.cast(g["address_count"], pa.int64()),
                     f"bytes_{side}": pc.cast(g["size_sum"], pa.int64()),
                     f"first_{side}": pc.cast(g["t_min"], pa.int64()),
                     f"last_{side}": pc.cast(g["t_max"], pa.int64())})


def _count_in(addr: pa.Array, values: pa.Array) -> pa.Array:
    """How often each of ``addr`` occurs in ``values``."""
    vc = pc.value_counts(values.drop_null())
    idx = pc.index_in(addr, value_set=vc.field("values"))
    counts = pc.take(vc.field("counts"), idx)
    return pc.fill_null(pc.cast(counts, pa.int64()), pa.scalar(0, pa.int64()))


def _protocols(tbl: pa.Table, ip: _Addresses, addr: pa.Array) -> pa.Array:
    """The sorted protocol names of the packets each address sent or received.

    An untunnelled frame's transport and applications belong to its
    addresses.  A tunnelled frame's outermost addresses get the protocol
    their IP header carries (``gre``, ``udp``, ``ipv6`` ...) and the tunnel
    after it (``vxlan``, ``geneve``, ``gtp``, ``erspan``), its innermost ones the transport after the innermost header and the
    applications; a tunnel with no IP header inside (ERSPAN carrying ARP,
    say) gives its applications to nobody."""
    n = tbl.num_rows
    lay = _Layers(tbl)
    tun = ip.ends.tunnelled
    none = pa.nulls(n, pa.string())

    def names(values: np.ndarray) -> pa.Array:
        arr = pa.array(values.tolist(), type=pa.string())
        return pc.if_else(pc.equal(arr, ""), none, arr)

    outer = lay.transport(tbl, False)
    number = np.where(ip.outer_v6, _ints(tbl, "ipv6.nxt"), _ints(tbl, "ip.proto"))
    for p in np.unique(number[tun]).tolist():
        at = tun & (number == p)
        outer[at] = "" if p in _IPV6_EXTENSIONS else IP_PROTOCOLS.get(p, f"ip.proto {p}")
    inner = np.full(n, "", dtype=object)
    inner[tun & _valid(tbl, "icmp.type")] = "icmp"
    inner[tun & _valid(tbl, "icmpv6.type")] = "icmpv6"
    inner[tun & (ip.ends.proto == 6)] = "tcp"
    inner[tun & (ip.ends.proto == 17)] = "udp"
    protocols = [names(outer), names(outer), names(inner), names(inner)]
    who = [ip.src, ip.dst, ip.inner_src, ip.inner_dst]
    for col, name in _TUNNELS.items():
        if name:  # the tunnel after the outer transport: vxlan, geneve, gtp, erspan
            at = np.where(_valid(tbl, col), name, "")
            protocols += [names(at), names(at)]
            who += [ip.src, ip.dst]
    apps = _col(tbl, "tracedoc.app")
    if pa.types.is_list(apps.type):
        # The application of a tunnelled packet belongs to the hosts inside.
        app_src = pc.if_else(pa.array(tun), ip.inner_src, pc.if_else(pa.array(lay.tunnel(tbl)), none, ip.src))
        app_dst = pc.if_else(pa.array(tun), ip.inner_dst, pc.if_else(pa.array(lay.tunnel(tbl)), none, ip.dst))
        parents = pc.list_parent_indices(apps)
        flat = apps.flatten()
        protocols += [flat, flat]
        who += [pc.take(app_src, parents), pc.take(app_dst, parents)]
    pairs = pa.table({"address": pa.concat_arrays([pc.cast(w, pa.string()) for w in who]),
                      "protocol": pa.concat_arrays([pc.cast(x, pa.string()) for x in protocols])})
    pairs = pairs.filter(pc.and_(pc.is_valid(pairs["address"]), pc.is_valid(pairs["protocol"])))
    uniq = pairs.group_by(["address", "protocol"], use_threads=False).aggregate([])
    uniq = uniq.sort_by([("address", "ascending"), ("protocol", "ascending")])
    lists = uniq.group_by("address", use_threads=False).aggregate([("protocol", "list")])
    idx = pc.index_in(addr, value_set=lists["address"].combine_chunks())
    got = pc.take(lists["protocol_list"].combine_chunks(), idx)
    empty = pa.array([[]] * len(addr), type=pa.list_(pa.string()))
    return pc.if_else(pc.is_valid(got), got, empty) if len(addr) else empty


# -- protocol hierarchy --------------------------------------------------------------

PHS_SCHEMA = pa.schema([
    pa.field("path", pa.string()),
    pa.field("protocol", pa.string()),
    pa.field("depth", pa.int32()),
    pa.field("frames", pa.int64()),
    pa.field("bytes", pa.int64()),
])
"""One row per node of the hierarchy in depth-first order (children in
order of first appearance, as tshark lists them): ``path`` is the
colon-joined protocols from the root (``eth:ip:tcp``), ``depth`` 0 for a
root; ``frames`` and ``bytes`` (``frame.len``) count every frame whose path
passes through the node."""


_VLAN_TYPES = (0x8100, 0x88A8, 0x9100)
_NET_BY_ETHERTYPE = {0x0800: "ip", 0x86DD: "ipv6", 0x0806: "arp"}
_PPP_NAMES = {0x0021: "ip", 0x0057: "ipv6", 0xC021: "lcp", 0x8021: "ipcp", 0x8057: "ipv6cp", 0xC023: "pap",
              0xC223: "chap", 0x0281: "mpls"}


def frame_paths(tbl: pa.Table) -> pa.Array:
    """Each frame's protocol path (``eth:ip:tcp:http``) as the hierarchy counts it.

    The link layer's type fields (``eth.type``, ``vlan.etype``,
    ``sll.etype``, ``ppp.protocol``) say what follows the outer headers, so
    a VLAN tag or an ARP message inside a tunnel is not taken for the outer
    frame's; the network layers come from the IP columns, the transport from
    the IP protocol number (or the decoded header after IPv6 extension
    headers)."""
    n = tbl.num_rows
    if not n:
        return pa.array([], pa.string())
    lay = _Layers(tbl)

    def ints(name: str) -> pa.Array:
        v = _ints(tbl, name)
        return pa.array(np.where(_valid(tbl, name), v, -1))

    transport = pa.array(lay.transport(tbl, True).tolist(), pa.string())
    net = np.full(n, "", dtype=object)
    net[lay.four_outer] = "ip"
    net[lay.six_outer] = "ipv6"
    net[lay.inner6] = "ip:ipv6"
    net[lay.inner4] = "ipv6:ip"
    tunnel_name = np.full(n, "", dtype=object)
    for col, name in _TUNNELS.items():
        if name:
            tunnel_name[_valid(tbl, col)] = name
    tunnel = lay.tunnel(tbl)
    apps = _col(tbl, "tracedoc.app")
    app_text = pa.array([""] * n)
    if pa.types.is_list(apps.type):
        app_text = pc.fill_null(pc.binary_join(apps, ":"), "")
    ethertype = pc.coalesce(pc.if_else(pa.array(_valid(tbl, "eth.type")), ints("eth.type"), pa.nulls(n, pa.int64())),
                            ints("sll.etype"))
    sig = pa.table({
        "link": ints("frame.linktype"), "comment": pa.array(_valid(tbl, "frame.comment")),
        "ctrace": pa.array(_valid(tbl, "ctrace.record_type")), "et": ethertype, "vlan_et": ints("vlan.etype"),
        "pppoe": ints("pppoe.code"), "ppp": ints("ppp.protocol"), "mpls": pa.array(_valid(tbl, "mpls.label")),
        "llc": pa.array(_valid(tbl, "llc.dsap")), "net": pa.array(net.tolist(), pa.string()), "transport": transport,
        "tunnel_name": pa.array(tunnel_name.tolist(), pa.string()), "tunnel": pa.array(tunnel),
        "apps": app_text,
    })
    keys = pc.binary_join_element_wise(*[pc.cast(sig[c], pa.string()) for c in sig.column_names], "|")
    enc = pc.dictionary_encode(keys).combine_chunks()
    first = pc.index_in(enc.dictionary, value_set=keys.combine_chunks() if isinstance(keys, pa.ChunkedArray)
                        else keys)
    rows = sig.take(first).to_pylist()
    paths = pa.array([_path(r) for r in rows], pa.string())
    return pc.take(paths, enc.indices)


def _link_name(linktype: int) -> str:
    """A link type tracedoc does not decode, by its LINKTYPE_ name (``arcnet_bsd``)."""
    from tracedoc.read.linktypes import linktype_name

    return linktype_name(linktype).lower()


def _path(r: dict) -> str:
    """The protocol path of one frame signature (see :func:`frame_paths`)."""
    out: list[str] = ["pkt_comment"] if r["comment"] else []
    if r["ctrace"]:
        out.append("ctrace")
    else:
        link = LINK_PROTOCOLS.get(r["link"]) or (_link_name(r["link"]) if r["link"] >= 0 else "")
        if link:
            out.append(link)
    et = r["et"]
    if r["llc"] and et < 0:
        out.append("llc")
    if et in _VLAN_TYPES:
        out.append("vlan")
        et = r["vlan_et"]
        if et in _VLAN_TYPES:  # a second tag: its type field is not in the table
            out.append("vlan")
            et = -1
    if et in (0x8863, 0x8864):
        out.append("pppoed" if et == 0x8863 else "pppoes")
        if et == 0x8863:
            return ":".join(out)
    ppp = r["ppp"]
    if ppp >= 0 and (et == 0x8864 or r["link"] == 9):
        out.append("ppp")
        nxt = _PPP_NAMES.get(ppp, "")
        if nxt not in ("ip", "ipv6", "mpls"):
            return ":".join(out + ([nxt] if nxt else []))
    if et in (0x8847, 0x8848) or (r["mpls"] and et < 0):
        out.append("mpls")
    kind = _NET_BY_ETHERTYPE.get(et)
    if kind == "arp":
        return ":".join(out + ["arp"])
    if not r["net"]:
        return ":".join(out)
    out.append(r["net"])
    if r["transport"]:
        out.append(r["transport"])
    if r["tunnel_name"]:
        out.append(r["tunnel_name"])
    # Past a tunnel (or IPsec) the table holds no more layers of the inner
    # packet (only each header's first occurrence): its application is not shown.
    if r["apps"] and not r["tunnel"] and r["transport"] not in ("ah", "esp"):
        out.append(r["apps"])
    return ":".join(out)


def protocol_hierarchy(tbl: pa.Table) -> pa.Table:
    """Frames and bytes per protocol path, like ``tshark -q -z io,phs``."""
    paths = frame_paths(tbl)
    if not len(paths):
        return PHS_SCHEMA.empty_table()
    size = _col(tbl, "frame.len")
    size = pa.array(np.zeros(len(paths), np.int64)) if pa.types.is_null(size.type) else pc.cast(size, pa.int64())
    g = pa.table({"path": paths, "size": size, "i": pa.array(np.arange(len(paths)))}).group_by(
        "path", use_threads=False).aggregate([("path", "count"), ("size", "sum"), ("i", "min")])
    frames: dict[tuple[str, ...], int] = {}
    nbytes: dict[tuple[str, ...], int] = {}
    first: dict[tuple[str, ...], int] = {}
    for p, c, b, i in zip(g["path"].to_pylist(), g["path_count"].to_pylist(), g["size_sum"].to_pylist(),
                          g["i_min"].to_pylist()):
        parts = tuple(x for x in p.split(":") if x)
        for k in range(1, len(parts) + 1):
            node = parts[:k]
            frames[node] = frames.get(node, 0) + c
            nbytes[node] = nbytes.get(node, 0) + (b or 0)
            first[node] = min(first.get(node, i), i)
    children: dict[tuple[str, ...], list[tuple[str, ...]]] = {}
    for node in frames:
        children.setdefault(node[:-1], []).append(node)
    rows: list[dict[str, object]] = []

    def walk(parent: tuple[str, ...]) -> None:
        for node in sorted(children.get(parent, []), key=lambda x: first[x]):
            rows.append({"path": ":".join(node), "protocol": node[-1], "depth": len(node) - 1,
                         "frames": frames[node], "bytes": nbytes[node]})
            walk(node)

    walk(())
    return pa.Table.from_pylist(rows, schema=PHS_SCHEMA)
