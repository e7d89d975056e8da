"""Reading ``rules_config/``: YAML or JSON files of group definitions.

YAML dates are read as text on purpose: ``01/11/2025`` and ``2025-11-01`` are
both parsed by the rule language, which knows the first is British.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import orjson
import yaml
from pydantic import ValidationError

from pipeline.profile import ProfilePolicy
from pipeline.rules.compiler import CompiledGroup, RuleError, RuleErrors, compile_group
from schemas.groups import GroupDefinition, RulesFile

RULE_FILE_SUFFIXES = (".yaml", ".yml", ".json")


class _TextDatesLoader(yaml.SafeLoader):
    """A safe loader that leaves dates and times as strings."""


_TextDatesLoader.yaml_implicit_resolvers = {
    key: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.copy().items()
}


@dataclass
class RuleSet:
    """Compiled groups from a set of files, or the errors that stopped them."""

    groups: dict[str, CompiledGroup] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)  # group id -> file
    errors: list[RuleError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def definitions(self) -> list[GroupDefinition]:
        return [g.definition for g in self.groups.values()]


def _pydantic_errors(exc: ValidationError, source: str, data: object) -> list[RuleError]:
    errors = []
    for err in exc.errors(include_url=False):
        loc = list(err["loc"])
        group_id = group_name = None
        if len(loc) >= 2 and loc[0] == "groups" and isinstance(loc[1], int):
            try:
                raw = data["groups"][loc[1]]  # type: ignore[index]  # loc says it is the list of groups
                group_id = str(raw.get("id", f"#{loc[1] + 1}"))
                group_name = raw.get("name")
            except (KeyError, IndexError, TypeError, AttributeError):
                group_id = f"#{loc[1] + 1}"
            loc = loc[2:]
        where = ".".join(str(p) for p in loc if p not in ("row", "all", "any", "not"))
        errors.append(RuleError(err["msg"], group_id, group_name, where or None, source))
    return errors


def parse_text(text: str, source: str) -> tuple[list[GroupDefinition], list[RuleError]]:
    """Definitions from one file's text (YAML, of which JSON is a subset)."""
    try:
        data = (orjson.loads(text) if source.endswith(".json")
                else yaml.load(text, Loader=_TextDatesLoader))
    except (yaml.YAMLError, orjson.JSONDecodeError) as exc:
        return [], [RuleError(f"not valid YAML/JSON: {exc}", source=source)]
    try:
        return list(RulesFile.model_validate(data).groups), []
    except ValidationError as exc:
        return [], _pydantic_errors(exc, source, data)


def build(
    definitions: Iterable[tuple[GroupDefinition, str]], policy: ProfilePolicy
) -> RuleSet:
    """Compile definitions (each with its source) into a rule set, checking IDs are unique."""
    ruleset = RuleSet()
    pairs = list(definitions)
    seen: dict[str, str] = {}
    for definition, source in pairs:
        if definition.id in seen:
            ruleset.errors.append(RuleError(
                f"group ID {definition.id} is used twice (also in {seen[definition.id]})",
                definition.id, definition.name, None, source))
        seen.setdefault(definition.id, source)
    public = {d.id: d.name for d, _ in pairs if d.type == "public"}
    for definition, source in pairs:
        try:
            ruleset.groups[definition.id] = compile_group(definition, policy, public, source)
            ruleset.sources[definition.id] = source
        except RuleErrors as exc:
            ruleset.errors.extend(exc.errors)
    return ruleset


def rule_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    return sorted(p for p in path.rglob("*") if p.suffix in RULE_FILE_SUFFIXES and p.is_file()
                  and not p.name.endswith(".schema.json"))


def load(path: Path, policy: ProfilePolicy) -> RuleSet:
    """Every group defined under ``path`` (a file or a folder), compiled."""
    files = rule_files(path)
    if not files:
        return RuleSet(errors=[RuleError(f"no rule files (*.yaml, *.yml, *.json) under {path}")])
    pairs: list[tuple[GroupDefinition, str]] = []
    errors: list[RuleError] = []
    for file in files:
        found, problems = parse_text(file.read_text(encoding="utf-8"), str(file))
        pairs += [(d, str(file)) for d in found]
        errors += problems
    ruleset = build(pairs, policy)
    ruleset.errors = errors + ruleset.errors
    return ruleset
