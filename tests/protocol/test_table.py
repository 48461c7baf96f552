"""One table describes every address: docs/protocol.md, the daemon's handlers and the send client's
argument types are all checked against it."""

from __future__ import annotations

import os
import re

from bridge.daemon.client import type_args
from bridge.daemon.server import OscServer
from bridge.errors import _codes
from bridge.protocol import CONVERT_OPTIONS, REPLIES, REQUESTS

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DOC = open(os.path.join(ROOT, "docs", "protocol.md"), encoding="utf-8").read()


def _table(heading: str) -> list[list[str]]:
    """The rows (cells) of the first table after ``heading`` in docs/protocol.md."""
    section = DOC.split(heading, 1)[1]
    rows = []
    for line in section.splitlines()[1:]:
        if rows and not line.startswith("|"):
            break
        if line.startswith("|") and not set(line) <= set("|- "):
            rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows[1:]  # without the header


def _code(cell: str) -> str:
    match = re.match(r"`([^`]*)`", cell)
    assert match, cell
    return match.group(1)


def test_the_requests_table_is_the_protocols():
    documented = {_code(row[0]) for row in _table("## Requests")}
    assert documented == {spec.signature() for spec in REQUESTS.values()}


def test_the_convert_options_table_is_the_protocols():
    documented = {(_code(row[0]), row[1]) for row in _table("### `convert` options")}
    assert documented == {(name, option.kind) for name, option in CONVERT_OPTIONS.items()}


def test_the_replies_table_is_the_protocols():
    documented = {_code(row[0]) for row in _table("## Replies")}
    expected = {" ".join([address, *(a if a == "..." else f"<{a}>" for a in args)]) for address, args in REPLIES.items()}
    assert documented == expected


def test_the_error_codes_table_lists_every_error():
    documented = {_code(row[0]) for row in _table("## Error codes")}
    # a cancelled job ends with /pop2piano/cancelled, never with an error code
    assert documented == set(_codes()) - {"cancelled"}


def test_every_request_has_a_handler():
    server = OscServer(port=0)
    try:
        assert set(server.handlers) == {spec.request for spec in REQUESTS.values()}
    finally:
        server.close()


def test_the_client_types_arguments_from_the_same_table():
    for spec in REQUESTS.values():
        raw = ["7"] * len(spec.params)
        typed = type_args(spec.address, raw)
        assert [type(v) for v in typed] == [{"s": str, "f": float, "i": int}[p.kind] for p in spec.params]
    typed = type_args("/pop2piano/convert", ["j", "/a.wav", *[x for name in CONVERT_OPTIONS for x in (name, "3")]])
    assert typed[2::2] == list(CONVERT_OPTIONS)
    assert [type(v) for v in typed[3::2]] == [{"s": str, "f": float, "i": int}[o.kind] for o in CONVERT_OPTIONS.values()]
