"""What the inventory reports to a user (all :class:`~tracedoc.errors.TracedocError`)."""

from __future__ import annotations

from tracedoc.errors import TracedocError


class InventoryError(TracedocError):
    """The inventory cannot do what was asked (bad file, bad argument, ...)."""


class InventoryBusyError(InventoryError):
    """Another process holds the inventory's write lock for longer than we wait.

    DuckDB lets one process write a database file at a time (readers in other
    processes are locked out while it does).  The inventory opens the file
    only for the length of one operation, so this means another process kept
    it open: a second tracedoc that hangs, or a program with its own DuckDB
    connection to the file.
    """


class UnknownTraceError(InventoryError, KeyError):
    """No trace with that id (a ``KeyError``, as :meth:`Inventory.get` promises)."""

    def __str__(self) -> str:  # KeyError would show the message in quotes
        return str(self.args[0]) if self.args else "unknown trace"


class StaleTraceError(InventoryError):
    """The trace file changed since it was added: its cached table no longer
    describes it.  ``Inventory.reimport`` reads it again."""


class MissingTraceError(InventoryError):
    """The trace file is gone (and was never cached, or must be read again)."""
