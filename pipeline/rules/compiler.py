"""From a group definition (data) to a compiled group (conditions), or to errors.

Errors are collected, not raised one at a time, so that ``rules check`` shows
a shop admin every problem in a file at once, each with the file, the group,
the rule's position and what to do about it.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date

from pipeline.profile import Action, ProfilePolicy, normalise
from pipeline.rules.behaviour import Behaviour
from pipeline.rules.conditions import All, Any, Compare, Condition, Member, Not
from pipeline.rules.fields import (
    ACTION_OPS,
    FIELDS,
    KIND_OPS,
    OPERATORS,
    BehaviourField,
    ScalarField,
    operator_names,
    squash,
)
from pipeline.rules.monotone import can_leave_on, time_moves
from pipeline.rules.values import (
    parse_bool,
    parse_date,
    parse_duration,
    parse_int,
    parse_money,
)
from schemas.groups import AllBlock, AnyBlock, GroupDefinition, NotBlock, RuleNode, RuleRow


@dataclass(frozen=True, slots=True)
class RuleError:
    """One problem in one group definition, located for a human."""

    message: str
    group_id: str | None = None
    group_name: str | None = None
    location: str | None = None  # e.g. "rule 2" or "rule 3 > any 1"
    source: str | None = None  # the file it came from

    def __str__(self) -> str:
        where = [self.source] if self.source else []
        if self.group_id is not None:
            name = f" {self.group_name!r}" if self.group_name else ""
            where.append(f"group {self.group_id}{name}")
        if self.location:
            where.append(self.location)
        return f"{', '.join(where)}: {self.message}" if where else self.message

    def as_dict(self) -> dict[str, str | None]:
        return {"source": self.source, "group_id": self.group_id, "group_name": self.group_name,
                "location": self.location, "message": self.message}


class RuleErrors(Exception):
    def __init__(self, errors: Sequence[RuleError]) -> None:
        super().__init__("\n".join(str(e) for e in errors))
        self.errors = list(errors)


@dataclass(frozen=True, slots=True)
class CompiledGroup:
    definition: GroupDefinition
    condition: Condition
    reads: frozenset[str] = field(default_factory=frozenset)
    # Event keys on which a member could stop matching (pipeline.rules.monotone).
    can_leave_on: frozenset[str] = field(init=False)
    # Whether days passing alone can make a subject join / leave (pipeline.rules.monotone).
    time_can_join: bool = field(init=False)
    time_can_leave: bool = field(init=False)
    id: str = field(init=False)  # the definition's, read for every group of every event

    def __post_init__(self) -> None:
        object.__setattr__(self, "id", self.definition.id)
        object.__setattr__(self, "can_leave_on", can_leave_on(self.condition))
        joins, leaves = time_moves(self.condition)
        object.__setattr__(self, "time_can_join", joins)
        object.__setattr__(self, "time_can_leave", leaves)

    @property
    def type(self) -> str:
        return self.definition.type

    @property
    def reads_behaviour(self) -> bool:
        """True when a row counts events (keys like ``viewed:brand:sony``), not just scalar fields."""
        return any(":" in key for key in self.reads)

    @property
    def time_dependent(self) -> bool:
        """True when membership can change with no new event (rolling windows, relative dates)."""
        return "time" in self.reads


class _RowError(ValueError):
    pass


def _suggest(name: str, choices: Sequence[str]) -> str:
    close = difflib.get_close_matches(name.lower(), list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


class _Compiler:
    def __init__(self, policy: ProfilePolicy, public_groups: Mapping[str, str]) -> None:
        self.policy = policy
        self.public_groups = public_groups  # id -> name
        self.errors: list[tuple[str, str]] = []

    def node(self, node: RuleNode, where: str) -> Condition | None:
        if isinstance(node, AllBlock):
            return self.rows(node.all, f"{where} > all")
        if isinstance(node, AnyBlock):
            kids = [self.node(child, f"{where} > any {i}") for i, child in enumerate(node.any, 1)]
            return None if None in kids else _flatten(Any, kids)  # type: ignore[arg-type]  # no None among them (checked)
        if isinstance(node, NotBlock):
            child = self.node(node.not_, f"{where} > not")
            return None if child is None else Not(child)
        try:
            return self.row(node)
        except _RowError as exc:
            self.errors.append((where, str(exc)))
            return None

    def rows(self, nodes: Sequence[RuleNode], where: str) -> Condition | None:
        """A list of rows: ``and`` binds tighter than ``or``; the first connector is ignored."""
        runs: list[list[Condition | None]] = [[]]
        for i, node in enumerate(nodes, 1):
            connector = node.connector if isinstance(node, RuleRow) else "and"
            if connector == "or" and i > 1:
                runs.append([])
            runs[-1].append(self.node(node, f"{where} {i}" if where else f"rule {i}"))
        if any(c is None for run in runs for c in run):
            return None
        conjunctions = [_flatten(All, run) for run in runs]  # type: ignore[arg-type]  # no None among them (checked)
        return _flatten(Any, conjunctions)

    def row(self, row: RuleRow) -> Condition:
        field_def = FIELDS.get(squash(row.field))
        if field_def is None:
            names = sorted({f.name for f in FIELDS.values()})
            raise _RowError(f"unknown field {row.field!r}{_suggest(row.field, names)}; "
                            f"fields are: {', '.join(names)}")
        if isinstance(field_def, BehaviourField):
            return self.behaviour(field_def, row)
        if row.at_least is not None or row.within is not None or row.between is not None:
            raise _RowError(f"'at_least', 'within' and 'between' belong to behaviour rows "
                            f"(brand, category, product, search), not to {field_def.name!r}")
        op = OPERATORS.get(squash(row.op))
        allowed = KIND_OPS[field_def.kind]
        if op is None or op not in allowed:
            problem = ("is not an operator" if op is None
                       else f"does not fit {field_def.name!r} (a {field_def.kind} field)")
            raise _RowError(f"{row.op!r} {problem}; for {field_def.name!r} use one of: "
                            f"{', '.join(operator_names(allowed))}")
        return Compare(field_def, op, self.operands(field_def, op, row.value), self.policy)

    def operands(self, field_def: ScalarField, op: str, value: object) -> tuple[object, ...]:
        if op in ("is_set", "is_not_set"):
            if value not in (None, ""):
                raise _RowError(f"{op.replace('_', ' ')!r} takes no value")
            return ()
        if op in ("in_last", "not_in_last"):
            return (self.parse(parse_duration, value),)
        if op == "between":
            if not isinstance(value, list) or len(value) != 2:
                raise _RowError("'between' needs two values, e.g. [01/10/2025, 31/10/2025]")
            low, high = (self.scalar(field_def, v) for v in value)
            if all(isinstance(v, int) for v in (low, high)) and low > high:  # type: ignore[operator]  # both ints (checked)
                raise _RowError("'between' needs the smaller value first")
            return (low, high)
        values = value if isinstance(value, list) else [value]
        if op != "in" and field_def.kind != "set" and len(values) != 1:
            raise _RowError(f"{field_def.name!r} takes one value here; use 'in list' for several")
        if value is None or values == []:
            raise _RowError(f"a value is required for {field_def.name!r}")
        return tuple(self.scalar(field_def, v) for v in values)

    def scalar(self, field_def: ScalarField, value: object) -> object:
        kind = field_def.kind
        if kind == "date":
            parsed = self.parse(parse_date, value)
            return parsed.toordinal() if isinstance(parsed, date) else parsed
        if kind == "number":
            return self.parse(parse_int, value)
        if kind == "money":
            return self.parse(lambda v: parse_money(v, self.policy.currency), value)
        if kind == "bool":
            return self.parse(parse_bool, value)
        if kind == "set":
            return self.public_group(value)
        if value is None:
            raise _RowError(f"a value is required for {field_def.name!r}")
        return str(value).strip().lower()

    def public_group(self, value: object) -> str:
        text = str(value).strip()
        if text in self.public_groups:
            return text
        by_name = {name.lower(): gid for gid, name in self.public_groups.items()}
        if text.lower() in by_name:
            return by_name[text.lower()]
        known = ", ".join(f"{gid} ({name})" for gid, name in sorted(self.public_groups.items()))
        raise _RowError(f"{text!r} is not a public group; consent can only be given to one of: "
                        f"{known or 'none defined'}")

    @staticmethod
    def parse(parser, value: object):  # type: ignore[no-untyped-def]  # a parser of any value type
        try:
            return parser(value)
        except ValueError as exc:
            raise _RowError(str(exc)) from None

    def behaviour(self, field_def: BehaviourField, row: RowLike) -> Condition:
        op_key = squash(row.op)
        contains = False
        actions: tuple[Action, ...]
        if field_def.dimension == "query" and OPERATORS.get(op_key) in ("contains", "eq"):
            actions, contains = ("searched",), OPERATORS[op_key] == "contains"
        elif op_key in ACTION_OPS:
            actions = ACTION_OPS[op_key]
        else:
            verbs = "viewed, searched, basket, wishlist, ordered, any"
            if field_def.dimension == "query":
                verbs = "contains, equals"
            raise _RowError(f"{row.op!r} is not an action for {field_def.name!r}; use one of: "
                            f"{verbs}{_suggest(row.op, verbs.split(', '))}")
        raw = row.value if isinstance(row.value, list) else [row.value]
        if any(v is None or str(v).strip() == "" for v in raw):
            raise _RowError(f"a value is required: which {field_def.name}? ('*' for any)")
        values = frozenset(normalise(str(v)) for v in raw if str(v).strip() != "*")
        between = None
        if row.between is not None:
            low, high = (self.parse(parse_date, v) for v in row.between)
            if not isinstance(low, date) or not isinstance(high, date):
                raise _RowError("'between' takes two fixed dates; use 'within' for a rolling window")
            if low > high:
                raise _RowError("'between' needs the earlier date first")
            between = (low.toordinal(), high.toordinal())
        within = self.parse(parse_duration, row.within) if row.within is not None else None
        return Behaviour(field_def, actions, values, contains=contains,
                         at_least=row.at_least or 1, within=within, between=between)


RowLike = RuleRow


def _flatten(kind: type[All] | type[Any], children: list[Condition]) -> Condition:
    if len(children) == 1:
        return children[0]
    flat: list[Condition] = []
    for child in children:
        flat.extend(child.children if isinstance(child, kind) else (child,))
    return kind(tuple(flat))


def compile_group(
    definition: GroupDefinition,
    policy: ProfilePolicy,
    public_groups: Mapping[str, str] | None = None,
    source: str | None = None,
) -> CompiledGroup:
    """Compile one definition; ``public_groups`` (id → name) resolves consent rows."""
    if definition.type != "dynamic":
        member = Member(definition.id, definition.type)
        return CompiledGroup(definition, member, member.reads())
    compiler = _Compiler(policy, public_groups or {})
    condition = compiler.rows(definition.rules, "")
    if compiler.errors or condition is None:
        raise RuleErrors([
            RuleError(message, definition.id, definition.name, location, source)
            for location, message in compiler.errors
        ])
    reads = condition.reads() | ({"time"} if any(time_moves(condition)) else frozenset())
    return CompiledGroup(definition, condition, reads)
