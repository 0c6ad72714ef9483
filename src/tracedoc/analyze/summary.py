"""The Packet Summary: derived columns over the packet table.

Which side is "local" is decided once per trace: the ``--local`` network if
given, else the address seen in the most packets.  Local IP / Rmt. IP and
the ports are then oriented to that side and ``Dir`` says which way the
packet went (``->`` out of the local side, ``<-`` into it).
"""

from __future__ import annotations

import ipaddress
from collections import Counter
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tracedoc.analyze.columns import values as _np
from tracedoc.analyze.endpoints import address_text
from tracedoc.analyze.services import TCP_SERVICES, UDP_SERVICES
from tracedoc.decode.display import format_ether, format_ipv4, format_ipv6

COLUMNS = ["ID", "Timestamp", "Datagram Size", "Local IP", "Dir", "Rmt. IP", "Protocol", "Messages",
           "Local Port", "Rmt. Port", "Seq. Number", "Ack. Number", "Window Size"]

# Order of flag names in the Messages column ("ACK PSH FIN", "ACK SYN").
_FLAG_ORDER = ((0x10, "ACK"), (0x20, "URG"), (0x08, "PSH"), (0x04, "RST"), (0x02, "SYN"), (0x01, "FIN"),
               (0x40, "ECE"), (0x80, "CWR"))
_FLAG_TEXT = np.array([" ".join(n for bit, n in _FLAG_ORDER if f & bit) for f in range(256)], dtype=object)

ICMP_TYPES = {0: "Echo Reply", 3: "Destination Unreachable", 4: "Source Quench", 5: "Redirect",
              8: "Echo Request", 9: "Router Advertisement", 10: "Router Solicitation",
              11: "Time Exceeded", 12: "Parameter Problem", 13: "Timestamp Request",
              14: "Timestamp Reply", 17: "Address Mask Request", 18: "Address Mask Reply"}
ICMP_UNREACH = {0: "Network unreachable", 1: "Host unreachable", 2: "Protocol unreachable",
                3: "Port unreachable", 4: "Fragmentation needed", 5: "Source route failed",
                6: "Destination network unknown", 7: "Destination host unknown", 8: "Source host isolated",
                9: "Network administratively prohibited", 10: "Host administratively prohibited",
                11: "Network unreachable for TOS", 12: "Host unreachable for TOS",
                13: "Communication administratively prohibited", 14: "Host precedence violation",
                15: "Precedence cutoff in effect"}
ICMP_REDIRECT = {0: "Redirect for network", 1: "Redirect for host", 2: "Redirect for TOS and network",
                 3: "Redirect for TOS and host"}
ICMPV6_TYPES = {1: "Destination Unreachable", 2: "Packet Too Big", 3: "Time Exceeded",
                4: "Parameter Problem", 128: "Echo Request", 129: "Echo Reply",
                130: "Multicast Listener Query", 131: "Multicast Listener Report",
                132: "Multicast Listener Done", 133: "Router Solicitation", 134: "Router Advertisement",
                135: "Neighbor Solicitation", 136: "Neighbor Advertisement", 137: "Redirect",
                143: "Multicast Listener Report v2"}
ICMPV6_UNREACH = {0: "No route to destination", 1: "Administratively prohibited",
                  2: "Beyond scope of source address", 3: "Address unreachable", 4: "Port unreachable",
                  5: "Source address failed policy", 6: "Reject route to destination"}


def icmp_message(t: int, c: int) -> str:
    if t == 3:
        return f"Destination Unreachable : {ICMP_UNREACH.get(c, f'code {c}')}"
    if t == 11:
        return "Transit TTL exceeded" if c == 0 else "Fragment reassembly time exceeded"
    if t == 5:
        return f"Redirect : {ICMP_REDIRECT.get(c, f'code {c}')}"
    return ICMP_TYPES.get(t, f"ICMP type {t} code {c}")


def icmpv6_message(t: int, c: int) -> str:
    if t == 1:
        return f"Destination Unreachable : {ICMPV6_UNREACH.get(c, f'code {c}')}"
    if t == 3:
        return "Hop limit exceeded in transit" if c == 0 else "Fragment reassembly time exceeded"
    return ICMPV6_TYPES.get(t, f"ICMPv6 type {t} code {c}")


