"""The fault suite reads its workers' logs for topics a group leader left out of an assignment."""

from __future__ import annotations

from pathlib import Path

from faults.run import Run
from pipeline.settings import Settings


def test_topics_left_out_of_an_assignment_are_read_from_every_worker_log(tmp_path: Path) -> None:
    run = Run.create(Settings(), "case", tmp_path)
    run.root.mkdir(parents=True)
    assert run.topics_left_out() == []
    prefix = "2026-12-02 12:59:30,434 WARNING faust.assignor.partition_assignor: Ignoring missing topic: "
    (run.root / "a.log").write_text(f"{prefix}'app-applied-definitions-changelog'\nanything else\n", encoding="utf-8")
    (run.root / "b.log").write_text(f"{prefix}'app-identity-changelog' (3 similar line(s) in the last 55s not "
                                    f"shown)\n{prefix}'app-applied-definitions-changelog'\n", encoding="utf-8")
    assert run.topics_left_out() == ["app-applied-definitions-changelog", "app-identity-changelog"]
