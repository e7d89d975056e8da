"""Exports open in a spreadsheet as data: formulas neutralised, RFC 4180, UTF-8."""

from __future__ import annotations

import csv
import io

import pytest

from pipeline.export.csv_safety import SafeCsvWriter, neutralise, safe_row

HOSTILE = ['=HYPERLINK("http://x")', "+1", "-2+3", "@SUM(A1)", "\t=1", "\r=1", "=1+2"]


class Sink:
    def __init__(self) -> None:
        self.parts: list[str] = []

    def write(self, text: str) -> int:
        self.parts.append(text)
        return len(text)

    @property
    def text(self) -> str:
        return "".join(self.parts)


@pytest.mark.parametrize("cell", HOSTILE)
def test_formula_cells_get_a_leading_quote(cell: str) -> None:
    assert neutralise(cell) == "'" + cell


@pytest.mark.parametrize("cell", ["Ann", "O'Brien", "a=b", "1+1", "山田", "Łukasz", "عمر", " =x", ""])
def test_ordinary_cells_are_untouched(cell: str) -> None:
    assert neutralise(cell) == cell


def test_none_becomes_an_empty_cell() -> None:
    assert safe_row(["C1", None, "=x"]) == ["C1", "", "'=x"]


def test_rows_round_trip_through_a_csv_reader_with_crlf_and_quoting() -> None:
    sink = Sink()
    writer = SafeCsvWriter(sink)
    writer.header(["customer_id", "first_name", "last_name"])
    rows = [["C1", 'Ann "Annie"', "Smith, Jr."], ["C2", "two\nlines", "山田"], ["C3", "Łukasz", "عمر"],
            ["C4", '=HYPERLINK("http://x")', "@SUM(A1)"], ["C5", None, "+1"]]
    writer.write_rows(rows[:2])
    writer.row(rows[2])
    writer.write_rows(rows[3:])
    text = sink.text
    assert writer.rows == 5  # the header is not a row
    assert text.startswith("customer_id,first_name,last_name\r\n")
    assert '"Ann ""Annie""","Smith, Jr."\r\n' in text  # quotes doubled, commas quoted
    assert '"two\nlines"' in text  # an embedded line break stays inside a quoted field
    parsed = list(csv.reader(io.StringIO(text, newline="")))
    assert parsed[1:] == [["C1", 'Ann "Annie"', "Smith, Jr."], ["C2", "two\nlines", "山田"],
                          ["C3", "Łukasz", "عمر"], ["C4", '\'=HYPERLINK("http://x")', "'@SUM(A1)"],
                          ["C5", "", "'+1"]]


def test_no_cell_in_the_output_starts_a_formula() -> None:
    sink = Sink()
    writer = SafeCsvWriter(sink)
    writer.write_rows([HOSTILE, list(reversed(HOSTILE))])
    for row in csv.reader(io.StringIO(sink.text, newline="")):
        assert all(not cell.startswith(("=", "+", "-", "@", "\t", "\r")) for cell in row), row


@pytest.mark.parametrize("cell", ["Ann\x00", "\x00=1+2", "a\x1fb", "x\x7f"])
def test_control_characters_never_reach_the_file(cell: str) -> None:
    out = io.StringIO()
    SafeCsvWriter(out).row([cell])
    text = out.getvalue()
    assert not any((ord(c) < 32 and c not in "\r\n") or c == "\x7f" for c in text), repr(text)
    assert "\ufffd" in text


def test_tabs_and_line_breaks_inside_a_cell_survive() -> None:
    out = io.StringIO()
    SafeCsvWriter(out).row(["two\nlines", "a\tb"])
    assert list(csv.reader(io.StringIO(out.getvalue()))) == [["two\nlines", "a\tb"]]
