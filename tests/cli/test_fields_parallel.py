"""The two-process ``fields`` writer gives exactly the one-process output."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

import tracedoc
from tracedoc.cli.fields_cmd import needed_columns, parse_options, write_fields, write_fields_parallel
from tests.support.tshark_compare import ISSUE2_FIELDS

SAMPLE = Path(__file__).resolve().parents[2] / "examples" / "sample.pcap"


@pytest.mark.parametrize("options", [[], ["header=y", "separator=,", "quote=d"], ["occurrence=f"]])
def test_parallel_writer_matches(tmp_path, options):
    names = ISSUE2_FIELDS
    opts = parse_options(options)
    ref = io.BytesIO()
    write_fields(tracedoc.open(SAMPLE).iter_packets(columns=needed_columns(names)), names, opts, ref)
    out_path = tmp_path / "out.txt"
    with open(out_path, "wb") as out:
        n = write_fields_parallel(tracedoc.open(SAMPLE).iter_packets(columns=needed_columns(names)),
                                  names, opts, out)
    assert n == 100
    assert out_path.read_bytes() == ref.getvalue()


def test_parallel_writer_with_no_batches(tmp_path):
    out_path = tmp_path / "out.txt"
    with open(out_path, "wb") as out:
        assert write_fields_parallel(iter([]), ["frame.number"], parse_options(["header=y"]), out) == 0
    assert out_path.read_bytes() == b"frame.number\n"


def test_parallel_writer_failure_is_reported(tmp_path):
    names = ["frame.number", "ip.src"]
    out_path = tmp_path / "out.txt"
    # Batches without the quoted-header column the writer reads: it must fail
    # loudly, not leave a silently short output.
    with open(out_path, "wb") as out, pytest.raises(RuntimeError, match="output writer process failed"):
        write_fields_parallel(tracedoc.open(SAMPLE).iter_packets(columns=names), names, parse_options([]), out)
