"""Validation errors a shop admin can act on: file, group, row, what is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.rules import RuleErrors, load, parse_text

from .conftest import POLICY, group


def _message(*rules: object) -> str:
    with pytest.raises(RuleErrors) as caught:
        group(*rules)
    return str(caught.value)


def test_typo_in_a_field_suggests_the_right_one() -> None:
    message = _message(["datejoind", "greater than", "01/11/2025"])
    assert "unknown field 'datejoind'" in message and "did you mean 'datejoined'" in message
    assert "rule 1" in message and "group 99" in message


def test_operator_that_does_not_fit_the_field() -> None:
    message = _message(["orders", "contains", 3])
    assert "'contains' does not fit 'orders' (a number field)" in message
    assert "greater than" in message


def test_unknown_operator() -> None:
    assert "'bigger' is not an operator" in _message(["orders", "bigger", 3])


def test_unknown_action_for_a_behaviour_field() -> None:
    assert "is not an action for 'brand'" in _message(["brand", "liked", "Sony"])


@pytest.mark.parametrize(("rule", "fragment"), [
    (["datejoined", "greater than", "31/02/2025"], "not a real date"),
    (["datejoined", "greater than", "soon"], "is not a date"),
    (["orders", "equals", "many"], "whole number"),
    (["averagespend", "greater than", "$500"], "shop currency (GBP)"),
    (["registered", "equals", "maybe"], "yes or no"),
    (["lastorder", "in the last", "3 fortnights"], "length of time"),
    (["orders", "between", [5, 1]], "smaller value first"),
    (["orders", "between", 5], "two values"),
    (["orders", "equals", [1, 2]], "in list"),
    (["datejoined", "is set", "x"], "takes no value"),
    (["consent", "contains", "Dinosaurs"], "not a public group"),
    ({"field": "orders", "op": "equals", "value": 0, "within": "3 days"}, "behaviour rows"),
    ({"field": "brand", "op": "viewed"}, "a value is required"),
    ({"field": "brand", "op": "viewed", "value": "x", "between": ["30 days ago", "today"]}, "fixed dates"),
])
def test_bad_values_are_rejected_never_silently_false(rule: object, fragment: str) -> None:
    assert fragment in _message(rule)


def test_every_bad_row_is_reported_with_its_position() -> None:
    message = _message(["orders", "equals", 0], ["or", "nope", "equals", 1],
                       {"any": [["orders", "equals", 0], ["brand", "liked", "x"]]})
    assert "rule 2" in message and "rule 3 > any 2" in message


def test_parse_errors_name_the_file_and_group() -> None:
    text = "groups:\n  - id: 4\n    name: Bad\n    type: dynamic\n"
    definitions, errors = parse_text(text, "rules_config/bad.yaml")
    assert not definitions
    assert "rules_config/bad.yaml" in str(errors[0]) and "group 4 'Bad'" in str(errors[0])


def test_load_reports_duplicate_ids_across_files(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("groups: [{id: 1, name: A, type: public}]")
    (tmp_path / "b.json").write_text('{"groups": [{"id": "1", "name": "B", "type": "private"}]}')
    ruleset = load(tmp_path, POLICY)
    assert not ruleset.ok
    assert "used twice" in str(ruleset.errors[0]) and "a.yaml" in str(ruleset.errors[0])


def test_invalid_yaml_is_an_error_not_a_crash(tmp_path: Path) -> None:
    (tmp_path / "x.yaml").write_text("groups: [unclosed")
    assert "not valid YAML" in str(load(tmp_path, POLICY).errors[0])


def test_an_empty_folder_says_so(tmp_path: Path) -> None:
    assert "no rule files" in str(load(tmp_path, POLICY).errors[0])


def test_shipped_rules_config_is_valid() -> None:
    ruleset = load(Path(__file__).parents[3] / "rules_config", POLICY)
    assert ruleset.ok, [str(e) for e in ruleset.errors]
    names = {g.definition.name for g in ruleset.groups.values()}
    assert {"Post", "Phone", "Newsletter", "Sony interest", "Stressless Furniture", "Fruit Fans",
            "All Customers", "Bought in the last 3 months", "Average spend over £500",
            "Signed up since 1 November, no orders yet"} <= names
