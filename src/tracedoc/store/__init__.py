"""The trace inventory (DuckDB, one file) and its Parquet cache of decoded tables.

See :class:`Inventory`.
"""

from tracedoc.store.errors import (
                                   InventoryBusyError,
                                   InventoryError,
                                   MissingTraceError,
                                   StaleTraceError,
                                   UnknownTraceError,
)
from tracedoc.store.inventory import Inventory, default_path
from tracedoc.store.records import Annotation, TraceRecord

__all__ = ["Annotation", "Inventory", "InventoryBusyError", "InventoryError", "MissingTraceError",
           "StaleTraceError", "TraceRecord", "UnknownTraceError", "default_path"]
