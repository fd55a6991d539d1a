"""The batch job with the fake backend: the same command five times gives byte-identical CSVs, and new photos
move no face of a person they do not show."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from testkit import A, B, C, E, SyntheticEvent, read_csv, snapshot

from eventlens import pipeline
from eventlens.settings import Settings

OUTPUTS = ("summary.csv", "face_data.csv")


def _face_persons(out: Path) -> dict[tuple[str, str], str]:
    """(photo sha256, face index) -> person label (empty when unassigned), from face_data.csv."""
    _, rows = read_csv(out / "face_data.csv")
    return {(r["photo_sha256"], r["face"]): r["person"] for r in rows}


def test_five_runs_of_the_same_command_give_identical_outputs(
    event: SyntheticEvent, tmp_path: Path, make_settings: Callable[..., Settings]
) -> None:
    for i, ids in enumerate([[A, C], [B, E], [E], [C, B, A], [E, A]]):
        event.add(f"more/m{i}.jpg", ids, 40 + i)
    out = tmp_path / "out"
    outputs = []
    for _ in range(5):
        pipeline.process(event.root, out, make_settings())
        outputs.append({name: (out / name).read_bytes() for name in OUTPUTS} | {"all": snapshot(out)})
    assert all(o == outputs[0] for o in outputs[1:])
    _, rows = read_csv(out / "summary.csv")
    assert len(rows) == 4


def test_the_cluster_command_five_times_changes_nothing(
    event: SyntheticEvent, tmp_path: Path, make_settings: Callable[..., Settings]
) -> None:
    out = tmp_path / "out"
    pipeline.process(event.root, out, make_settings())
    first = {name: (out / name).read_bytes() for name in OUTPUTS}
    for _ in range(5):
        ev = pipeline.Event.open(out, make_settings(), create=False)
        try:
            with ev.run("cluster") as summary:
                pipeline.run_cluster(ev, summary)
                pipeline.run_export(ev, summary)
        finally:
            ev.close()
        assert summary.cluster.new_persons == 0 and summary.cluster.removed_persons == 0
        assert {name: (out / name).read_bytes() for name in OUTPUTS} == first


def test_added_photos_move_no_face_of_a_person_they_do_not_show(
    event: SyntheticEvent, tmp_path: Path, make_settings: Callable[..., Settings]
) -> None:
    out = tmp_path / "out"
    pipeline.process(event.root, out, make_settings())
    before = _face_persons(out)
    unchanged = {before[k] for k in before if before[k]} - {"person_003"}  # A and B; C gets new photos
    assert len(unchanged) == 2
    event.add("day2/c1.png", [C], 11)
    event.add("day2/c2.jpg", [C, E], 12)
    event.add("day2/e1.png", [E], 14)
    pipeline.process(event.root, out, make_settings())
    after = _face_persons(out)
    assert set(after) > set(before)
    for key, person in after.items():
        if before.get(key) in unchanged or person in unchanged:
            assert person == before.get(key), f"face {key} moved from {before.get(key)!r} to {person!r}"
