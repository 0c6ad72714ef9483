"""SNMP v1 / v2c (RFC 1157, RFC 3416) and the SNMPv3 message header (RFC 3412,
RFC 3414 USM), on UDP ports 161 and 162 (and TCP, rarely used).

Messages are BER (see :mod:`tracedoc.decode.ber`).  The walk follows
Wireshark 4.0's BER dissector where it matters for the fields shown: each
element may use the bytes its own length claims (cut to what was captured),
a SEQUENCE element of the wrong type is skipped and the next expected one
tried, an unknown PDU tag is passed over silently, and a read that runs past
the bytes an element may use ends the message (truncated when the capture
cut it short, malformed when a length lied).  v3 messages are decoded up to
the scoped PDU; encrypted PDUs are not decrypted.

Packet Summary wording, from the seed: ``SNMP : Community - public(v1) :
pdu - GetRequest``; SNMPv3: ``SNMP : v3 msgID 22274706 (user Admin001) :
encrypted pdu``.
"""

from __future__ import annotations

from collections.abc import Callable

from tracedoc.decode.app import AppInfo
from tracedoc.decode.apptree import Tree, Truncated, ascii_text
from tracedoc.decode.ber import (APPLICATION, CONTEXT, INTEGER, NULL, OCTET_STRING, OID, SEQUENCE, UNIVERSAL,
                                 BerBounds, Tlv, integer, integer_fits, oid_text, read_tlv)
from tracedoc.decode.fields import F, Field

NAME = "snmp"

FIELDS = (
    F("snmp.version", "i64", "version"),
    F("snmp.community", "string", "community"),
    F("snmp.data", "u32", "data (PDU type: 0 get-request ... 8 report)"),
    F("snmp.request_id", "i64", "request-id"),
    F("snmp.error_status", "i64", "error-status"),
    F("snmp.error_index", "i64", "error-index"),
    F("snmp.non_repeaters", "u32", "non-repeaters"),
    F("snmp.max_repetitions", "u32", "max-repetitions"),
    F("snmp.enterprise", "string", "enterprise"),
    F("snmp.agent_addr", "ipv4", "agent-addr"),
    F("snmp.generic_trap", "i64", "generic-trap"),
    F("snmp.specific_trap", "i64", "specific-trap"),
    F("snmp.time_stamp", "u32", "time-stamp"),
    F("snmp.variable_bindings", "u32", "variable-bindings (items, counted when the whole list was captured)"),
    F("snmp.name", "string", "Object Name", multi=True),
    F("snmp.value.int", "i64", "Value (Integer32)", multi=True),
    F("snmp.value.octets", "bytes", "Value (OctetString)", multi=True),
    F("snmp.value.oid", "string", "Value (OID)", multi=True),
    F("snmp.value.null", "bool", "Value (Null)", multi=True),
    F("snmp.value.ipv4", "ipv4", "Value (IpAddress)", multi=True),
    F("snmp.value.ipv6", "ipv6", "Value (IpAddress)", multi=True),
    F("snmp.value.addr", "bytes", "Value (IpAddress)", multi=True),
    F("snmp.value.u32", "i64", "Value (Unsigned32)", multi=True),
    F("snmp.value.g32", "i64", "Value (Gauge32)", multi=True),
    F("snmp.value.counter", "u64", "Value (Counter32)", multi=True),
    F("snmp.value.timeticks", "u64", "Value (Timeticks)", multi=True),
    F("snmp.value.opaque", "bytes", "Value (Opaque)", multi=True),
    F("snmp.value.nsap", "u64", "Value (NSAP)", multi=True),
    F("snmp.value.unk", "bytes", "Value (Unknown)", multi=True),
    F("snmp.noSuchObject", "bool", "noSuchObject", multi=True),
    F("snmp.noSuchInstance", "bool", "noSuchInstance", multi=True),
    F("snmp.endOfMibView", "bool", "endOfMibView", multi=True),
    # SNMPv3 (RFC 3412 section 6, RFC 3414 section 2.4)
    F("snmp.msgVersion", "i64", "msgVersion"),
    F("snmp.msgID", "u32", "msgID"),
    F("snmp.msgMaxSize", "u32", "msgMaxSize"),
    F("snmp.msgFlags", "bytes", "msgFlags"),
    F("snmp.v3.flags.auth", "bool", "Authenticated"),
    F("snmp.v3.flags.crypt", "bool", "Encrypted"),
    F("snmp.v3.flags.report", "bool", "Reportable"),
    F("snmp.msgSecurityModel", "u32", "msgSecurityModel"),
    F("snmp.msgSecurityParameters", "bytes", "msgSecurityParameters"),
    F("snmp.msgAuthoritativeEngineID", "bytes", "msgAuthoritativeEngineID"),
    F("snmp.msgAuthoritativeEngineBoots", "u32", "msgAuthoritativeEngineBoots"),
    F("snmp.msgAuthoritativeEngineTime", "u32", "msgAuthoritativeEngineTime"),
    F("snmp.msgUserName", "string", "msgUserName"),
    F("snmp.msgAuthenticationParameters", "bytes", "msgAuthenticationParameters"),
    F("snmp.msgPrivacyParameters", "bytes", "msgPrivacyParameters"),
    F("snmp.msgData", "u32", "msgData (0 plaintext, 1 encryptedPDU)"),
    F("snmp.encryptedPDU", "bytes", "encryptedPDU"),
    F("snmp.contextEngineID", "bytes", "contextEngineID"),
    F("snmp.contextName", "string", "contextName"),
)
(VERSION, COMMUNITY, DATA, REQUEST_ID, ERROR_STATUS, ERROR_INDEX, NON_REPEATERS, MAX_REPETITIONS, ENTERPRISE,
 AGENT_ADDR, GENERIC_TRAP, SPECIFIC_TRAP, TIME_STAMP, VARIABLE_BINDINGS, OBJ_NAME, V_INT, V_OCTETS, V_OID, V_NULL,
 V_IPV4, V_IPV6, V_ADDR, V_U32, V_G32, V_COUNTER, V_TIMETICKS, V_OPAQUE, V_NSAP, V_UNK, NO_SUCH_OBJECT,
 NO_SUCH_INSTANCE, END_OF_MIB_VIEW, MSG_VERSION, MSG_ID, MSG_MAX_SIZE, MSG_FLAGS, FLAG_AUTH, FLAG_CRYPT, FLAG_REPORT,
 MSG_SECURITY_MODEL, MSG_SECURITY_PARAMETERS, ENGINE_ID, ENGINE_BOOTS, ENGINE_TIME, USER_NAME, AUTH_PARAMETERS,
 PRIV_PARAMETERS, MSG_DATA, ENCRYPTED_PDU, CONTEXT_ENGINE_ID, CONTEXT_NAME) = FIELDS

