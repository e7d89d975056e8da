"""Group definitions as data: what shop staff build on the Customer Groups page.

These models check the *shape* of a definition (a row has a field, an
operator and a value; a block is ``all``/``any``/``not``). Whether a field or
operator exists, and whether a value fits it, is the rule compiler's job
(``pipeline.rules``), which reports errors a shop admin can act on.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    model_validator,
)

from schemas.identifiers import GroupId


def _id_to_str(value: Any) -> Any:
    # The CMS numbers its groups (7, 8, 10...); YAML gives ints for those.
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


DefinitionId = Annotated[GroupId, BeforeValidator(_id_to_str)]
GroupType = Literal["public", "private", "dynamic"]
Scalar = str | int | float | bool | None


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class RuleRow(_Model):
    """One row of the CMS rule editor: ``[connector] field operator value``.

    The connector of the first row in a list is ignored. Within one list,
    ``and`` binds tighter than ``or`` (as in SQL): ``a or b and c`` means
    ``a or (b and c)``.
    """

    connector: Literal["and", "or"] = "and"
    field: Annotated[str, Field(min_length=1, max_length=64)]
    op: Annotated[str, Field(min_length=1, max_length=64, alias="operator")]
    value: Scalar | list[Scalar] = None
    at_least: int | None = Field(
        default=None, ge=1, description="Behaviour rows: at least this many times (default 1)."
    )
    within: str | None = Field(
        default=None, description="Behaviour rows: a rolling window such as '30 days' or '3 months'."
    )
    between: tuple[str, str] | None = Field(
        default=None, description="Behaviour rows: a fixed window of two dates, both included."
    )

    @model_validator(mode="before")
    @classmethod
    def _from_list(cls, data: Any) -> Any:
        # Compact form: [connector, field, operator, value] or [field, operator, value].
        if isinstance(data, (list, tuple)):
            items = list(data)
            if items and str(items[0]).lower() in ("and", "or"):
                connector, *rest = items
            else:
                connector, rest = "and", items
            if len(rest) not in (2, 3):
                raise ValueError(
                    "a list row is [connector, field, operator, value] or [field, operator, value]"
                )
            field, op, *value = rest
            return {
                "connector": str(connector).lower(),
                "field": field,
                "op": op,
                "value": value[0] if value else None,
            }
        if isinstance(data, dict) and isinstance(data.get("connector"), str):
            data = {**data, "connector": data["connector"].lower()}
        return data

    @model_validator(mode="after")
    def _one_window(self) -> RuleRow:
        if self.within is not None and self.between is not None:
            raise ValueError("give either 'within' or 'between', not both")
        return self


class AllBlock(_Model):
    all: list[RuleNode] = Field(min_length=1)


class AnyBlock(_Model):
    any: list[RuleNode] = Field(min_length=1)


class NotBlock(_Model):
    not_: RuleNode = Field(alias="not")


def _node_kind(data: Any) -> str:
    if isinstance(data, dict):
        for key in ("all", "any", "not"):
            if key in data:
                return key
    if isinstance(data, BaseModel):
        return {AllBlock: "all", AnyBlock: "any", NotBlock: "not"}.get(type(data), "row")
    return "row"


RuleNode = Annotated[
    Annotated[RuleRow, Tag("row")] | Annotated[AllBlock, Tag("all")] | Annotated[AnyBlock, Tag("any")] | Annotated[NotBlock, Tag("not")],
    Discriminator(_node_kind),
]

AllBlock.model_rebuild()
AnyBlock.model_rebuild()
NotBlock.model_rebuild()


class GroupDefinition(_Model):
    """A customer group. Only dynamic groups have rules."""

    id: DefinitionId
    name: Annotated[str, Field(min_length=1, max_length=120)]
    type: GroupType
    description: str | None = Field(default=None, max_length=2000)
    rules: list[RuleNode] = Field(default_factory=list)

    @model_validator(mode="after")
    def _rules_only_for_dynamic(self) -> GroupDefinition:
        if self.type == "dynamic" and not self.rules:
            raise ValueError("a dynamic group needs at least one rule")
        if self.type != "dynamic" and self.rules:
            raise ValueError(f"a {self.type} group has no rules: only dynamic groups do")
        return self


class RulesFile(_Model):
    """One file under rules_config/."""

    groups: list[GroupDefinition] = Field(min_length=1)
