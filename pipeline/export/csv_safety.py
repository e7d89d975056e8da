"""CSV that a spreadsheet opens as data, never as code.

Customer names and emails are typed by the public, and marketing staff open
exports in Excel, LibreOffice or Google Sheets. A cell starting ``=``, ``+``,
``-`` or ``@`` (or a tab or carriage return, which some importers strip before
looking) is run as a formula: ``=HYPERLINK("http://evil", "click")`` in a first
name would become a live link. Every such cell is prefixed with a single quote
``'``, the spreadsheet convention for "this is text" (OWASP, "CSV Injection").

Files are UTF-8 (names in any script) without a byte-order mark, quoted by the
:mod:`csv` module as RFC 4180 asks (double quotes doubled, fields with commas,
quotes or line breaks quoted) and end lines with CRLF. Control characters other
than tab and line breaks (NUL above all, which truncates a cell in many
readers) become U+FFFD: the event contract refuses them, but details stored
before it did may still hold one.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from typing import Any, Protocol

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
"""First characters that make a spreadsheet evaluate a cell."""


class TextSink(Protocol):
    def write(self, text: str, /) -> Any: ...


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def neutralise(cell: str) -> str:
    """The cell as text a spreadsheet will not evaluate: ``'=1+2`` for ``=1+2``; no control characters."""
    if not cell.isprintable():  # cheap test first: almost every cell is printable
        cell = _CONTROL.sub("\ufffd", cell)
    return "'" + cell if cell.startswith(FORMULA_TRIGGERS) else cell


def safe_row(cells: Iterable[str | None]) -> list[str]:
    """A row ready for the :mod:`csv` writer: ``None`` becomes an empty cell, formulas text."""
    return [neutralise(c) if c else "" for c in cells]


class SafeCsvWriter:
    """A :mod:`csv` writer that neutralises every cell, so no caller can forget to.

    Rows are formatted a batch at a time into a buffer and handed to the sink
    in one write: a million rows make a thousand writes, not a million.
    """

    def __init__(self, sink: TextSink) -> None:
        self._sink = sink
        self._buffer = io.StringIO()
        # RFC 4180: CRLF line ends, minimal quoting with doubled quotes.
        self._writer = csv.writer(self._buffer, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL,
                                  doublequote=True)
        self.rows = 0

    def header(self, columns: Sequence[str]) -> None:
        """The header row (not counted in :attr:`rows`)."""
        self._emit([safe_row(columns)])

    def row(self, cells: Iterable[str | None]) -> None:
        self.write_rows([list(cells)])

    def write_rows(self, rows: Sequence[Sequence[str | None]]) -> None:
        if rows:
            self._emit([safe_row(r) for r in rows])
            self.rows += len(rows)

    def _emit(self, rows: list[list[str]]) -> None:
        self._writer.writerows(rows)
        self._sink.write(self._buffer.getvalue())
        self._buffer.seek(0)
        self._buffer.truncate()
