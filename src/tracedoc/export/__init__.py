"""Present: what tracedoc writes out for others to read (SVG, and later CSV, Excel, XML, PDF)."""
