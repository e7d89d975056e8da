"""The group rule language: pure code, no Kafka or Redis.

``loader.load`` reads ``rules_config/``; ``compiler.compile_group`` turns a
definition into conditions; ``evaluator.evaluate`` says whether a profile is a
member, why, and when that can next change; ``index.RuleIndex`` says which
groups an event can affect. ``network.RuleNetwork`` compiles all groups into
shared condition nodes (what the worker evaluates), and ``delta.Changes`` says
which nodes, and so which groups, one event moved; the evaluator stays the
reference it is tested against.
"""

from pipeline.rules.compiler import CompiledGroup, RuleError, RuleErrors, compile_group
from pipeline.rules.conditions import Explanation
from pipeline.rules.days import evaluation_scope
from pipeline.rules.evaluator import Outcome, evaluate, matches, memberships, next_change_day
from pipeline.rules.index import RuleIndex, event_keys
from pipeline.rules.loader import RuleSet, build, load, parse_text

__all__ = [
    "CompiledGroup",
    "Explanation",
    "Outcome",
    "RuleError",
    "RuleErrors",
    "RuleIndex",
    "RuleSet",
    "build",
    "compile_group",
    "evaluate",
    "evaluation_scope",
    "event_keys",
    "load",
    "matches",
    "memberships",
    "next_change_day",
    "parse_text",
]
