"""Enhancement on real photos (catalogs of the real pipeline on ../shared/data/groups and identities).

* a photo whose exposure (photo and faces) and contrast are in the target band is copied byte for byte;
* copies made too dark or too bright (gain and gamma changes) come back closer to the band;
* the focus measure of eventlens.attributes.image_quality never drops by more than noise.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from eventlens.attributes.image_quality import photo_quality
from eventlens.catalog.db import default_url, open_catalog
from eventlens.deliver import correction
from eventlens.deliver.files import read_photo
from eventlens.deliver.stage import chosen_faces, enhance, select_photos
from eventlens.deliver.worker import EnhanceJob, run_job
from eventlens.settings import DeliverSettings, load_settings

pytestmark = pytest.mark.real_models
log = logging.getLogger(__name__)

#: the focus measure (0..1) may move by this much from re-encoding alone
SHARPNESS_NOISE = 0.02
#: (name, change of values 0..1): under- and over-exposed versions of a photo
CHANGES = {
    "gain_0.45": lambda v: v * 0.45,
    "gamma_0.5": lambda v: v ** (1 / 0.5),
    "gain_1.8": lambda v: np.clip(v * 1.8, 0, 1),
    "gamma_2.2": lambda v: v ** (1 / 2.2),
}


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _measure(path: Path, boxes: list[tuple[float, float, float, float]]) -> correction.Measures:
    return correction.measure(read_photo(path, 150).image, boxes)[0]


def _photos_and_faces(
    out: Path, choice: str
) -> list[tuple[Path, str, list[tuple[float, float, float, float]]]]:
    """(original, rel_path, boxes of the faces enhance weighs) of the chosen photos of an event."""
    engine = open_catalog(default_url(out))
    try:
        with engine.connect() as conn:
            all_photos, chosen, _ = select_photos(conn, load_settings(), choice)  # type: ignore[arg-type]
    finally:
        engine.dispose()
    result = []
    for sha in chosen:
        p = all_photos[sha]
        idx, _ = chosen_faces(p.faces)
        result.append((p.local_path, p.rel_path, [p.faces[i].box for i in idx]))
    return result


@pytest.mark.parametrize(("event_name", "choice"), [("groups", "all"), ("identities", "best")])
def test_photos_in_the_band_are_unchanged_and_none_gets_worse(
    event_name: str, choice: str, request: pytest.FixtureRequest
) -> None:
    out: Path = request.getfixturevalue(f"{event_name}_event")
    settings = load_settings(workers=2)
    s = settings.deliver
    engine = open_catalog(default_url(out))
    try:
        summary = enhance(engine, out, settings, choice, workers=2)  # type: ignore[arg-type]
    finally:
        engine.dispose()
    meta = json.loads((out / "enhanced" / "metadata.json").read_text(encoding="utf-8"))
    by_photo = {e["photo"]: e for e in meta["photos"]}
    photos = _photos_and_faces(out, choice)
    assert summary.failed == 0 and summary.photos == len(photos) > 0
    in_band = 0
    for original, rel, boxes in photos:
        entry = by_photo[rel]
        copy = out / "enhanced" / entry["file"]
        before = _measure(original, boxes)
        if correction.in_band(before, s):
            in_band += 1
            assert entry["status"] == "unchanged", rel
            assert _sha(copy) == _sha(original), f"{rel} is in the band but was re-encoded"
            continue
        after = _measure(copy, boxes)
        assert correction.exposure_error(after, s) <= correction.exposure_error(before, s) + 1e-3, rel
        if entry["status"] == "enhanced":
            assert set(entry["corrections"]) >= {"exposure_gain", "gamma", "white_balance", "contrast"}
            assert entry["after"] and entry["reason"].startswith("outside the target band")
        sharp_before = photo_quality(read_photo(original, 150).image).sharpness
        sharp_after = photo_quality(read_photo(copy, 150).image).sharpness
        assert sharp_after >= sharp_before - SHARPNESS_NOISE, rel
    log.info("%s: %d photos, %d in the band (byte copies), %s", event_name, len(photos), in_band, summary)
    assert in_band >= len(photos) // 2, "most real photos are already well exposed"
    assert summary.unchanged >= in_band


def test_darkened_and_brightened_copies_come_back_to_the_band(
    groups_event: Path, identities_event: Path, tmp_path: Path
) -> None:
    s = DeliverSettings()
    photos = _photos_and_faces(groups_event, "all")[::2] + _photos_and_faces(identities_event, "best")[::2]
    assert len(photos) >= 30
    photos = photos[:50]
    outside = improved = 0
    worst_sharpness_drop = 0.0
    names = list(CHANGES)
    for k, (original, _rel, boxes) in enumerate(photos):
        rgb = np.asarray(read_photo(original, 150).image, dtype=np.float64) / 255.0
        for name in (names[k % 2], names[2 + k % 2]):  # one darker and one brighter copy per photo
            changed = np.clip(np.round(CHANGES[name](rgb) * 255), 0, 255).astype(np.uint8)
            src = tmp_path / f"{k:03d}_{name}.jpg"
            Image.fromarray(changed).save(src, quality=95)
            dst = tmp_path / "enhanced" / src.name
            result = run_job(EnhanceJob(f"{k}", src, tuple(boxes), dst, (), s.model_dump()))
            assert result["status"] != "failed", result
            before, after = _measure(src, boxes), _measure(dst, boxes)
            if correction.exposure_error(before, s) > 0:
                outside += 1
                improved += correction.exposure_error(after, s) < correction.exposure_error(before, s)
            drop = before.sharpness - after.sharpness
            worst_sharpness_drop = max(worst_sharpness_drop, drop)
    log.info(
        "%d of %d darkened/brightened copies outside the band improved; worst focus drop %.4f",
        improved,
        outside,
        worst_sharpness_drop,
    )
    assert outside >= 40, f"only {outside} of {2 * len(photos)} changed copies left the band"
    assert improved >= 0.9 * outside, f"exposure error shrank in {improved} of {outside} copies"
    assert worst_sharpness_drop <= SHARPNESS_NOISE, worst_sharpness_drop
