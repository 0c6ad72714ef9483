"""tracedoc: diagnose network problems from packet traces.

>>> import tracedoc
>>> t = tracedoc.open("examples/sample.pcap")
>>> t.packets.num_rows
"""

from tracedoc.errors import DecodeError, FilterSyntaxError, TraceFormatError, TracedocError
from tracedoc.trace import Trace, open

__version__ = "0.1.0"
__all__ = ["DecodeError", "FilterSyntaxError", "Trace", "TraceFormatError", "TracedocError", "open"]
