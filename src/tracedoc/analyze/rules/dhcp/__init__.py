"""DHCP rules, judged from the DHCP messages (option 53) of the packet table:
declined leases, refused requests, discovers nobody answered."""