@dataclass
class LocalSide:
    network: ipaddress.IPv4Network | ipaddress.IPv6Network | None
    inferred: bool

    def describe(self) -> str:
        if self.network is None:
            return "local side: unknown (no IP traffic)"
        net = self.network
        what = str(net.network_address) if net.prefixlen == net.max_prefixlen else str(net)
        how = "inferred: the address in most packets" if self.inferred else "given with --local"
        return f"local side: {what} ({how})"


def _tunnel_text(tbl: pa.Table, name: str) -> pa.Array:
    """The innermost address of tunnelled frames as text (IPv4 dotted)."""
    if name not in tbl.column_names:
        return pa.nulls(tbl.num_rows, pa.string())
    enc = pc.dictionary_encode(tbl[name].combine_chunks())
    texts = pa.array([address_text(v) for v in enc.dictionary.to_pylist()], type=pa.string())
    return pc.take(texts, enc.indices)


def _addresses(tbl: pa.Table) -> tuple[pa.Array, pa.Array]:
    """Source and destination address text: the innermost IP header's (as
    Wireshark shows a tunnelled packet), else IPv4, IPv6, or ARP sender/target."""
    src = pc.coalesce(_tunnel_text(tbl, "tracedoc.tunnel.src"),
                      format_ipv4(tbl["ip.src"].combine_chunks()),
                      format_ipv6(tbl["ipv6.src"].combine_chunks()),
                      format_ipv4(tbl["arp.src.proto_ipv4"].combine_chunks()))
    dst = pc.coalesce(_tunnel_text(tbl, "tracedoc.tunnel.dst"),
                      format_ipv4(tbl["ip.dst"].combine_chunks()),
                      format_ipv6(tbl["ipv6.dst"].combine_chunks()),
                      format_ipv4(tbl["arp.dst.proto_ipv4"].combine_chunks()))
    return src, dst


def infer_local(tbl: pa.Table, given: str | None = None) -> LocalSide:
    if given:
        return LocalSide(ipaddress.ip_network(given, strict=False), False)
    src, dst = _addresses(tbl)
    counts: Counter[str] = Counter()
    for arr in (src, dst):
        vc = pc.value_counts(arr.drop_null())
        for item in vc.to_pylist():
            counts[item["values"]] += item["counts"]
    if not counts:
        return LocalSide(None, True)
    addr = ipaddress.ip_address(counts.most_common(1)[0][0])
    return LocalSide(ipaddress.ip_network(addr), True)


def _in_network(addrs: pa.Array, net) -> np.ndarray:  # type: ignore[no-untyped-def]
    """Which addresses lie in ``net`` (each distinct address tested once)."""
    if net is None or len(addrs) == 0:
        return np.zeros(len(addrs), dtype=bool)
    enc = pc.dictionary_encode(addrs)
    hits = []
    for a in enc.dictionary.to_pylist():
        try:
            hits.append(ipaddress.ip_address(a) in net)
        except ValueError:
            hits.append(False)
    inside = np.asarray(hits + [False], dtype=bool)
    idx = enc.indices.fill_null(len(hits)).to_numpy(zero_copy_only=False)
    return inside[idx]


def _service(ports: np.ndarray, valid: np.ndarray, table: dict[int, str]) -> pa.Array:
    """Service name of each port (its number where it has no name)."""
    uniq, inv = np.unique(ports, return_inverse=True)
    names = pa.array([table.get(int(p), str(int(p))) for p in uniq.tolist()], type=pa.string())
    out = pc.take(names, pa.array(inv.ravel()))
    return pc.if_else(pa.array(valid), out, pa.nulls(len(ports), pa.string()))


