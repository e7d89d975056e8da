"""The members CSV: RFC 4180 and spreadsheet-formula neutralisation (pipeline.admin.members_csv)."""

from __future__ import annotations

import csv
import io

import pytest

from pipeline.admin.members_csv import COLUMNS, filename, neutralise, render


@pytest.mark.parametrize("dangerous", ["=1+1", "+44 20", "-2+3", "@SUM(A1)", "\tx", "\rx",
                                       '=HYPERLINK("http://evil","x")'])
def test_cells_a_spreadsheet_would_evaluate_get_a_leading_quote(dangerous: str) -> None:
    assert neutralise(dangerous) == "'" + dangerous


@pytest.mark.parametrize("safe", ["Ann", "ann@example.com", "2025-11-05", "C00042", "a=b", " =x", ""])
def test_ordinary_cells_are_unchanged(safe: str) -> None:
    assert neutralise(safe) == safe


def test_none_is_an_empty_cell() -> None:
    assert neutralise(None) == ""


def test_rfc_4180_quoting_and_crlf_and_the_header() -> None:
    text = render([["c1", "a@b.c", 'Ann "Nan", Jr', "Line\nTwo", None], ["c2", "=cmd", "", "", "2025-11-05"]],
                  header=True)
    assert text.startswith(",".join(COLUMNS) + "\r\n")
    assert text.endswith("\r\n")
    assert '"Ann ""Nan"", Jr"' in text
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert rows[0] == list(COLUMNS)
    assert rows[1] == ["c1", "a@b.c", 'Ann "Nan", Jr', "Line\nTwo", ""]
    assert rows[2] == ["c2", "'=cmd", "", "", "2025-11-05"]


def test_render_without_header_is_only_rows() -> None:
    assert render([["c1", "e", "f", "l", "d"]]) == "c1,e,f,l,d\r\n"
    assert render([]) == ""


def test_download_name_is_safe_on_every_os() -> None:
    assert filename("12") == "group-12-members.csv"
    assert filename("a:b") == "group-a_b-members.csv"
