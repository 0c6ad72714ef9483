"""ARP rules: two hosts claiming one IPv4 address."""