def messages(tbl: pa.Table) -> np.ndarray:
    n = tbl.num_rows
    msg = np.empty(n, dtype=object)
    msg[:] = ""
    flags, has_tcp = _np(tbl, "tcp.flags")
    msg[has_tcp] = _FLAG_TEXT[(flags[has_tcp] & 0xFF).astype(np.intp)]
    for type_col, code_col, fn in (("icmp.type", "icmp.code", icmp_message),
                                   ("icmpv6.type", "icmpv6.code", icmpv6_message)):
        t, has = _np(tbl, type_col)
        c, _ = _np(tbl, code_col)
        if has.any():
            pairs = np.unique(np.stack([t[has], c[has]], axis=1), axis=0)
            for tt, cc in pairs.tolist():
                m = has & (t == tt) & (c == cc)
                msg[m] = fn(int(tt), int(cc))
    op, has_arp = _np(tbl, "arp.opcode")
    if has_arp.any():
        spa = format_ipv4(tbl["arp.src.proto_ipv4"].combine_chunks()).to_pylist()
        tpa = format_ipv4(tbl["arp.dst.proto_ipv4"].combine_chunks()).to_pylist()
        sha = format_ether(tbl["arp.src.hw_mac"].combine_chunks()).to_pylist()
        for i in np.flatnonzero(has_arp).tolist():
            if op[i] == 1:
                msg[i] = f"ARP Request: Who Has {tpa[i]}? Tell {spa[i]}"
            elif op[i] == 2:
                mac = (sha[i] or "").upper()
                msg[i] = f"ARP Reply: {spa[i]} is at {mac}"
            else:
                msg[i] = f"ARP opcode {op[i]}"
    # What the application message says: "ACK PSH : ftp reply code 220",
    # "dns : client query (Standard) www.example.org.".
    if "tracedoc.message" in tbl.column_names:
        app = tbl["tracedoc.message"].combine_chunks()
        if app.null_count < len(app):
            texts = app.to_pylist()
            for i in np.flatnonzero(np.asarray(app.is_valid().to_numpy(zero_copy_only=False))).tolist():
                msg[i] = f"{msg[i]} : {texts[i]}" if msg[i] else texts[i]
    # CTRACE discard records say why the stack dropped the packet.
    if "ctrace.discard" in tbl.column_names:
        code, has_code = _np(tbl, "ctrace.discard")
        if has_code.any():
            names = tbl["ctrace.discard_name"].to_pylist()
            for i in np.flatnonzero(has_code).tolist():
                text = f"Discard {int(code[i])} ({names[i]})"
                msg[i] = f"{text} : {msg[i]}" if msg[i] else text
    return msg


def protocol_names(tbl: pa.Table) -> np.ndarray:
    n = tbl.num_rows
    proto = np.empty(n, dtype=object)
    proto[:] = "NON IP"
    for col, name in (("ip.version", "IP"), ("ipv6.version", "IPv6"), ("arp.opcode", "ARP"),
                      ("udp.srcport", "UDP"), ("tcp.srcport", "TCP"), ("icmpv6.type", "ICMPv6"),
                      ("icmp.type", "ICMP")):
        _, has = _np(tbl, col)
        proto[has] = name
    return proto


def summary(tbl: pa.Table, local: LocalSide) -> pa.Table:
    """The Packet Summary rows for the packets of ``tbl``."""
    src, dst = _addresses(tbl)
    src_local = _in_network(src, local.network)
    dst_local = _in_network(dst, local.network)
    # Packets into the local side are shown from the local side's point of view.
    inbound = dst_local & ~src_local
    tsp, has_tcp = _np(tbl, "tcp.srcport")
    tdp, _ = _np(tbl, "tcp.dstport")
    usp, has_udp = _np(tbl, "udp.srcport")
    udp_dp, _ = _np(tbl, "udp.dstport")
    sp = np.where(has_tcp, tsp, usp)
    dp = np.where(has_tcp, tdp, udp_dp)
    if "tracedoc.tunnel.proto" in tbl.column_names:
        # Behind a tunnel, the ports after the innermost IP header, or none
        # (ICMP inside the tunnel): not the tunnel's own UDP ports.
        tproto, _ = _np(tbl, "tracedoc.tunnel.proto")
        tunnelled = np.asarray(tbl["tracedoc.tunnel.src"].combine_chunks().is_valid()
                               .to_numpy(zero_copy_only=False), dtype=bool)
        tsp2, _ = _np(tbl, "tracedoc.tunnel.srcport")
        tdp2, _ = _np(tbl, "tracedoc.tunnel.dstport")
        sp = np.where(tunnelled, tsp2, sp)
        dp = np.where(tunnelled, tdp2, dp)
        has_tcp = np.where(tunnelled, tproto == 6, has_tcp)
        has_udp = np.where(tunnelled, tproto == 17, has_udp)
    has_port = has_tcp | has_udp
    tcp_or_udp = pa.array(has_tcp)
    sname = pc.if_else(tcp_or_udp, _service(sp, has_port, TCP_SERVICES), _service(sp, has_port, UDP_SERVICES))
    dname = pc.if_else(tcp_or_udp, _service(dp, has_port, TCP_SERVICES), _service(dp, has_port, UDP_SERVICES))
    inb = pa.array(inbound)
    local_ip = pc.if_else(inb, dst, src)
    rmt_ip = pc.if_else(inb, src, dst)
    local_port = pc.if_else(inb, dname, sname)
    rmt_port = pc.if_else(inb, sname, dname)
    direction = np.where(inbound, "<-", np.where(src_local, "->", ""))
    iplen, has_ip = _np(tbl, "ip.len")
    plen6, has_ip6 = _np(tbl, "ipv6.plen")
    flen, _ = _np(tbl, "frame.len")
    size = np.where(has_ip, iplen, np.where(has_ip6, plen6.astype(np.int64) + 40, flen))
    cols: dict[str, pa.Array | pa.ChunkedArray] = {
        "ID": tbl["frame.number"],
        "Timestamp": tbl["frame.time_epoch"],
        "Datagram Size": pa.array(size.astype(np.int64)),
        "Local IP": local_ip,
        "Dir": pa.array(direction, type=pa.string()),
        "Rmt. IP": rmt_ip,
        "Protocol": pa.array(protocol_names(tbl), type=pa.string()),
        "Messages": pa.array(messages(tbl), type=pa.string()),
        "Local Port": local_port,
        "Rmt. Port": rmt_port,
        "Seq. Number": tbl["tcp.seq_raw"],
        "Ack. Number": tbl["tcp.ack_raw"],
        "Window Size": tbl["tcp.window_size_value"],
    }
    if "ctrace.record_type" in tbl.column_names:
        _data_trace_rows(tbl, cols)
    return pa.table(cols)


