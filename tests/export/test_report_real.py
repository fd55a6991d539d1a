"""``report.html`` of the real ``groups`` event (../shared/data/groups, processed with the real models) in
headless Chromium: every image loads, nothing fails, axe finds nothing serious, and a screenshot
(``test-screenshots/report.png``) is left for a person to look at."""

from __future__ import annotations

from pathlib import Path

import pytest
from report_page import check_in_browser, local_links, read_report, resolve
from testkit import read_csv

from eventlens import pipeline
from eventlens.settings import load_settings

pytestmark = pytest.mark.real_models


@pytest.fixture(scope="module")
def groups_out(shared_data: Path, tmp_path_factory: pytest.TempPathFactory, model_cache_dir: Path) -> Path:
    photos = shared_data / "groups"
    if not photos.is_dir():
        pytest.skip(f"{photos} is absent: real-photo tests skipped")
    out = tmp_path_factory.mktemp("report-groups") / "out"
    pipeline.process(photos, out, load_settings(workers=2, cache_dir=model_cache_dir))
    return out


def test_groups_report_shows_every_person_and_face(groups_out: Path) -> None:
    page = read_report(groups_out)
    _, persons = read_csv(groups_out / "summary.csv")
    _, faces = read_csv(groups_out / "face_data.csv")
    assert len(persons) > 0
    for row in persons:
        assert len(page.images(row["person"], "faces")) == int(row["faces"]), row["person"]
    unassigned = sum(1 for f in faces if not f["person"])
    assert len(page.images("unassigned", "faces")) == unassigned > 0
    for link in local_links(page):
        assert resolve(groups_out, link).exists(), link


def test_groups_report_opens_in_chromium_with_no_missing_image(groups_out: Path, browser: object) -> None:
    result = check_in_browser(browser, groups_out, screenshot_name="report")
    assert len(result.images) == len(read_report(groups_out).images()) > 0
    broken = [i["src"] for i in result.images if not (i["complete"] and i["naturalWidth"] > 0)]
    assert broken == []
    assert result.failed == [] and result.console_errors == []
    assert result.serious_axe == [], [v["id"] for v in result.serious_axe]
    assert result.screenshot is not None and result.screenshot.stat().st_size > 0
