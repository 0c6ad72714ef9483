"""frame.* fields: what the reader knows about each record."""

from __future__ import annotations

from tracedoc.decode.fields import F

FIELDS = (
    F("frame.number", "u64", "Frame Number"),
    F("frame.time_epoch", "time", "Epoch Time (ns since 1970-01-01 UTC)"),
    F("frame.len", "u32", "Frame length on the wire"),
    F("frame.cap_len", "u32", "Frame length stored into the capture file"),
    F("frame.interface_id", "u32", "Interface id (pcapng)"),
    F("frame.linktype", "u32", "Link type (LINKTYPE_ value) of the record"),
    F("frame.offset", "u64", "Byte offset of the record in the (decompressed) file"),
    F("frame.comment", "string", "Comment (pcapng opt_comment)"),
    F("frame.packet_flags", "u32", "Packet flags (pcapng epb_flags)", "hex", 8),
    F("frame.drop_count", "u64", "Packets dropped since the previous one (pcapng)"),
    F("_ws.malformed", "string", "Malformed header: layer, reason and offset in the frame"),
)