UDP_PORTS = (161, 162)
TCP_PORTS = (161, 162)

# PDU choice index (= context tag) -> Wireshark's item name, and the seed's name.
PDU_TAGS = {0: "get-request", 1: "get-next-request", 2: "get-response", 3: "set-request", 4: "trap",
            5: "getBulkRequest", 6: "informRequest", 7: "snmpV2-trap", 8: "report"}
PDU_NAMES = {0: "GetRequest", 1: "GetNextRequest", 2: "Response", 3: "SetRequest", 4: "Trap",
             5: "GetBulkRequest", 6: "InformRequest", 7: "SNMPv2-Trap", 8: "Report"}
VERSIONS = {0: "version-1", 1: "v2c", 2: "v2u", 3: "snmpv3"}
ERROR_STATUS_NAMES = {0: "noError", 1: "tooBig", 2: "noSuchName", 3: "badValue", 4: "readOnly", 5: "genErr",
                      6: "noAccess", 7: "wrongType", 8: "wrongLength", 9: "wrongEncoding", 10: "wrongValue",
                      11: "noCreation", 12: "inconsistentValue", 13: "resourceUnavailable", 14: "commitFailed",
                      15: "undoFailed", 16: "authorizationError", 17: "notWritable", 18: "inconsistentName"}
GENERIC_TRAPS = {0: "coldStart", 1: "warmStart", 2: "linkDown", 3: "linkUp", 4: "authenticationFailure",
                 5: "egpNeighborLoss", 6: "enterpriseSpecific"}
