"""``tracedoc add``, ``list``, ``annotate`` and ``check``: the trace inventory.

Every command takes ``--inventory PATH`` (default ``$TRACEDOC_INVENTORY``, else
the user's data directory: see :func:`tracedoc.store.default_path`).
"""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click

from tracedoc.errors import TracedocError

EXIT_ERROR = 1

inventory_option = click.option(
    "--inventory", "inventory", metavar="PATH", type=click.Path(dir_okay=False),
    help="The inventory file (default: $TRACEDOC_INVENTORY, else "
         "$XDG_DATA_HOME/tracedoc/inventory.duckdb, else ~/.local/share/tracedoc/inventory.duckdb).")


def _open(inventory: str | None):  # type: ignore[no-untyped-def]
    from tracedoc.store import Inventory

    return Inventory(inventory)


def _fail(message: str) -> None:
    click.echo(f"tracedoc: error: {message}", err=True)
    sys.exit(EXIT_ERROR)


@contextmanager
def _progress_bar() -> Iterator[Any]:
    """A rich progress callback for Inventory (phase, done, total) on stderr,
    only on a terminal; else None."""
    if not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    with Progress(TextColumn("{task.description:>8}"), BarColumn(), DownloadColumn(), TimeRemainingColumn(),
                  console=Console(stderr=True), transient=True) as bar:
        tasks: dict[str, Any] = {}
        labels = {"hash": "hashing", "read": "reading"}

        def cb(phase: str, done: int, total: int) -> None:
            if phase not in tasks:
                for t in tasks.values():   # one phase at a time: the last one is done
                    bar.remove_task(t)
                tasks.clear()
                tasks[phase] = bar.add_task(labels.get(phase, phase), total=total or None)
            bar.update(tasks[phase], completed=done, total=total or None)

        yield cb


