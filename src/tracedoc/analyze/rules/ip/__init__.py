"""IP layer rules: discarded packets (z/OS CTRACE), routing loops, broadcast storms."""
