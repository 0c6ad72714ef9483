"""FTP rules, judged from the FTP command/reply transactions and the data-connection links."""
