"""Byte-level mutations for the readers' property tests.

A mutation is a tuple drawn from :func:`mutations`: flip a bit, set a byte,
overwrite a word with an interesting value (little- or big-endian), truncate,
insert bytes or delete a run.  :func:`mutate` applies a list of them.
"""

from __future__ import annotations

import struct

from hypothesis import strategies as st


def mutations(max_pos: int, words: list[int], formats: list[str]) -> st.SearchStrategy:
    """Mutations at positions below ``max_pos``; ``word`` mutations write one
    of ``words`` in one of the struct ``formats`` (e.g. "<H", ">I")."""
    return st.one_of(
        st.tuples(st.just("flip"), st.integers(0, max_pos), st.integers(0, 7)),
        st.tuples(st.just("set"), st.integers(0, max_pos), st.integers(0, 255)),
        st.tuples(st.just("word"), st.integers(0, max_pos), st.sampled_from(words), st.sampled_from(formats)),
        st.tuples(st.just("truncate"), st.integers(0, max_pos)),
        st.tuples(st.just("insert"), st.integers(0, max_pos), st.binary(min_size=1, max_size=24)),
        st.tuples(st.just("delete"), st.integers(0, max_pos), st.integers(1, 24)),
    )


def mutate(data: bytes, muts) -> bytes:  # type: ignore[no-untyped-def]
    b = bytearray(data)
    for m in muts:
        pos = m[1] % (len(b) + 1)
        if m[0] == "flip" and pos < len(b):
            b[pos] ^= 1 << m[2]
        elif m[0] == "set" and pos < len(b):
            b[pos] = m[2]
        elif m[0] == "word":
            word = struct.pack(m[3], m[2] & ((1 << (8 * struct.calcsize(m[3]))) - 1))
            b[pos:pos + len(word)] = word
        elif m[0] == "truncate":
            del b[pos:]
        elif m[0] == "insert":
            b[pos:pos] = m[2]
        elif m[0] == "delete":
            del b[pos:pos + m[2]]
    return bytes(b)


def line_ops(line_text: st.SearchStrategy) -> st.SearchStrategy:
    """Edits of a text trace, line by line: delete, duplicate, insert or
    replace a line (new lines drawn from ``line_text``), or change one
    character of a line."""
    return st.tuples(st.sampled_from(["del", "dup", "ins", "rep", "mut"]), st.integers(0, 10_000), line_text,
                     st.integers(0, 200))


def mutate_lines(base: list[str], ops) -> bytes:  # type: ignore[no-untyped-def]
    """Apply :func:`line_ops` edits to ``base``; the file's bytes."""
    lines = list(base)
    for kind, i, text, pos in ops:
        k = i % max(len(lines), 1)
        if kind == "del" and lines:
            del lines[k]
        elif kind == "dup" and lines:
            lines.insert(k, lines[k])
        elif kind == "ins":
            lines.insert(k, text)
        elif kind == "rep" and lines:
            lines[k] = text
        elif kind == "mut" and lines and lines[k]:
            ln = lines[k]
            p = pos % len(ln)
            lines[k] = ln[:p] + (text[:1] or "Z") + ln[p + 1:]
    return "\n".join(lines).encode("utf-8", "surrogatepass")
