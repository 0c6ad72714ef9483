"""ICMP error rules, each finding tied to the flow whose datagram the error quotes."""
