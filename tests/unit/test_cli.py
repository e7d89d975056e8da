"""The ``customer-groups`` command's server-free subcommands."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from pipeline.cli import main

ROOT = Path(__file__).parents[2]
EVENTS = [
    {"type": "view", "event_id": "a1", "occurred_at": "2025-11-18T10:00:00+00:00",
     "visitor_id": "ck_5d2e", "product": {"product_id": "KD-55X", "brand": "Sony"}},
    {"type": "search", "event_id": "a2", "occurred_at": "2025-11-19T10:00:00+00:00",
     "visitor_id": "ck_5d2e", "query": "stressless chair"},
]


def test_rules_check_lists_the_shipped_groups(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rules", "check", str(ROOT / "rules_config")]) == 0
    out = capsys.readouterr().out
    assert "Sony interest" in out and "OK: 13 group(s)" in out


def test_rules_check_explains_errors_and_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("groups:\n  - {id: 4, name: Typos, type: dynamic, rules: [[brnd, viewed, Sony]]}\n")
    assert main(["rules", "check", str(bad)]) == 1
    err = capsys.readouterr().err
    assert "1 problem(s)" in err and "group 4 'Typos', rule 1" in err and "did you mean 'brand'" in err


def test_rules_explain_says_why(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    events = tmp_path / "events.json"
    events.write_bytes(orjson.dumps(EVENTS))
    code = main(["rules", "explain", "--group", "Sony interest", "--profile", str(events),
                 "--rules", str(ROOT / "rules_config"), "--now", "2025-11-20T12:00:00+00:00"])
    assert code == 0
    out = capsys.readouterr().out
    assert "v:ck_5d2e IS a member of group 12 'Sony interest'" in out
    assert "✔ brand viewed 'sony' (did so once)" in out


def test_rules_explain_json_gives_next_change(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    events = tmp_path / "events.json"
    events.write_bytes(orjson.dumps({"events": EVENTS}))
    rules = tmp_path / "window.yaml"
    rules.write_text("groups:\n  - id: 5\n    name: Recent Sony\n    type: dynamic\n    rules:\n"
                     "      - {field: brand, op: viewed, value: Sony, within: 7 days}\n")
    main(["rules", "explain", "--profile", str(events), "--rules", str(rules),
          "--now", "2025-11-20T12:00:00+00:00", "--json"])
    [outcome] = orjson.loads(capsys.readouterr().out)
    assert outcome["matched"] is True
    assert outcome["next_change"] == "2025-11-25T00:00:00+00:00"


def test_rules_explain_unknown_group(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    events = tmp_path / "events.json"
    events.write_bytes(orjson.dumps(EVENTS))
    assert main(["rules", "explain", "--group", "nope", "--profile", str(events),
                 "--rules", str(ROOT / "rules_config")]) == 1
    assert "no group 'nope'" in capsys.readouterr().err


def test_schemas_export_writes_the_committed_files(tmp_path: Path) -> None:
    assert main(["schemas", "export", "--out", str(tmp_path)]) == 0
    for written in tmp_path.iterdir():
        assert written.read_bytes() == (ROOT / "schemas" / "json" / written.name).read_bytes()
