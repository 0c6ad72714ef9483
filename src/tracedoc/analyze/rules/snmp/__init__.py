"""SNMP rules, judged from the SNMP transactions (a request matched to its
Response PDU by request-id, as Wireshark matches them)."""
