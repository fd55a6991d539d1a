"""``OUT/report.html`` on the standard synthetic event (fake backend, every identity known): every person's
faces are crops of the right colour square, counts match summary.csv, links stay inside OUT, thumbnails
are made once, hostile names are text, and the page loads whole in Chromium."""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image
from report_page import check_in_browser, local_links, read_report, resolve, tile_centre
from testkit import EVENT_REJECTED, A, B, C, D, SyntheticEvent, encode, identity_at, photo_array, read_csv

from eventlens import pipeline
from eventlens.backends.fake import identity_of_color
from eventlens.catalog.queries import RejectionView
from eventlens.cli import next_step
from eventlens.curate import corrections
from eventlens.errors import InputError
from eventlens.export.report import (
    FACE_CONTEXT,
    ReportFace,
    ReportInput,
    ReportPerson,
    ReportPhoto,
    crop_style,
    face_region,
    render_report,
)
from eventlens.export.report_thumbs import FACE_TILE_PX, PHOTO_THUMB_PX, ensure_thumbnails, face_thumb_px
from eventlens.imaging.thumbnails import thumbnail_path
from eventlens.settings import Settings
from eventlens.summaries import ExportSummary

IDENTITY = {"person_001": A, "person_002": B, "person_003": C}


def _export(out: Path, settings: Settings) -> ExportSummary:
    event = pipeline.Event.open(out, settings, create=False, command="export")
    try:
        with event.run("export") as summary:
            return pipeline.run_export(event, summary)
    finally:
        event.close()


def _thumbs(out: Path) -> dict[str, int]:
    return {
        p.relative_to(out).as_posix(): p.stat().st_mtime_ns
        for p in (out / ".eventlens" / "thumbs").rglob("*")
        if p.is_file()
    }


@pytest.fixture
def processed(event: SyntheticEvent, tmp_path: Path, make_settings: Callable[..., Settings]) -> Path:
    out = tmp_path / "out"
    pipeline.process(event.root, out, make_settings())
    return out


def test_every_person_is_a_strip_of_their_own_faces_with_counts_and_best_photos(processed: Path) -> None:
    out = processed
    page = read_report(out)
    _, rows = read_csv(out / "summary.csv")
    assert [r["person"] for r in rows] == list(IDENTITY)
    for row in rows:
        label = row["person"]
        faces = page.images(label, "faces")
        assert len(faces) == int(row["faces"]), label
        text = " ".join(page.text[label].split())
        assert f"{row['photos']} photos" in text and f"{row['faces']} face" in text
        assert row["category"] in text
        meta = json.loads((out / label / "metadata.json").read_text(encoding="utf-8"))
        assert meta["tags"] and all(tag in text for tag in meta["tags"]), (meta["tags"], text)
        assert " ".join(meta["caption"].split()) in text
        for img in faces:
            assert label in img.attrs["alt"]
            thumb = resolve(out, img.attrs["src"])
            with Image.open(thumb) as im:
                x, y = tile_centre(img.attrs["style"], im.size)
                colour = im.convert("RGB").getpixel((int(x), int(y)))
            assert identity_of_color(colour) == IDENTITY[label], (label, img.attrs["alt"])
        best = page.images(label, "photos")
        ranked = sorted(p.name for p in (out / label / "best").iterdir())
        assert len(best) == len(ranked) > 0
        # each best photo links to that photo in the person's folder, in rank order
        linked = [resolve(out, b.href).name for b in best if b.href]
        assert linked == [name.split("_", 1)[1] for name in ranked]


def test_unassigned_faces_and_rejected_files_with_reasons(processed: Path, event: SyntheticEvent) -> None:
    out = processed
    page = read_report(out)
    unassigned = page.images("unassigned", "faces")
    assert len(unassigned) == 1
    photo = resolve(out, unassigned[0].href or "")
    assert photo.parent.name == "unassigned"
    meta = json.loads((out / "unassigned" / "metadata.json").read_text(encoding="utf-8"))
    (entry,) = meta["photos"]
    assert identity_at(event.root / entry["photo"], entry["faces"][0]["box"]) == D
    text = page.text["rejected"]
    for path, word in EVENT_REJECTED.items():
        row = next(line for line in text.splitlines() if path in line)  # one table row per line
        assert word in row, (path, row)


def test_links_are_relative_and_resolve_after_the_folder_moves(processed: Path, tmp_path: Path) -> None:
    moved = tmp_path / "elsewhere" / "event copy"
    shutil.copytree(processed, moved, symlinks=True)
    shutil.rmtree(processed)
    page = read_report(moved)
    links = local_links(page)
    assert len(links) > 20
    for link in links:
        assert resolve(moved, link).exists(), link
    assert all(e.attrs.get("src", "").startswith(".eventlens/thumbs/") for e in page.images())