def _iso(ns: int | None) -> str:
    if ns is None:
        return ""
    t = dt.datetime.fromtimestamp(ns // 1_000_000_000, tz=dt.timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S") + f".{(ns % 1_000_000_000) // 1000:06d}Z"


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: object) -> str:
    """A CSV cell that spreadsheets show as text: one starting with = + - @
    (or tab / CR, which Excel strips before looking) gets a leading ``'``,
    as OWASP's CSV-injection advice says.  Names, tags and notes come from
    files and people, so nothing in them may run as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


# -- add ---------------------------------------------------------------------

@click.command("add")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("-t", "--tag", "tags", multiple=True, metavar="TAG", help="Tag the traces; repeat for more.")
@click.option("--note", metavar="TEXT", help="A note about the traces.")
@click.option("--cache/--no-cache", default=True, show_default=True,
              help="Decode every packet now and keep the table, so every view (tracedoc serve's first "
                   "page of a big trace too) opens at once; --no-cache only records the file's facts.")
@inventory_option
def add(files: tuple[str, ...], tags: tuple[str, ...], note: str | None, cache: bool, inventory: str | None) -> None:
    """Add trace files to the inventory; prints their ids, one a line.

    A file whose content is already there keeps its id (its tags and note
    are added; if the recorded file is gone, the record moves to this one).
    A file that cannot be added is reported and the others are still added.
    """
    from tracedoc.store import InventoryBusyError

    inv = _open(inventory)
    failed = 0
    paths = {r.id: r.path for r in inv.list()}
    for f in files:
        try:
            with _progress_bar() as cb:
                rec = inv.add(f, tags=tags, note=note, cache=cache, progress=cb)
            known = paths.get(rec.id)
            paths[rec.id] = rec.path
        except InventoryBusyError:
            raise
        except TracedocError as e:
            click.echo(f"tracedoc: error: {e}", err=True)
            failed += 1
            continue
        click.echo(str(rec.id))
        if known is not None and known != rec.path:
            click.echo(f"tracedoc: note: {f}: trace {rec.id}, found again here (it was at {known})", err=True)
        elif known is not None:
            click.echo(f"tracedoc: note: {f}: already in the inventory as trace {rec.id}", err=True)
    if failed:
        sys.exit(EXIT_ERROR)


# -- list ----------------------------------------------------------------------

def _record_json(r) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    return {"id": r.id, "name": r.name, "path": r.path, "format": r.format, "compression": r.compression,
            "size": r.size, "sha256": r.sha256, "packets": r.packets,
            "first_time": _iso(r.first_ns) or None, "last_time": _iso(r.last_ns) or None,
            "duration": r.duration_s, "hosts": r.hosts, "host_count": r.host_count,
            "added": _iso(r.added_ns), "tags": r.tags, "notes": r.notes, "state": r.state}


CSV_COLUMNS = ["id", "name", "path", "format", "compression", "size", "sha256", "packets", "first_time",
               "last_time", "duration", "hosts", "host_count", "added", "tags", "notes", "state"]


@click.command("list")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True)
@inventory_option
def list_traces(fmt: str, inventory: str | None) -> None:
    """The traces in the inventory."""
    records = _open(inventory).list()
    rows = [_record_json(r) for r in records]
    if fmt == "json":
        from tracedoc.cli.render import write_json

        write_json({"traces": rows})
        return
    if fmt == "csv":
        import csv

        w = csv.writer(sys.stdout, lineterminator="\n")
        w.writerow(CSV_COLUMNS)
        for d in rows:
            w.writerow([csv_cell("; ".join(d[k]) if isinstance(d[k], list) else d[k]) for k in CSV_COLUMNS])
        return
    from tracedoc.cli.render import write_table

    heads = ["ID", "Name", "Format", "Packets", "Size", "First packet (UTC)", "Duration", "Hosts", "Tags", "State"]
    table = []
    for r in records:
        hosts = ", ".join(r.hosts[:3]) + (f" +{r.host_count - 3}" if r.host_count > 3 else "")
        table.append([r.id, r.name, r.format + (f" ({r.compression})" if r.compression else ""), f"{r.packets:,}",
                      f"{r.size:,}", _iso(r.first_ns)[:19].replace("T", " "),
                      "" if r.duration_s is None else f"{r.duration_s:.3f} s", hosts, ", ".join(r.tags), r.state])
    write_table(heads, table, right={"ID", "Packets", "Size", "Duration"})


# -- annotate --------------------------------------------------------------------

@click.command("annotate")
@click.argument("trace_id", metavar="ID", type=int)
@click.argument("text", nargs=-1)
@click.option("-n", "--frame", "frame", type=int, metavar="FRAME",
              help="The frame it is about (default: the whole trace).")
@click.option("--list", "as_list", is_flag=True, help="Show the trace's annotations (of FRAME only, with -n).")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True,
              help="With --list: how to show them.")
@inventory_option
def annotate(trace_id: int, text: tuple[str, ...], frame: int | None, as_list: bool, fmt: str,
             inventory: str | None) -> None:
    """Annotate trace ID (or one of its frames) with TEXT; prints the
    annotation's id.  With --list, show the trace's annotations."""
    inv = _open(inventory)
    if as_list:
        if text:
            raise click.UsageError("--list shows annotations: give no TEXT with it")
        notes = inv.annotations(trace_id, frame)
        if fmt == "json":
            from tracedoc.cli.render import write_json

            write_json({"trace": trace_id, "annotations": [
                {"id": a.id, "frame": a.frame, "text": a.text, "added": _iso(a.added_ns), "source": a.source}
                for a in notes]})
            return
        from tracedoc.cli.render import write_table

        write_table(["ID", "Frame", "Source", "Added (UTC)", "Text"],
                    [[a.id, "" if a.frame is None else a.frame, a.source, _iso(a.added_ns)[:19].replace("T", " "),
                      a.text] for a in notes], right={"ID", "Frame"})
        return
    if not text:
        raise click.UsageError("say what to note: tracedoc annotate ID [-n FRAME] TEXT (or --list)")
    a = inv.annotate(trace_id, " ".join(text), frame)
    click.echo(str(a.id))


# -- check -----------------------------------------------------------------------

@click.command("check")
@click.argument("trace_ids", metavar="[ID]...", nargs=-1, type=int)
@click.option("--reimport", is_flag=True, help="Read changed traces again (new hash, facts and pcapng comments).")
@click.option("--quick", is_flag=True, help="Trust a file whose size and modification time are as recorded.")
@inventory_option
def check(trace_ids: tuple[int, ...], reimport: bool, quick: bool, inventory: str | None) -> None:
    """Are the traces' files still where and what they were?  Prints
    ID, state (ok, moved, changed, missing) and path; exits 1 if any is
    changed or missing."""
    inv = _open(inventory)
    ids = list(trace_ids) or [r.id for r in inv.list()]
    bad = 0
    for i in ids:
        with _progress_bar() as cb:
            state = inv.check(i, quick=quick, progress=cb)
            if state == "changed" and reimport:
                inv.reimport(i, progress=cb)
                state = "reimported"
        click.echo(f"{i}\t{state}\t{inv.get(i).path}")
        bad += state in ("changed", "missing")
    if bad:
        sys.exit(EXIT_ERROR)
