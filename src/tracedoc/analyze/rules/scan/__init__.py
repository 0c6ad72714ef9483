"""Scans: one source probing many ports of a host, or many hosts."""