SECURITY_MODELS = {0: "any", 1: "SNMPv1", 2: "SNMPv2c", 3: "USM", 4: "TSM"}

# Application-class varbind value types (RFC 2578 section 7.1, RFC 1442).
_APP_U64 = {1: V_COUNTER, 3: V_TIMETICKS, 5: V_NSAP, 6: V_COUNTER}  # Counter32, TimeTicks, NsapAddress, Counter64
_APP_I64 = {2: V_G32, 7: V_U32}  # Gauge32/Unsigned32, UInteger32 (Wireshark shows them signed)
_ERROR_VALUES = {0: NO_SUCH_OBJECT, 1: NO_SUCH_INSTANCE, 2: END_OF_MIB_VIEW}


class _Stop(Exception):
    """The message cannot be read further (the fault is already recorded)."""


_Handler = Callable[[Tlv, int], object]
_Element = tuple[int | None, int, _Handler]
"""(class, tag, handler) of one SEQUENCE component; class None takes any element (a CHOICE)."""


def dissect(data: bytes, tree: Tree, info: AppInfo) -> None:
    _Snmp(data, tree).run()


def pdu_length(data: bytes, info: AppInfo) -> int:
    """SNMP over TCP: each message is one BER SEQUENCE."""
    if not data:
        return 0
    if data[0] != 0x30:
        return -1
    try:
        h = read_tlv(data, 0, len(data))
    except BerBounds:
        return 0 if len(data) < 6 else -1
    if h.indefinite:
        return h.next
    return h.off + h.length


