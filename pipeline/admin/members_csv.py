"""The members CSV download of the Customer Groups page, kept small on purpose.

RFC 4180 through the ``csv`` module (quoting, CRLF line ends). Cells are
neutralised against spreadsheet formula injection: a customer controls their
own name and email, and a cell starting with ``= + - @``, a tab or a carriage
return would run as a formula when staff open the file in Excel, so it gets a
leading ``'`` (OWASP's advice). The nightly exporter (``pipeline/export``)
is a separate job; the two may share this code later.
"""

from __future__ import annotations

import csv
import io
from typing import Iterable, Sequence

COLUMNS: tuple[str, ...] = ("customer_id", "email", "first_name", "last_name", "date_joined")
DETAIL_FIELDS: tuple[str, ...] = COLUMNS[1:]  # read from the details hash
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise(cell: str | None) -> str:
    """The cell as text a spreadsheet will not evaluate."""
    text = "" if cell is None else cell
    return "'" + text if text.startswith(_FORMULA_START) else text


def render(rows: Iterable[Sequence[str | None]], header: bool = False) -> str:
    """CSV text of rows (each in :data:`COLUMNS` order), optionally with the header first."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    if header:
        writer.writerow(COLUMNS)
    writer.writerows([neutralise(cell) for cell in row] for row in rows)
    return buffer.getvalue()


def filename(group_id: str) -> str:
    """A safe download name: group IDs are ``[A-Za-z0-9_.:-]``, and ``:`` is not allowed on Windows."""
    return f"group-{group_id.replace(':', '_')}-members.csv"
