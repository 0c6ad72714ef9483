"""``tracedoc diagnose``: the Exception Report.

Findings grouped by the seed's categories, each with its severity, a
one-line summary, the explanation, what to do, its evidence (frames,
sessions, details) and the settings of the rule that judged it.  Exit code
0 whether or not there are findings; non-zero only when the trace could not
be read.
"""

from __future__ import annotations

import click

from tracedoc.analyze.findings import SEVERITIES
from tracedoc.cli.render import write_json


def _list_rules(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    """``--rules``: every rule with its category, what it reports and its parameters."""
    if not value or ctx.resilient_parsing:
        return
    from tracedoc.analyze.rules import all_rules, describe

    out = []
    for r in all_rules():
        out.append(f"{r.id}  [{r.category}]  {r.title}")
        for p in r.params:
            out.append(f"    --set {r.id}.{p.name}={describe(p.default)}  {p.doc}")
    click.echo("\n".join(out))
    ctx.exit(0)


@click.command("diagnose")
@click.option("--rules", is_flag=True, expose_value=False, is_eager=True, callback=_list_rules,
              help="List every rule (id, category, what it reports) with its parameters and defaults, and exit.")
@click.argument("file", type=click.Path())
@click.option("-Y", "--display-filter", "display_filter", metavar="FILTER",
              help="Judge only the packets this Wireshark display filter selects.")
@click.option("--local", "local", metavar="CIDR", help="The local side (address or network).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--min-severity", type=click.Choice(list(SEVERITIES)), default="info", show_default=True)
@click.option("--set", "overrides", multiple=True, metavar="RULE.PARAM=VALUE",
              help="Change a rule's threshold, e.g. --set ftp.brute_force.min_failures=20; repeatable.")
def diagnose(file: str, display_filter: str | None, local: str | None, fmt: str, min_severity: str,
             overrides: tuple[str, ...]) -> None:
    """The Exception Report: the problems in a trace, explained, with the packets that prove them."""
    import pyarrow as pa

    import tracedoc
    from tracedoc.analyze.diagnose import Evidence, diagnose as run, diagnosis_columns
    from tracedoc.analyze.rules import all_rules, settings
    from tracedoc.analyze.summary import infer_local
    from tracedoc.cli.main import _display_filter, _finish, check_local, load_table
    from tracedoc.trace import BackgroundTable, split_columns

    check_local(local)
    rules = all_rules()
    try:
        conf = settings(rules, list(overrides))
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--set")
    flt = _display_filter(display_filter)
    trace = tracedoc.open(file)
    cols = diagnosis_columns(rules)
    spare = _spare_cores(trace)
    app, rest = split_columns(cols, groups=spare)
    if flt is None and app and rest and spare:
        # The application pass (the slow part) in other processes, one per
        # spare core (two at most: datagram and stream protocols), while this
        # one decodes the rest, builds the sessions and runs the rules that
        # need nothing else.
        bgs = [BackgroundTable(trace.path, group, skip_opaque=True) for group in app]
        try:
            tbl = load_table(trace, rest)
            ev = Evidence(tbl, infer_local(tbl, local), app_pending=True)
            ev.sessions  # noqa: B018 - built while the other processes decode
            findings = run(ev, rules, conf, min_severity, app=lambda: [b.result() for b in bgs])
        finally:
            for b in bgs:
                b.close()
    else:
        # Only the columns the rules read; TLS up to where both sides encrypt
        # (the rules judge set-ups; a filter may look further, so then all of it).
        tbl = load_table(trace, cols, flt, skip_opaque=flt is None)
        side = infer_local(tbl, local)
        if flt is not None:
            tbl = tbl.filter(pa.array(flt(tbl)))
        findings = run(Evidence(tbl, side), rules, conf, min_severity)
    if fmt == "json":
        write_json([_with_settings(f.as_dict(), conf) for f in findings])
    else:
        _text(findings, {r.id: r for r in rules}, conf)
    _finish(trace)


def _with_settings(d: dict, conf: dict[str, dict[str, float]]) -> dict:
    """A finding's JSON object with ``settings``: the parameters of the rule that judged it."""
    d["settings"] = conf.get(d["rule"], {})
    for s in d.get("symptoms", []):
        _with_settings(s, conf)
    return d


def _symptoms(con, symptoms, indent: str) -> None:  # type: ignore[no-untyped-def]
    """What a finding explains, a few of each rule spelled out (the JSON has them all),
    and what those explain in turn, indented."""
    from rich.markup import escape

    by_rule: dict[str, list] = {}
    for s in symptoms:
        by_rule.setdefault(s.rule, []).append(s)
    for rule, same in by_rule.items():
        shown = same if len(same) <= 3 else same[:2]
        for s in shown:
            con.print(f"{indent}Explains: {escape(rule)}: {escape(s.summary)}")
            _symptoms(con, s.symptoms, indent + "  ")
        if len(same) > len(shown):
            con.print(f"{indent}Explains: {len(same) - len(shown)} more {escape(rule)} finding(s) like these "
                      "(--format json lists them)")


def _spare_cores(trace) -> int:  # type: ignore[no-untyped-def]
    """Cores beyond this process's that decoding processes may use: none for
    a trace too small for the fork and the hand-over to pay, else the cores
    this process may run on, less one."""
    import os

    from tracedoc.cli.fields_cmd import PARALLEL_MIN_BYTES

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return cores - 1 if (trace.info.file_size or 0) >= PARALLEL_MIN_BYTES else 0


def _text(findings, rules, conf) -> None:  # type: ignore[no-untyped-def]
    from rich.markup import escape

    from tracedoc.cli.render import console

    con = console()
    if not findings:
        con.print("[bold]Exception Report[/bold]  no findings")
        return
    con.print(f"[bold]Exception Report[/bold]  {len(findings)} finding(s)")
    category = None
    for f in findings:
        if f.category != category:
            category = f.category
            con.print(f"\n[bold underline]{escape(category)}[/bold underline]")
        con.print(f"\n  [bold]{f.severity.upper()}[/bold] {escape(f.rule)}: {escape(f.summary)}")
        con.print(f"    Why: {escape(f.explanation)}")
        con.print(f"    Do: {escape(f.action)}")
        ev = []
        if f.frames:
            shown = ", ".join(map(str, f.frames[:20])) + (f" ... ({len(f.frames)} frames)" if len(f.frames) > 20 else "")
            ev.append(f"frames {shown}")
        if f.sessions:
            ev.append("sessions " + ", ".join(map(str, f.sessions[:20])) + (" ..." if len(f.sessions) > 20 else ""))
        if ev:
            con.print(f"    Evidence: {escape('; '.join(ev))}")
        _symptoms(con, f.symptoms, "    ")
        params = conf.get(f.rule) or {}
        if params:
            con.print("    Settings: " + escape(", ".join(f"{f.rule}.{k}={v:g}" for k, v in params.items())))
