"""z/OS Communications Server component-trace record metadata (CTRACE
SYSTCPDA packet and data trace, SYSTCPOT OSAENTA, IPCS SUMMARY reports).

These columns are not decoded from packet bytes: the CTRACE readers fill
them from the record header (``FrameBatch.meta``) and the packet table keeps
them beside the decoded protocol columns.  ``ctrace.discard_name`` and
``ctrace.discard_category`` are derived from ``ctrace.discard`` through
:mod:`tracedoc.decode.zos_discard`.
"""

from __future__ import annotations

from tracedoc.decode.fields import F

FIELDS = (
    F("ctrace.record_type", "string", "Record kind: packet, data, osaenta or summary"),
    F("ctrace.system", "string", "z/OS system name (SMF id) of the record header line"),
    F("ctrace.record", "u64", "Record number (RcdNr) of the record header line"),
    F("ctrace.entry_id", "string", "CTRACE format id / entry id"),
    F("ctrace.local_time", "string", "Time of the record header line, local time as written"),
    F("ctrace.tod", "time", "TOD clock (UTC), ns since the epoch"),
    F("ctrace.direction", "string", "In or Out (the record's From/To, or its flags)"),
    F("ctrace.link", "string", "Link or interface name"),
    F("ctrace.link_kind", "string", "Whether ctrace.link names a Link or an Interface"),
    F("ctrace.device", "string", "Device type (QDIO Ethernet, MPCIPA, LOOPBACK, ...)"),
    F("ctrace.full_len", "u32", "Length of the packet (Full=)"),
    F("ctrace.abbrev_len", "u32", "Length traced when abbreviated (Abbrev=)"),
    F("ctrace.seq", "u64", "Sequence number"),
    F("ctrace.lost", "u64", "Records lost before this one"),
    F("ctrace.flags", "string", "Flags as printed (In Dscrd Pkt Ver2 ...)"),
    F("ctrace.intfx", "u32", "Interface index (Intfx)"),
    F("ctrace.asid", "u16", "Address space id", "hex", 4),
    F("ctrace.tcb", "u32", "TCB address", "hex", 8),
    F("ctrace.jobname", "string", "Job name (data trace)"),
    F("ctrace.conn_id", "u32", "Connection id (Cid, data trace)", "hex", 8),
    F("ctrace.segment", "u32", "Segment number"),
    F("ctrace.discard", "u32", "Discard reason code"),
    F("ctrace.discard_name", "string", "Discard reason code name (IBM IP and SNA Codes)"),
    F("ctrace.discard_category", "string", "Discard reason code category"),
    F("ctrace.payload_absent", "bool", "The record carried no hex dump: headers rebuilt from decoded fields"),
    F("ctrace.line", "u64", "Line number of the record in the formatted text"),
    # Data trace records: socket data, not IP packets.
    F("ctrace.data.local_ip", "string", "Data trace: local address"),
    F("ctrace.data.local_port", "u16", "Data trace: local port"),
    F("ctrace.data.remote_ip", "string", "Data trace: remote address"),
    F("ctrace.data.remote_port", "u16", "Data trace: remote port"),
    F("ctrace.data.length", "u32", "Data trace: bytes of socket data"),
    F("ctrace.data.domain", "string", "Data trace: Domain/Type/Protocol as printed"),
    F("ctrace.data.state", "string", "Data trace: socket state as printed"),
    # OSAENTA records (SYSTCPOT): Ethernet frames as the OSA saw them.
    F("ctrace.osa.device_id", "string", "OSAENTA: OSA device id as printed (e.g. 00-01-00-02)"),
    # IPCS SUMMARY reports: one or two lines a record, only some header fields.
    F("ctrace.summary_fields", "string",
      "SUMMARY report record: comma-separated Wireshark names of the header fields the report gave "
      "(payload:N = N data bytes shown); every other header field of the rebuilt packet is a placeholder "
      "(zero, or the minimal header length)"),
)

LINKTYPE_ZOS_DATA = 147
"""Data trace records carry socket data, not packets: they are given
LINKTYPE_USER0 (147, "reserved for private use"), which no decoder takes,
and their facts live in the ``ctrace.data.*`` columns."""
