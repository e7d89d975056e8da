"""Group definitions as data: row forms, blocks and type rules."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from schemas.groups import AnyBlock, GroupDefinition, NotBlock, RuleRow


def test_list_rows_match_the_cms_row_form() -> None:
    row = RuleRow.model_validate(["AND", "datejoined", "greater than", "01/11/2025"])
    assert (row.connector, row.field, row.op, row.value) == ("and", "datejoined", "greater than", "01/11/2025")
    short = RuleRow.model_validate(["orders", "equals", 0])
    assert (short.connector, short.value) == ("and", 0)
    unary = RuleRow.model_validate(["or", "datejoined", "is set"])
    assert (unary.connector, unary.op, unary.value) == ("or", "is set", None)


def test_mapping_rows_accept_operator_or_op() -> None:
    a = RuleRow.model_validate({"field": "brand", "operator": "viewed", "value": "Sony"})
    b = RuleRow.model_validate({"field": "brand", "op": "viewed", "value": "Sony"})
    assert a == b


def test_bad_list_row_says_the_expected_form() -> None:
    with pytest.raises(ValidationError, match=r"\[connector, field, operator, value\]"):
        RuleRow.model_validate(["and", "orders"])


def test_within_and_between_are_exclusive() -> None:
    with pytest.raises(ValidationError, match="either 'within' or 'between'"):
        RuleRow.model_validate({"field": "brand", "op": "viewed", "value": "x",
                                "within": "3 days", "between": ["01/01/2025", "02/01/2025"]})


def test_nested_blocks_parse() -> None:
    group = GroupDefinition.model_validate({
        "id": 5, "name": "x", "type": "dynamic",
        "rules": [{"any": [["brand", "viewed", "Sony"], {"not": ["orders", "equals", 0]}]}],
    })
    assert group.id == "5"
    block = group.rules[0]
    assert isinstance(block, AnyBlock) and isinstance(block.any[1], NotBlock)


def test_dynamic_groups_need_rules_and_others_have_none() -> None:
    with pytest.raises(ValidationError, match="needs at least one rule"):
        GroupDefinition.model_validate({"id": 1, "name": "x", "type": "dynamic"})
    with pytest.raises(ValidationError, match="only dynamic groups"):
        GroupDefinition.model_validate({"id": 1, "name": "x", "type": "public",
                                        "rules": [["orders", "equals", 0]]})


def test_unknown_keys_in_a_definition_are_errors() -> None:
    with pytest.raises(ValidationError, match="Extra inputs"):
        GroupDefinition.model_validate({"id": 1, "name": "x", "type": "private", "colour": "red"})
