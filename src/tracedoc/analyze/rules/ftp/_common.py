"""What the ftp rules share."""

from __future__ import annotations

import pyarrow.compute as pc

from tracedoc.analyze.diagnose import Evidence


def ftp_rows(ev: Evidence) -> list[dict]:
    t = ev.transactions
    if t.num_rows == 0:
        return []
    return t.filter(pc.equal(t["type"], "ftp")).to_pylist()


def reply_code(r: dict) -> int | None:
    res = r["result"] or ""
    return int(res[:3]) if res[:3].isdigit() else None


def logon_failures(ev: Evidence) -> list[dict]:
    return [r for r in ftp_rows(ev) if (r["label"] or "").split(" ")[0].upper() == "PASS" and reply_code(r) == 530]


def links(ev: Evidence, methods: set[str], bad: set[str]) -> list[dict]:
    t = ev.ftp_links
    return [r for r in t.to_pylist() if r["method"] in methods and r["status"] in bad]
