"""DNS rules, judged from the DNS transactions (query matched to response as
Wireshark matches them)."""