def _data_trace_rows(tbl: pa.Table, cols: dict[str, pa.Array | pa.ChunkedArray]) -> None:
    """CTRACE data trace records (socket data, not packets): Protocol DATA,
    the socket's local and remote ends from ctrace.data.*, Dir from the
    record's direction (Out: the job wrote the data), and a message saying
    how many bytes went to or from which job."""
    is_data = pc.fill_null(pc.equal(tbl["ctrace.record_type"].combine_chunks(), "data"), False)
    if not pc.any(is_data).as_py():
        return

    def col(name: str) -> pa.Array:
        return tbl[name].combine_chunks()

    out = pc.equal(col("ctrace.direction"), "Out")
    length = col("ctrace.data.length").cast(pa.int64())
    cols["Datagram Size"] = pc.if_else(is_data, length, cols["Datagram Size"])
    cols["Local IP"] = pc.if_else(is_data, col("ctrace.data.local_ip"), cols["Local IP"])
    cols["Rmt. IP"] = pc.if_else(is_data, col("ctrace.data.remote_ip"), cols["Rmt. IP"])
    arrow = pc.if_else(out, "->", pc.if_else(pc.equal(col("ctrace.direction"), "In"), "<-", ""))
    cols["Dir"] = pc.if_else(is_data, pc.fill_null(arrow, ""), cols["Dir"])
    cols["Protocol"] = pc.if_else(is_data, pa.scalar("DATA"), cols["Protocol"])
    udp = pc.fill_null(pc.match_substring_regex(col("ctrace.data.domain"), r"(?i)udp|dgram"), False)
    for name, src in (("Local Port", "ctrace.data.local_port"), ("Rmt. Port", "ctrace.data.remote_port")):
        ports, valid = _np(tbl, src)
        named = pc.if_else(udp, _service(ports, valid, UDP_SERVICES), _service(ports, valid, TCP_SERVICES))
        cols[name] = pc.if_else(is_data, named, cols[name])
    # "data trace: 120 bytes to jobname FTPD1 (API Data Flow Starts)"
    job = col("ctrace.jobname")
    where = pc.if_else(pc.is_null(job),
                       pc.if_else(out, " out", " in"),
                       pc.binary_join_element_wise(pc.if_else(out, " to jobname ", " from jobname "), job, ""))
    state = col("ctrace.data.state")
    tail = pc.if_else(pc.is_null(state), "", pc.binary_join_element_wise(" (", state, ")", ""))
    msg = pc.binary_join_element_wise("data trace: ", pc.cast(pc.fill_null(length, 0), pa.string()), " bytes",
                                      pc.fill_null(where, ""), tail, "")
    cols["Messages"] = pc.if_else(is_data, msg, cols["Messages"])
