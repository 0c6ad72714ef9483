"""``tracedoc export``: table views to CSV, Excel, XML or JSON files, and
``tracedoc report``: a PDF report of a trace.

The views are those of the CLI commands of the same names (``summary``,
``sessions``, ``sequence``, ``response-times``, ``hosts``) and the
Exception Report (``findings``, one row per finding), built by
:mod:`tracedoc.export.views`; each format is described in
:mod:`tracedoc.export.writers`.  The output is written to a temporary file
beside ``-o`` and renamed when complete, so a failed export leaves no half
file.  A damaged trace is exported up to the damage, then reported with a
non-zero exit, as the views do.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from tracedoc.export.views import VIEWS, ViewError
from tracedoc.export.writers import FORMATS

_SUFFIXES = {".csv": "csv", ".zip": "csv", ".xlsx": "xlsx", ".xml": "xml", ".json": "json"}

_PARAM_HINTS = {"session": "--session", "between": "--between", "local": "--local", "threshold": "--threshold",
                "set": "--set", "min_severity": "--min-severity", "udp_timeout": "--udp-timeout", "view": "--view"}


def _bad(e: ViewError) -> click.BadParameter:
    return click.BadParameter(str(e), param_hint=_PARAM_HINTS.get(e.param or "", None))


def write_atomically(out: str, write: Callable[[str], object]) -> None:
    """Call ``write`` with the path of a temporary file beside ``out`` (of
    the same suffix), then rename it to ``out``."""
    target = Path(out)
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.is_dir():
        raise click.FileError(out, hint=f"no folder {str(folder)!r}")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=target.suffix, dir=folder)
    except OSError as e:
        raise click.FileError(out, hint=e.strerror or str(e))
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~umask)   # mkstemp's 0600 is not what a plain open() would give
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


@click.command("export")
@click.argument("file", type=click.Path())
@click.option("--view", "views", multiple=True, required=True, type=click.Choice(VIEWS),
              help="The view to export; repeat for more (xlsx: one sheet each; csv: several need a .zip output).")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default=None,
              help="Output format (default: from the output's suffix: .csv/.zip, .xlsx, .xml, .json).")
@click.option("-o", "--output", "out", required=True, type=click.Path(dir_okay=False), metavar="OUT",
              help="The file to write.")
@click.option("-Y", "--display-filter", "display_filter", metavar="FILTER",
              help="The packets this Wireshark display filter selects (each view as its own command uses -Y).")
@click.option("--local", "local", metavar="CIDR", help="The local side (address or network).")
@click.option("--session", "sid", type=int, metavar="SID", help="sequence: the session (SID from `tracedoc sessions`).")
@click.option("--between", "ends", nargs=2, metavar="A B",
              help="sequence: every packet between two endpoints, ADDRESS or ADDRESS:PORT.")
@click.option("--relative", is_flag=True, help="sequence: sequence and acknowledgment numbers relative to each ISN.")
@click.option("--threshold", "thresholds", multiple=True, metavar="TYPE=SECONDS",
              help="response-times: the response time above which a transaction is slow; repeatable.")
@click.option("--by", "by", type=click.Choice(["server", "type"]), default=None,
              help="response-times: one row per server of each type, or one per type (default: both).")
@click.option("--hierarchy", is_flag=True, help="hosts: the protocol hierarchy instead of the IP Summary.")
@click.option("--min-severity", type=click.Choice(["info", "warning", "error", "critical"]), default="info",
              show_default=True, help="findings: leave out findings less severe than this.")
@click.option("--set", "overrides", multiple=True, metavar="RULE.PARAM=VALUE",
              help="findings: change a rule's threshold; repeatable.")
def export(file: str, views: tuple[str, ...], fmt: str | None, out: str, display_filter: str | None,
           local: str | None, sid: int | None, ends: tuple[str, str] | None, relative: bool,
           thresholds: tuple[str, ...], by: str | None, hierarchy: bool, min_severity: str,
           overrides: tuple[str, ...]) -> None:
    """Export table views of a trace to CSV, Excel (xlsx), XML or JSON."""
    import tracedoc
    from tracedoc.cli.main import _display_filter, _finish, check_local, load_table
    from tracedoc.export.views import view_columns, view_table
    from tracedoc.export.writers import write

    names = list(dict.fromkeys(views))
    if fmt is None:
        fmt = _SUFFIXES.get(Path(out).suffix.lower())
        if fmt is None:
            raise click.UsageError(f"say --format {'|'.join(FORMATS)} (the output name {out!r} does not tell)")
    if fmt == "csv" and len(names) > 1 and not out.lower().endswith(".zip"):
        raise click.UsageError("CSV holds one table: name a .zip output to get one CSV file per view")
    if "sequence" in names and (sid is None) == (not ends):
        raise click.UsageError("the sequence view needs --session SID or --between A B")
    check_local(local)
    flt = _display_filter(display_filter)
    opts: dict[str, dict[str, Any]] = {
        "sequence": {"session": sid, "between": list(ends) if ends else None, "relative": relative},
        "response-times": {"thresholds": list(thresholds), "by": by},
        "hosts": {"hierarchy": hierarchy},
        "findings": {"min_severity": min_severity, "overrides": list(overrides)},
    }
    # Fail on bad options before the trace is read.
    try:
        from tracedoc.analyze.rules import all_rules, settings
        from tracedoc.analyze.transactions import thresholds as parse_thresholds

        parse_thresholds(thresholds)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--threshold")
    try:
        settings(all_rules(), list(overrides))
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--set")
    trace = tracedoc.open(file)
    # As `tracedoc diagnose` reads for the rules alone: TLS up to where both sides encrypt.
    skip_opaque = names == ["findings"] and flt is None
    tbl = load_table(trace, view_columns(names), flt, skip_opaque=skip_opaque)
    tables = {}
    for name in names:
        try:
            tables[name] = view_table(name, tbl, local, flt=flt, **opts.get(name, {}))
        except ViewError as e:
            raise _bad(e)
    try:
        write_atomically(out, lambda path: write(tables, fmt, path))
    except OSError as e:
        raise click.FileError(out, hint=e.strerror or str(e))
    rows = ", ".join(f"{n} {t.num_rows:,}" for n, t in tables.items())
    click.echo(f"export: {rows} row(s) written to {out} ({fmt})", err=True)
    _finish(trace)


@click.command("report")
@click.argument("file", type=click.Path())
@click.option("-o", "--output", "out", required=True, type=click.Path(dir_okay=False), metavar="OUT.pdf",
              help="The PDF file to write.")
@click.option("-Y", "--display-filter", "display_filter", metavar="FILTER",
              help="Report on the packets this Wireshark display filter selects.")
@click.option("--local", "local", metavar="CIDR", help="The local side (address or network).")
def report(file: str, out: str, display_filter: str | None, local: str | None) -> None:
    """A PDF report: trace facts, the Exception Report, top sessions,
    response times and plots (I/O graph, response-time histograms,
    protocol hierarchy)."""
    import tracedoc
    from tracedoc.cli.main import _display_filter, _finish, check_local, load_table
    from tracedoc.export.report import build_report, trace_facts

    check_local(local)
    flt = _display_filter(display_filter)
    trace = tracedoc.open(file)
    tbl = load_table(trace, None, flt)
    try:
        pdf = build_report(tbl, trace_facts(trace, tbl), local=local, flt=flt)
    except ViewError as e:
        raise _bad(e)
    try:
        write_atomically(out, lambda path: Path(path).write_bytes(pdf))
    except OSError as e:
        raise click.FileError(out, hint=e.strerror or str(e))
    click.echo(f"report: {len(pdf):,} bytes written to {out}", err=True)
    _finish(trace)
