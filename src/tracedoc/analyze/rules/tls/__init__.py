"""TLS rules, judged from what a capture shows in the clear: hellos, alerts
sent before encryption starts, and the certificates of TLS 1.2 and older."""
