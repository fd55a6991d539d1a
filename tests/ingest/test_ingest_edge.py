"""The whole ``process`` on ../shared/data/edge with the fake backend: every file is either processed or
listed in rejected.csv with a reason, nothing crashes, and the originals are never modified."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
from testkit import fake_settings, hash_tree, read_csv

from eventlens import pipeline
from eventlens.catalog.db import default_url, open_catalog
from eventlens.catalog.schema import photo_paths, photos
from eventlens.summaries import RunSummary

#: file -> words its reason in rejected.csv must contain (the MANIFEST says what each file is)
MUST_REJECT = {
    "pillow_decompression_bomb.gif": "decompression bomb",
    "compreface_empty.png": "not an image",  # 5 bytes of text despite the name
    "compreface_corrupted.png": "not a readable image",
    "pillow_broken.png": "not a readable image",
    "pillow_truncated_jpeg.jpg": "truncated",
    "compreface_truncated.jpg": "truncated",
    "pillow_truncated_image.png": "truncated",
    "photoprism_broken.jpg": "truncated",
    "immich_8bit-sRGB.jxl": "JPEG XL",
    "MANIFEST.md": "not an image",
}
MUST_PROCESS = {
    "photoprism_wrong.heic",  # a JPEG named .heic
    "immich_IMG_2682.heic",
    "photoprism_iphone_7.heic",
    "photoprism_iphone_15_pro.heic",
    "immich_8bit-sRGB.avif",
    "immich_denali.webp",
    "pillow_hopper.webp",
    "pillow_pil_sample_cmyk.jpg",
    "pillow_hopper_gray.jpg",
    "facerec_32bit.png",
    "pillow_transparent.png",
    "photoprism_rotate_6.png",
    "photoprism_6720px_white.jpg",
    "pillow_exif-ifd-offset.jpg",
    "pillow_hopper_bad_exif.jpg",
    "dlib_bald_guys_collage.jpg",
} | {f"exiforient_Landscape_{i}.jpg" for i in range(9)}


@dataclass
class EdgeRun:
    inputs: list[str]
    before: dict[str, tuple[str, int]]
    after: dict[str, tuple[str, int]]
    summary: RunSummary
    out: Path
    rejected: dict[str, str]
    status: dict[str, str]  # rel path -> photo status in the catalog (or the path's own status)
    widths: dict[str, tuple[int, int]]


@pytest.fixture(scope="module")
def edge_run(edge_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> EdgeRun:
    out = tmp_path_factory.mktemp("edge") / "out"
    before = hash_tree(edge_dir)
    settings = fake_settings(tmp_path_factory.mktemp("cache"), workers=2)  # the pool on awkward files
    summary = pipeline.process(edge_dir, out, settings)
    after = hash_tree(edge_dir)
    _, rows = read_csv(out / "rejected.csv")
    engine = open_catalog(default_url(out))
    try:
        with engine.connect() as conn:
            found = conn.execute(
                sa.select(
                    photo_paths.c.rel_path,
                    photo_paths.c.status,
                    photos.c.status.label("photo_status"),
                    photos.c.width_px,
                    photos.c.height_px,
                ).select_from(photo_paths.outerjoin(photos, photos.c.sha256 == photo_paths.c.sha256))
            ).all()
    finally:
        engine.dispose()
    return EdgeRun(
        inputs=sorted(p.name for p in edge_dir.iterdir() if p.is_file()),
        before=before,
        after=after,
        summary=summary,
        out=out,
        rejected={r["path"]: r["reason"] for r in rows},
        status={r.rel_path: r.photo_status or r.status for r in found},
        widths={r.rel_path: (r.width_px, r.height_px) for r in found if r.width_px},
    )


def test_originals_are_never_modified(edge_run: EdgeRun) -> None:
    assert edge_run.after == edge_run.before


def test_every_file_is_processed_or_rejected_with_a_reason(edge_run: EdgeRun) -> None:
    assert set(edge_run.status) == set(edge_run.inputs)
    for name in edge_run.inputs:
        status = edge_run.status[name]
        if name in edge_run.rejected:
            assert status == "rejected", name
            assert edge_run.rejected[name].strip(), f"{name}: empty reason"
            assert "\n" not in edge_run.rejected[name]
        else:
            assert status == "analyzed", f"{name} is neither processed nor listed in rejected.csv ({status})"
    ingest, export = edge_run.summary.ingest, edge_run.summary.export
    assert ingest.files == len(edge_run.inputs)
    assert export.rejected == len(edge_run.rejected)
    assert export.photos + len(edge_run.rejected) == len(edge_run.inputs)


@pytest.mark.parametrize("name", sorted(MUST_REJECT))
def test_bad_files_are_rejected_naming_the_cause(edge_run: EdgeRun, name: str) -> None:
    assert name in edge_run.rejected, f"{name} was not rejected"
    assert MUST_REJECT[name] in edge_run.rejected[name]


def test_good_files_are_processed(edge_run: EdgeRun) -> None:
    not_processed = sorted(n for n in MUST_PROCESS if edge_run.status.get(n) != "analyzed")
    assert not_processed == []
    assert set(edge_run.rejected) == set(MUST_REJECT), "only the known-bad files are rejected"


def test_sizes_are_recorded_as_displayed(edge_run: EdgeRun) -> None:
    for i in range(9):
        assert edge_run.widths[f"exiforient_Landscape_{i}.jpg"] == (1800, 1200)
    assert edge_run.widths["exiforient_Portrait_6.jpg"] == (1200, 1800)
    assert edge_run.widths["photoprism_rotate_6.png"] == (960, 1395)
    assert edge_run.widths["photoprism_wrong.heic"] == (500, 500)


def test_the_run_completes_every_stage(edge_run: EdgeRun) -> None:
    summary = edge_run.summary
    assert None not in (summary.ingest, summary.analyze, summary.cluster, summary.export), summary
    assert edge_run.summary.analyze.workers == 2
    for name in ("summary.csv", "face_data.csv", "rejected.csv"):
        assert (edge_run.out / name).is_file()
