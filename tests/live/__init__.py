"""Real application traffic made in network namespaces, captured and summarised."""