def test_thumbnails_are_made_once_per_photo_and_size(
    event: SyntheticEvent, tmp_path: Path, make_settings: Callable[..., Settings]
) -> None:
    out, settings = tmp_path / "out", make_settings()
    first = pipeline.process(event.root, out, settings).export
    made = _thumbs(out)
    assert first is not None and first.report_thumbnails == len(made) > 0
    again = _export(out, settings)
    assert again.report_thumbnails == 0
    assert _thumbs(out) == made, "no thumbnail of an unchanged photo is written again"

    new = event.root / "p09.png"
    new.write_bytes(encode(photo_array([A, B], 9), ".png"))
    sha = hashlib.sha256(new.read_bytes()).hexdigest()
    later = pipeline.process(event.root, out, settings).export
    now = _thumbs(out)
    added = set(now) - set(made)
    assert later is not None and later.report_thumbnails == len(added) > 0
    assert all(sha in name for name in added), "only the new photo's thumbnails are made"
    assert {k: now[k] for k in made} == made


def test_process_makes_the_thumbnails_on_its_worker_processes(
    event: SyntheticEvent,
    tmp_path: Path,
    make_settings: Callable[..., Settings],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def not_here(*args: object, **kwargs: object) -> None:
        raise AssertionError("a thumbnail was made in the main process")

    # spawned workers import the real function; only this process has the stand-in
    monkeypatch.setattr("eventlens.export.report_thumbs.ensure_thumbnail", not_here)
    out = tmp_path / "out"
    summary = pipeline.process(event.root, out, make_settings(workers=2)).export
    assert summary is not None and summary.report_thumbnails == len(_thumbs(out)) > 0
    assert len(read_report(out).images()) > 0


def test_report_is_part_of_the_swapped_export_and_can_be_turned_off(
    event: SyntheticEvent, tmp_path: Path, make_settings: Callable[..., Settings]
) -> None:
    out = tmp_path / "out"
    off = pipeline.process(event.root, out, make_settings(report_html=False)).export
    assert off is not None and not off.report_html and off.report_thumbnails == 0
    assert not (out / "report.html").exists() and not (out / ".eventlens" / "thumbs").exists()
    on = _export(out, make_settings())
    assert on.report_html and on.report_thumbnails > 0
    assert "report.html" in next_step(out, on.persons, on.report_html)
    manifest = json.loads((out / ".eventlens" / "export-manifest.json").read_text(encoding="utf-8"))
    assert "report.html" in manifest and (out / "report.html").is_file()
    _export(out, make_settings(report_html=False))
    assert not (out / "report.html").exists(), "a later export without the report removes the old one"


def test_a_report_html_eventlens_did_not_write_is_never_replaced(
    event: SyntheticEvent, tmp_path: Path, make_settings: Callable[..., Settings]
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "report.html").write_text("mine", encoding="utf-8")
    with pytest.raises(InputError, match="report.html"):
        pipeline.process(event.root, out, make_settings())
    assert (out / "report.html").read_text(encoding="utf-8") == "mine"


HOSTILE_PHOTO = "<script>alert(1)</script>.png"  # a folder "<script>alert(1)<" and a file "script>.png"
QUOTE_PHOTO = '" onerror="alert(2).png'
HOSTILE_NAME = "<img src=x onerror=alert(3)>"
HOSTILE_REJECTED = "<svg onload=alert(4)>.txt"


@pytest.fixture
def hostile(tmp_path: Path, make_settings: Callable[..., Settings]) -> Path:
    root, out = tmp_path / "photos", tmp_path / "out"
    for i, (rel, ids) in enumerate([(HOSTILE_PHOTO, [A, B]), (QUOTE_PHOTO, [A, B]), ("p.png", [A])], 1):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(encode(photo_array(ids, i), ".png"))
    (root / HOSTILE_REJECTED).write_text("not a photo", encoding="utf-8")
    settings = make_settings()
    pipeline.process(root, out, settings)
    event = pipeline.Event.open(out, settings, create=False)
    try:
        corrections.rename(event.engine, "person_001", HOSTILE_NAME)
    finally:
        event.close()
    _export(out, settings)
    return out


def test_hostile_file_and_person_names_are_text(hostile: Path) -> None:
    html = (hostile / "report.html").read_text(encoding="utf-8")
    for raw in ("<script", "<svg", "<img src=x", 'onerror="alert'):
        assert raw not in html, raw
    page = read_report(hostile)
    assert {e.tag for e in page.elements} <= {
        *(
            "html",
            "head",
            "meta",
            "link",
            "title",
            "style",
            "body",
            "header",
            "main",
            "footer",
            "nav",
            "section",
        ),
        *("article", "div", "h1", "h2", "h3", "h4", "p", "span", "a", "img", "ul", "li", "code"),
        *("table", "caption", "thead", "tbody", "tr", "th", "td"),
    }
    assert not [name for e in page.elements for name in e.attrs if name.startswith("on")]
    # the names are shown as they are, as text
    assert HOSTILE_NAME in page.text["person_001"]
    alts = [img.attrs["alt"] for img in page.images("person_001")]
    assert any(HOSTILE_PHOTO in alt for alt in alts) and any(QUOTE_PHOTO in alt for alt in alts)
    assert HOSTILE_REJECTED in page.text["rejected"]
    for link in local_links(page):
        assert resolve(hostile, link).exists(), link


def test_hostile_names_run_nothing_in_the_browser(hostile: Path, browser: object) -> None:
    result = check_in_browser(browser, hostile)
    assert result.dialogs == []
    assert HOSTILE_PHOTO not in "".join(i["src"] for i in result.images)
    assert HOSTILE_NAME in result.text and HOSTILE_REJECTED in result.text
    assert result.failed == [] and all(i["naturalWidth"] > 0 for i in result.images)


def test_synthetic_report_loads_whole_in_chromium(processed: Path, browser: object) -> None:
    result = check_in_browser(browser, processed)
    page = read_report(processed)
    assert len(result.images) == len(page.images()) > 0
    assert [i for i in result.images if not (i["complete"] and i["naturalWidth"] > 0)] == []
    assert result.failed == [] and result.console_errors == []
    assert result.serious_axe == []


# --- the parts --------------------------------------------------------------------------------------


def test_face_region_is_the_face_with_context_moved_inside_the_photo() -> None:
    assert face_region((100, 100, 140, 150), 1000, 800) == pytest.approx((82.5, 87.5, 75.0))
    left, top, side = face_region((0, 0, 40, 40), 1000, 800)  # in the corner: moved in, not cut
    assert (left, top, side) == (0.0, 0.0, 40 * FACE_CONTEXT)
    left, top, side = face_region((950, 760, 1000, 800), 1000, 800)
    assert left + side == 1000 and top + side == 800
    # a face as large as the photo's shorter side: no context beyond the photo, never less than the face
    assert face_region((0, 0, 300, 300), 400, 300)[2] == 300
    assert face_region((0, 0, 500, 300), 400, 300)[2] == 500


def test_crop_style_scales_and_shifts_the_thumbnail_to_the_region() -> None:
    style = crop_style((82.5, 87.5, 75.0), 1000)
    centre = tile_centre(style, (500, 400))  # any thumbnail size: percentages of the tile
    assert centre == pytest.approx((60.0, 62.5), abs=1e-3)  # the face's centre (120, 125) at half size


def test_face_thumbnail_is_the_smallest_that_gives_the_tile_its_pixels() -> None:
    assert face_thumb_px(1500, 4000) == PHOTO_THUMB_PX  # a large face: 96 px at 256
    assert face_thumb_px(84, 320) == 512  # 67 px at 256; the whole photo fits 512: never larger
    assert face_thumb_px(FACE_TILE_PX * 4000 / 1024, 4000) == 1024
    assert face_thumb_px(30, 4000) == 1024  # tiny: the largest there is


def test_render_names_a_photo_without_thumbnail_and_shows_tags_as_text(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    good, bad = tmp_path / "good.png", tmp_path / "bad.jpg"
    good.write_bytes(encode(photo_array([A], 1), ".png"))
    bad.write_bytes(b"\xff\xd8\xff\xe0" + b"\0" * 64)  # changed since it was analysed
    shas = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in (good, bad)}
    cache = tmp_path / "thumbs"
    with caplog.at_level(logging.WARNING):
        ready = ensure_thumbnails(
            {(shas[good], 256): good, (shas[bad], 256): bad}, cache, 50.0, executor=None, threads=2
        )
    assert ready.available == {(shas[good], 256)} and ready.made == 1
    assert thumbnail_path(cache, shas[good], 256).is_file() and "bad.jpg" in caplog.text

    photos = [ReportPhoto(shas[p], p.name, p, 320, 240) for p in (good, bad)]
    faces = [ReportFace(photo, 0, (16.0, 40.0, 72.0, 96.0), f"person_001/{photo.path}") for photo in photos]
    data = ReportInput(
        "eventlens report",
        2,
        2,
        [
            ReportPerson(
                "person_001",
                "Ana",
                "main",
                2,
                2,
                faces,
                [(photos[0], "person_001/good.png")],
                tags=("smiling", "<b>group</b>"),
                caption="Ana & friends",
            )
        ],
        [],
        0,
        [RejectionView("x.txt", "not an image")],
    )
    page_html = render_report(data, ".eventlens/thumbs", frozenset({(shas[good], 256), (shas[good], 512)}))
    assert page_html.count("<img ") == 2  # the good face and the good best photo
    assert "Ana (person_001) in bad.jpg (no thumbnail)" in page_html
    # tags and caption (when the catalog has them) are shown, as text
    assert "<li>smiling</li>" in page_html and "<li>&lt;b&gt;group&lt;/b&gt;</li>" in page_html
    assert "Ana &amp; friends" in page_html