class _Snmp:
    """One message's walk; keeps what the Packet Summary names."""

    def __init__(self, data: bytes, tree: Tree) -> None:
        self.data = data
        self.n = len(data)
        self.tree = tree
        self.truncated = False
        """The outer SEQUENCE claims more bytes than were captured."""
        self.version: int | None = None
        self.community: str | None = None
        self.pdu: int | None = None
        self.msg_id: int | None = None
        self.user: str | None = None
        self.encrypted = False
        self.security_model = -1
        self.add_data = True

    # -- entry -----------------------------------------------------------------
    def run(self) -> None:
        data, n = self.data, self.n
        if n == 0:
            self._not_snmp()
            return
        # Wireshark's check that this is SNMP at all: a universal SEQUENCE
        # whose length fits the datagram, starting with an INTEGER.
        try:
            outer = read_tlv(data, 0, n)
        except BerBounds as e:
            if data[0] & 0xC0 == 0 and data[0] & 0x1F == SEQUENCE:
                raise Truncated(e.offset, "SNMP message header") from None
            self._not_snmp()
            return
        if outer.cls != UNIVERSAL or outer.tag != SEQUENCE:
            self._not_snmp()
            return
        if outer.next > n:
            self.truncated = True  # (or a lying length: the two look alike here)
        try:
            first = read_tlv(data, outer.off, n)
        except BerBounds as e:
            self._bounds(e)
            return
        if first.cls != UNIVERSAL or first.tag != INTEGER:
            self._not_snmp()
            return
        try:
            try:
                raw = self._take(first.off, min(first.length, 9), n)
                version = integer(raw, True, 32) if first.length <= 9 and integer_fits(raw) else 0
                self.version = version
                if version in (0, 1):
                    self._seq(0, n, [(UNIVERSAL, INTEGER, self._version), (UNIVERSAL, OCTET_STRING, self._community),
                                     (None, 0, self._pdus)])
                elif version == 2:
                    self.add_data = False
                    self._seq(0, n, [(UNIVERSAL, INTEGER, self._version), (UNIVERSAL, OCTET_STRING, self._skip),
                                     (None, 0, self._data_v2u)])
                elif version == 3:
                    self._seq(0, n, [(UNIVERSAL, INTEGER, self._msg_version), (UNIVERSAL, SEQUENCE, self._header_data),
                                     (UNIVERSAL, OCTET_STRING, self._security_parameters),
                                     (None, 0, self._scoped_pdu_data)])
                else:
                    self.tree.malformed(f"SNMP: unknown version {version}", first.off)
            except BerBounds as e:
                self._bounds(e)
            except _Stop:
                pass
        finally:
            self.tree.message = self._summary()

    def _not_snmp(self) -> None:
        """Wireshark passes such a payload on as data; here it is named."""
        self.tree.malformed("SNMP port payload is not SNMP (no BER SEQUENCE starting with a version INTEGER)", 0)

    def _bounds(self, e: BerBounds) -> None:
        if self.truncated and e.offset >= self.n:
            raise Truncated(e.offset, e.what)
        self.tree.malformed(f"SNMP: {e.reason or (e.what or 'element') + ' runs past the bytes its container allows'}",
                            e.offset)

    def _summary(self) -> str:
        v = self.version
        pdu = ""
        if self.pdu is not None:
            pdu = "GetResponse" if self.pdu == 2 and v == 0 else PDU_NAMES.get(self.pdu, "")
        if v is None:
            return "SNMP"
        if v in (0, 1):
            community = _printable(self.community or "")
            return f"SNMP : Community - {community}({'v1' if v == 0 else 'v2c'}) : pdu - {pdu}".rstrip()
        if v == 2:
            return f"SNMP : v2u : pdu - {pdu}".rstrip()
        if v == 3:
            text = "SNMP : v3" if self.msg_id is None else f"SNMP : v3 msgID {self.msg_id}"
            if self.user:
                text += f" (user {_printable(self.user)})"
            if self.encrypted:
                return text + " : encrypted pdu"
            return text if self.pdu is None else f"{text} : pdu - {pdu}".rstrip()
        return f"SNMP : unknown version {v}"

    # -- BER walking -------------------------------------------------------------
    def _take(self, off: int, length: int, limit: int, what: str = "value") -> bytes:
        end = off + length
        if end > limit:
            raise BerBounds(limit if limit < end else off, what)
        return self.data[off:end]

    def _extent(self, h: Tlv, limit: int) -> int:
        """Where an element's contents end as its own sub-buffer sees them:
        its claimed end, cut to the bytes its container allows unless only
        the capture cut them (then reads past it are a truncation)."""
        if h.end <= limit or (self.truncated and limit >= self.n):
            return h.end
        return limit

    def _seq(self, off: int, limit: int, elements: list[_Element], implicit_end: int | None = None) -> int:
        """A SEQUENCE at ``off`` (or, implicitly tagged, contents from ``off``
        to ``implicit_end``): each component is handed to its handler with
        the bytes it may use."""
        data = self.data
        if implicit_end is None:
            h = read_tlv(data, off, limit)
            if h.cls in (UNIVERSAL, CONTEXT) and (not h.constructed or h.cls != UNIVERSAL or h.tag != SEQUENCE):
                self.tree.malformed(f"SNMP: SEQUENCE expected, found class {h.cls} tag {h.tag}", h.start)
                return h.next
            pos, end, after = h.off, h.end, h.next
        else:
            pos, end, after = off, implicit_end, implicit_end
        i = 0
        while pos < end:
            e = read_tlv(data, pos, limit)
            if i >= len(elements):
                self.tree.malformed("SNMP: field beyond the end of the SEQUENCE's definition", e.start)
            else:
                cls, tag, handler = elements[i]
                if cls is not None and (e.cls != cls or e.tag != tag):
                    self.tree.malformed(f"SNMP: wrong field in SEQUENCE: expected class {cls} tag {tag}, "
                                        f"found class {e.cls} tag {e.tag}", e.start)
                else:
                    handler(e, min(limit, e.next))
                i += 1
            pos = e.next
        if i < len(elements):
            self.tree.malformed("SNMP: missing field in SEQUENCE", pos)
        if pos != end:
            if pos > limit:
                raise BerBounds(pos, "SEQUENCE component")
            self.tree.malformed(f"SNMP: SEQUENCE is {pos - end} bytes longer than its length", pos)
        return after

    def _skip(self, h: Tlv, limit: int) -> None:
        pass

    def _int(self, f_: Field, h: Tlv, limit: int, signed: bool, bits: int = 32,
             names: dict[int, str] | None = None) -> int | None:
        """An INTEGER component; the field is left out when Wireshark cannot
        show it (empty, or longer than 64 bits).  ``names`` name the values
        in Packet Details."""
        if h.length == 0:
            self.tree.malformed(f"SNMP: {f_.desc}: INTEGER of length 0", h.start)
            return None
        if h.length > 9:
            return None
        raw = self._take(h.off, h.length, limit, f_.desc)
        if not integer_fits(raw):
            return None
        v = integer(raw, signed, bits)
        lab = None
        if self.tree.want_nodes and names is not None:
            lab = f"{f_.desc}: {names.get(v, 'unknown')} ({v})"
        self.tree.add(f_, v, h.off, h.length, lab)
        return v

    def _octets(self, h: Tlv, limit: int) -> bytes | None:
        """An OCTET STRING component's contents (cut to what its container
        allows, as Wireshark shows a string whose length lies)."""
        if h.cls in (UNIVERSAL, CONTEXT) and (h.cls != UNIVERSAL or (h.tag < 18 and h.tag not in (4, 12))):
            self.tree.malformed(f"SNMP: OCTET STRING expected, found class {h.cls} tag {h.tag}", h.start)
            return None
        if h.constructed:
            self.tree.malformed("SNMP: constructed OCTET STRING not decoded", h.start)
            return None
        end = h.end
        if end > limit:
            if self.truncated and limit >= self.n:
                raise BerBounds(self.n, "OCTET STRING")
            end = limit
        return self.data[h.off:end]

    # -- v1 / v2c ----------------------------------------------------------------
    def _version(self, h: Tlv, limit: int) -> None:
        self._int(VERSION, h, limit, True, names=VERSIONS)

    def _community(self, h: Tlv, limit: int) -> None:
        raw = self._octets(h, limit)
        if raw is not None:
            self.community = ascii_text(raw)
            self.tree.add(COMMUNITY, self.community, h.off, len(raw))

    def _data_v2u(self, h: Tlv, limit: int) -> None:
        if h.cls == UNIVERSAL and h.tag == OCTET_STRING:
            self.encrypted = True
        else:
            self._pdus(h, limit)

    def _pdus(self, h: Tlv, limit: int) -> None:
        """The PDUs CHOICE: [0] .. [8] IMPLICIT; another tag is passed over."""
        if h.cls != CONTEXT or h.tag not in PDU_TAGS:
            return
        tag = h.tag
        self.pdu = tag
        tree = self.tree
        if self.add_data:
            lab = f"data: {PDU_TAGS[tag]} ({tag})" if tree.want_nodes else None
            tree.add(DATA, tag, h.start, h.next - h.start, lab)
        content_limit = min(limit, h.end)
        end = self._extent(h, limit)
        tree.open(PDU_TAGS[tag], h.start, h.next - h.start)
        try:
            if tag == 4:
                self._seq(h.off, content_limit, [
                    (UNIVERSAL, OID, self._enterprise), (APPLICATION, 0, self._agent_addr),
                    (UNIVERSAL, INTEGER, lambda e, lim: self._int(GENERIC_TRAP, e, lim, True, names=GENERIC_TRAPS)),
                    (UNIVERSAL, INTEGER, lambda e, lim: self._int(SPECIFIC_TRAP, e, lim, True)),
                    (APPLICATION, 3, lambda e, lim: self._int(TIME_STAMP, e, lim, False)),
                    (UNIVERSAL, SEQUENCE, self._varbinds)], end)
            elif tag == 5:
                self._seq(h.off, content_limit, [
                    (UNIVERSAL, INTEGER, self._request_id),
                    (UNIVERSAL, INTEGER, lambda e, lim: self._int(NON_REPEATERS, e, lim, False)),
                    (UNIVERSAL, INTEGER, lambda e, lim: self._int(MAX_REPETITIONS, e, lim, False)),
                    (UNIVERSAL, SEQUENCE, self._varbinds)], end)
            else:
                self._seq(h.off, content_limit, [
                    (UNIVERSAL, INTEGER, self._request_id),
                    (UNIVERSAL, INTEGER,
                     lambda e, lim: self._int(ERROR_STATUS, e, lim, True, names=ERROR_STATUS_NAMES)),
                    (UNIVERSAL, INTEGER, lambda e, lim: self._int(ERROR_INDEX, e, lim, True)),
                    (UNIVERSAL, SEQUENCE, self._varbinds)], end)
        finally:
            tree.close()

    def _request_id(self, h: Tlv, limit: int) -> None:
        self._int(REQUEST_ID, h, limit, True)

    def _enterprise(self, h: Tlv, limit: int) -> None:
        raw = self._take(h.off, h.length, limit, "enterprise")
        text = oid_text(raw)
        if text is not None:
            self.tree.add(ENTERPRISE, text, h.off, h.length)

    def _agent_addr(self, h: Tlv, limit: int) -> None:
        raw = self._octets(h, limit)
        if raw is None:
            return
        if len(raw) != 4:
            self.tree.malformed(f"SNMP: agent-addr of {len(raw)} bytes (4 expected)", h.off)
            return
        v = int.from_bytes(raw, "big")
        lab = f"agent-addr: {raw[0]}.{raw[1]}.{raw[2]}.{raw[3]}" if self.tree.want_nodes else None
        self.tree.add(AGENT_ADDR, v, h.off, 4, lab)

    def _varbinds(self, h: Tlv, limit: int) -> None:
        """VarBindList: a SEQUENCE OF VarBind."""
        data, tree = self.data, self.tree
        if not h.constructed:
            tree.malformed("SNMP: SEQUENCE OF expected for variable-bindings", h.start)
            return
        end = h.end
        count = 0
        if limit - h.off >= h.length:  # counted only when the whole list is there, as Wireshark does
            pos = h.off
            while pos < end:
                if self._u8(pos, limit) == 0 and self._u8(pos + 1, limit) == 0:
                    break
                pos = read_tlv(data, pos, limit).next
                count += 1
        lab = (f"variable-bindings: {count} item{'' if count == 1 else 's'}") if tree.want_nodes else None
        tree.add(VARIABLE_BINDINGS, count, h.start, h.next - h.start, lab)
        pos = h.off
        while pos < end:
            if self._u8(pos, limit) == 0 and self._u8(pos + 1, limit) == 0:
                return
            e = read_tlv(data, pos, limit)
            if e.cls != UNIVERSAL or e.tag != SEQUENCE:
                tree.malformed(f"SNMP: wrong field in variable-bindings: class {e.cls} tag {e.tag}", e.start)
            else:
                self._varbind(e, min(limit, e.next))
            pos = e.next
        if pos != end:
            if pos > limit:
                raise BerBounds(pos, "VarBind")
            tree.malformed(f"SNMP: variable-bindings ran {pos - end} bytes past its length", pos)

    def _u8(self, off: int, limit: int) -> int:
        if off >= limit:
            raise BerBounds(off, "VarBind")
        return self.data[off]

    def _varbind(self, h: Tlv, limit: int) -> None:
        data, tree = self.data, self.tree
        if not h.constructed:
            # Wireshark only rejects a primitive universal SEQUENCE here.
            tree.malformed("SNMP: VarBind must be a universal class sequence", h.start)
            return
        if h.indefinite:
            tree.malformed("SNMP: indefinite length is illegal for a VarBind", h.start)
            return
        nh = read_tlv(data, h.off, limit)
        if nh.constructed or nh.cls != UNIVERSAL or nh.tag != OID:
            tree.malformed("SNMP: ObjectName must be an OID in primitive encoding", nh.start)
            return
        if nh.indefinite:
            tree.malformed("SNMP: indefinite length is illegal for an ObjectName", nh.start)
            return
        # Wireshark adds the name, then checks the value's encoding, then
        # whether the name is a valid OID (an invalid one ends the message).
        raw_name = self._take(nh.off, nh.length, limit, "ObjectName")
        name = oid_text(raw_name)
        tree.open(name or "invalid OID", h.start, h.next - h.start)
        try:
            tree.add(OBJ_NAME, name or "", nh.off, nh.length)
            vh = read_tlv(data, nh.end, limit)
            if vh.constructed:
                tree.malformed("SNMP: a varbind value must be in primitive encoding", vh.start)
                return
            if name is None:
                tree.malformed("SNMP: invalid OID (a sub-identifier exceeds 32 bits)", nh.off)
                raise _Stop
            self._value(vh, limit)
        finally:
            tree.close()

    def _value(self, vh: Tlv, limit: int) -> None:
        tree = self.tree
        cls, tag, off, vl = vh.cls, vh.tag, vh.off, vh.length
        if cls == CONTEXT:
            f = _ERROR_VALUES.get(tag)
            if f is None:
                tree.malformed(f"SNMP: wrong tag for an error value: {tag} (0, 1 or 2 expected)", vh.start)
                return
            if vl:
                tree.malformed(f"SNMP: {f.desc} with a value of {vl} bytes", vh.start)
            self._take(off, vl, limit, f.desc)
            tree.add(f, True, off, vl, f.desc if tree.want_nodes else None)
            return
        f = None
        kind = "bytes"
        if cls == UNIVERSAL and tag == INTEGER:
            f, kind = V_INT, "i64"
            if not 1 <= vl <= 4:
                tree.malformed(f"SNMP: Integer32 value of {vl} bytes", vh.start)
        elif cls == UNIVERSAL and tag == OCTET_STRING:
            f = V_OCTETS
        elif cls == UNIVERSAL and tag == OID:
            f, kind = V_OID, "oid"
            if vl < 1:
                tree.malformed("SNMP: OID value of length 0", vh.start)
        elif cls == UNIVERSAL and tag == NULL:
            f, kind = V_NULL, "none"
            if vl:
                tree.malformed(f"SNMP: NULL value of {vl} bytes", vh.start)
        elif cls == APPLICATION and tag == 0:
            f, kind = (V_IPV4, "ipv4") if vl == 4 else (V_IPV6, "ipv6") if vl == 16 else (V_ADDR, "bytes")
        elif cls == APPLICATION and tag in _APP_U64:
            f, kind = _APP_U64[tag], "u64"
        elif cls == APPLICATION and tag in _APP_I64:
            f, kind = _APP_I64[tag], "i64"
        elif cls == APPLICATION and tag == 4:
            f = V_OPAQUE
        else:
            f = V_UNK
        if kind in ("u64", "i64"):
            if vl > 8:
                if kind == "i64" or vl > 9 or self._take(off, 1, limit, f.desc)[0] != 0:
                    tree.malformed(f"SNMP: {f.desc} too large ({vl} bytes)", vh.start)
                    return
                off, vl = off + 1, vl - 1
            elif vl == 0:
                tree.malformed(f"SNMP: {f.desc} is zero-length", vh.start)
                return
        raw = self._take(off, vl, limit, f.desc)
        value: object
        if kind == "u64":
            value = int.from_bytes(raw, "big")
        elif kind == "i64":
            value = int.from_bytes(raw, "big", signed=True)
        elif kind == "oid":
            value = oid_text(raw)
            if value is None:
                return
        elif kind == "none":
            value = True
        elif kind == "ipv4":
            value = int.from_bytes(raw, "big")
        else:
            value = raw
        lab = None
        if tree.want_nodes:
            shown = (".".join(map(str, raw)) if kind == "ipv4" else "" if kind == "none" else
                     _show_octets(raw) if kind == "bytes" else str(value))
            lab = f"{f.desc}: {shown}" if shown else f.desc
        tree.add(f, value, off, vl, lab)

    # -- v3 ------------------------------------------------------------------------
    def _msg_version(self, h: Tlv, limit: int) -> None:
        self._int(MSG_VERSION, h, limit, True, names=VERSIONS)

    def _header_data(self, h: Tlv, limit: int) -> None:
        self.tree.open("msgGlobalData", h.start, h.next - h.start)
        try:
            self._seq(h.start, limit, [(UNIVERSAL, INTEGER, self._msg_id),
                                       (UNIVERSAL, INTEGER, lambda e, lim: self._int(MSG_MAX_SIZE, e, lim, False)),
                                       (UNIVERSAL, OCTET_STRING, self._msg_flags),
                                       (UNIVERSAL, INTEGER, self._security_model)])
        finally:
            self.tree.close()

    def _msg_id(self, h: Tlv, limit: int) -> None:
        self.msg_id = self._int(MSG_ID, h, limit, False)

    def _msg_flags(self, h: Tlv, limit: int) -> None:
        raw = self._octets(h, limit)
        if raw is None:
            return
        tree = self.tree
        tree.add(MSG_FLAGS, raw, h.off, len(raw), f"msgFlags: {raw.hex()}" if tree.want_nodes else None)
        if not raw:
            raise BerBounds(h.off, "msgFlags")
        flags = raw[0]
        self.encrypted = bool(flags & 0x02)
        for f, bit in ((FLAG_REPORT, 0x04), (FLAG_CRYPT, 0x02), (FLAG_AUTH, 0x01)):
            tree.add(f, bool(flags & bit), h.off, 1,
                     f"{f.desc}: {'Set' if flags & bit else 'Not set'}" if tree.want_nodes else None)

    def _security_model(self, h: Tlv, limit: int) -> None:
        v = self._int(MSG_SECURITY_MODEL, h, limit, False, names=SECURITY_MODELS)
        self.security_model = -1 if v is None else v

    def _security_parameters(self, h: Tlv, limit: int) -> None:
        if self.security_model != 3:
            raw = self._octets(h, limit)
            if raw is not None:
                self.tree.add(MSG_SECURITY_PARAMETERS, raw, h.off, len(raw))
            return
        # USM (RFC 3414 section 2.4): the OCTET STRING holds a SEQUENCE,
        # read past a two-byte header as Wireshark does.
        self._seq(h.start + 2, limit, [
            (UNIVERSAL, OCTET_STRING, lambda e, lim: self._bytes(ENGINE_ID, e, lim)),
            (UNIVERSAL, INTEGER, lambda e, lim: self._int(ENGINE_BOOTS, e, lim, False)),
            (UNIVERSAL, INTEGER, lambda e, lim: self._int(ENGINE_TIME, e, lim, False)),
            (UNIVERSAL, OCTET_STRING, self._user_name),
            (UNIVERSAL, OCTET_STRING, lambda e, lim: self._bytes(AUTH_PARAMETERS, e, lim)),
            (UNIVERSAL, OCTET_STRING, lambda e, lim: self._bytes(PRIV_PARAMETERS, e, lim))])

    def _bytes(self, f_: Field, h: Tlv, limit: int) -> None:
        raw = self._octets(h, limit)
        if raw is not None:
            lab = f"{f_.desc}: {raw.hex() or '<MISSING>'}" if self.tree.want_nodes else None
            self.tree.add(f_, raw, h.off, len(raw), lab)

    def _user_name(self, h: Tlv, limit: int) -> None:
        raw = self._octets(h, limit)
        if raw is not None:
            self.user = ascii_text(raw)
            self.tree.add(USER_NAME, self.user, h.off, len(raw))

    def _scoped_pdu_data(self, h: Tlv, limit: int) -> None:
        """ScopedPduData CHOICE: plaintext ScopedPDU, or encryptedPDU."""
        tree = self.tree
        if h.cls == UNIVERSAL and h.tag == SEQUENCE:
            tree.add(MSG_DATA, 0, h.start, h.next - h.start, "msgData: plaintext (0)" if tree.want_nodes else None)
            self.encrypted = False
            tree.open("plaintext", h.start, h.next - h.start)
            try:
                self._seq(h.start, limit, [
                    (UNIVERSAL, OCTET_STRING, lambda e, lim: self._bytes(CONTEXT_ENGINE_ID, e, lim)),
                    (UNIVERSAL, OCTET_STRING, self._context_name),
                    (None, 0, self._pdus)])
            finally:
                tree.close()
        elif h.cls == UNIVERSAL and h.tag == OCTET_STRING:
            tree.add(MSG_DATA, 1, h.start, h.next - h.start,
                     "msgData: encryptedPDU (1)" if tree.want_nodes else None)
            self.encrypted = True
            raw = self._octets(h, limit)
            if raw is not None:
                tree.add(ENCRYPTED_PDU, raw, h.off, len(raw))

    def _context_name(self, h: Tlv, limit: int) -> None:
        raw = self._octets(h, limit)
        if raw is not None:
            self.tree.add(CONTEXT_NAME, ascii_text(raw), h.off, len(raw))


def _printable(text: str) -> str:
    """Text for a summary line: control characters shown as dots."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else "." for c in text)


def _show_octets(raw: bytes) -> str:
    if raw and all(32 <= b < 127 for b in raw):
        return f'"{raw.decode("ascii")}"'
    return raw.hex() or "<MISSING>"
