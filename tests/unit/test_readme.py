"""The README documents what the code offers."""

from __future__ import annotations

from pathlib import Path

from pipeline.cli import build_parser
from pipeline.settings import ENV_PREFIX, Settings

README = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")


def test_every_setting_is_documented() -> None:
    missing = [f"{ENV_PREFIX}{name.upper()}" for name in Settings.model_fields
               if f"`{ENV_PREFIX}{name.upper()}`" not in README]
    assert not missing, f"add these to the README's configuration table: {missing}"


def test_every_command_is_documented() -> None:
    commands = build_parser()._subparsers._group_actions[0].choices  # type: ignore[union-attr]  # noqa: SLF001
    missing = [name for name in commands if f"customer-groups {name}" not in README]
    assert not missing, missing
