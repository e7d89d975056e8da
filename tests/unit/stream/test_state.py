"""ProfileStore's decoded cache can never be ahead of the table (pipeline.stream.state)."""

from __future__ import annotations

from pipeline.profile import new_profile
from pipeline.profile.stored import pack
from pipeline.stream.state import MemoryTable, ProfileStore


def store(cache_size: int = 10) -> ProfileStore:
    return ProfileStore(MemoryTable(), lambda subject: 0, cache_size)


def test_a_saved_profile_is_handed_out_decoded_once_then_read_from_the_table_again() -> None:
    profiles = store()
    profile = new_profile("v:a")
    profiles.save("v:a", profile, 7, None)
    loaded = profiles.load("v:a")
    assert loaded is not None and loaded[0] is profile and loaded[1] == 7 and profiles.hits == 1
    loaded[0].visitor_ids.add("changed but never saved")
    again = profiles.load("v:a")  # the changed object is not handed out again
    assert again is not None and again[0] is not profile and again[0].visitor_ids == {"a"}
    assert profiles.misses == 1


def test_another_writer_or_a_recovery_makes_the_cache_miss() -> None:
    profiles = store()
    profiles.save("v:a", new_profile("v:a"), None, None)
    other = new_profile("v:a")
    other.visitor_ids.add("b")
    profiles.table.set("v:a", pack(other, None), None)  # e.g. the back-fill's put_raw, or a rebuilt table
    loaded = profiles.load("v:a")
    assert loaded is not None and loaded[0].visitor_ids == {"a", "b"} and profiles.hits == 0


def test_read_never_takes_the_cached_profile_away_and_delete_forgets_it() -> None:
    profiles = store()
    profile = new_profile("v:a")
    profiles.save("v:a", profile, None, None)
    assert profiles.read("v:a") is profile
    loaded = profiles.load("v:a")
    assert loaded is not None and loaded[0] is profile
    profiles.save("v:a", profile, None, None)
    profiles.delete("v:a", None)
    assert profiles.load("v:a") is None and profiles.read("v:a") is None


def test_the_cache_keeps_only_the_last_saved() -> None:
    profiles = store(cache_size=2)
    for name in ("a", "b", "c"):
        profiles.save(f"v:{name}", new_profile(f"v:{name}"), None, None)
    for name in ("a", "b", "c"):
        profiles.load(f"v:{name}")
    assert (profiles.hits, profiles.misses) == (2, 1)  # "a" was pushed out


def test_a_store_writes_the_layout_it_is_told_and_reads_both() -> None:
    """CG_PROFILE_LAYOUT: ``whole`` for a rolling update from workers before the split layout."""
    from pipeline.profile import ProfilePolicy
    from pipeline.profile.stored import body_of
    from tests.unit.profile.builders import fold_all, view

    profile = fold_all(new_profile("v:a"), [view()], ProfilePolicy())
    whole, split = (ProfileStore(MemoryTable(), lambda subject: 0, 0, split_layout=flag) for flag in (False, True))
    whole.save("v:a", profile, None, None)
    split.save("v:a", profile, None, None)
    assert body_of(whole.raw("v:a"))[:1] == b"{" and body_of(split.raw("v:a"))[:1] == b"\x02"  # type: ignore[arg-type]
    split.put_raw("v:b", whole.raw("v:a"), None)  # type: ignore[arg-type]  # an old worker's value
    assert split.read("v:b") == whole.read("v:a") == profile


def test_the_worker_builds_its_store_and_its_stages_with_the_configured_layout(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from pipeline.assembly import build_worker
    from pipeline.settings import Settings
    from pipeline.stream.effects import Effects
    from pipeline.stream.profile_batch import ProfileBatch

    for layout, split_layout in (("whole", False), ("split", True)):
        worker = build_worker(Settings(profile_layout=layout, data_dir=tmp_path, app_id=f"layout-{layout}"))
        ctx = worker.context
        assert ctx.profiles.split_layout is split_layout
        batch = ProfileBatch(ctx, Effects(ctx), "ingest", ctx.now())
        assert batch.processor.split_layout is split_layout


def test_the_cache_s_hits_and_misses_are_exported_as_metrics() -> None:
    """``cg_profile_cache_*``: how an operator sizes CG_PROFILE_CACHE_SIZE, read at scrape time."""
    from pipeline.stream.metrics import Metrics

    profiles = store(cache_size=2)
    metrics = Metrics()
    metrics.watch_profile_cache(profiles)
    for name in ("a", "b", "c"):
        profiles.save(f"v:{name}", new_profile(f"v:{name}"), None, None)
    for name in ("a", "b", "c"):
        profiles.load(f"v:{name}")
    profiles.save("v:c", new_profile("v:c"), None, None)
    text = metrics.render().decode()
    assert 'cg_profile_cache_loads_total{source="cache"} 2.0' in text
    assert 'cg_profile_cache_loads_total{source="table"} 1.0' in text
    assert "cg_profile_cache_profiles 1.0" in text  # loads hand profiles out; only "c" was saved back
