"""TCP rules, judged from the Session Summary (Zeek ``conn_state``, handshake options, counts) and the per-packet TCP analysis flags."""
