"""The members CSV download of the Customer Groups page.

The same spreadsheet-safe CSV as the nightly exporter (RFC 4180, CRLF,
formula cells neutralised with a leading ``'``): one implementation,
:mod:`pipeline.export.csv_safety`, serves both.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence

from pipeline.export.csv_safety import SafeCsvWriter
from pipeline.export.csv_safety import neutralise as _neutralise

COLUMNS: tuple[str, ...] = ("customer_id", "email", "first_name", "last_name", "date_joined")
DETAIL_FIELDS: tuple[str, ...] = COLUMNS[1:]  # read from the details hash


def neutralise(cell: str | None) -> str:
    """The cell as text a spreadsheet will not evaluate (empty for a missing value)."""
    return _neutralise("" if cell is None else cell)


def render(rows: Iterable[Sequence[str | None]], header: bool = False) -> str:
    """CSV text of rows (each in :data:`COLUMNS` order), optionally with the header first."""
    buffer = io.StringIO()
    writer = SafeCsvWriter(buffer)
    if header:
        writer.header(COLUMNS)
    writer.write_rows([list(row) for row in rows])
    return buffer.getvalue()


def filename(group_id: str) -> str:
    """A safe download name: group IDs are ``[A-Za-z0-9_.:-]``, and ``:`` is not allowed on Windows."""
    return f"group-{group_id.replace(':', '_')}-members.csv"
