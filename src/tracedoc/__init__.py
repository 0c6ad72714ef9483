"""tracedoc: diagnose network problems from packet traces."""
__version__ = "0.1.0"
