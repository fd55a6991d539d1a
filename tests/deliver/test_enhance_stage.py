"""``eventlens enhance`` on synthetic events analysed by the fake backend: which files it writes, that
originals are never touched, unchanged photos are byte copies, EXIF orientation and colour profiles."""

from __future__ import annotations

import hashlib
import io
import json
import os
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image, ImageCms
from testkit import B, E, hash_tree, photo_array, read_csv

from eventlens import pipeline
from eventlens.backends.fake import draw_face
from eventlens.cli import main
from eventlens.deliver.files import copy_unchanged, srgb_profile_bytes
from eventlens.errors import InputError

_DATETIME_ORIGINAL = 0x9003
_EXIF_IFD = 0x8769


def _good_photo() -> np.ndarray:
    """Well exposed: a grey ramp (mean ~0.5, full contrast) with two faces of mid brightness."""
    ramp = np.linspace(20, 235, 320, dtype=np.float64)
    rgb = np.repeat(np.repeat(ramp[None, :, None], 240, axis=0), 3, axis=2).astype(np.uint8)
    draw_face(rgb, B, (40, 60, 100, 120))
    draw_face(rgb, E, (200, 60, 260, 120))
    return rgb


def _save(path: Path, rgb: np.ndarray, **options: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rgb).save(path, "JPEG", quality=95, **options)
    return path


@pytest.fixture
def processed(tmp_path: Path, make_settings) -> tuple[Path, Path, dict[str, str]]:
    root = tmp_path / "photos"
    _save(root / "good.jpg", _good_photo())
    # under-exposed: everything at half its level (the faces become other, darker fake identities)
    _save(root / "dark.jpg", photo_array([B, E], 1) // 2)
    _save(root / "sub" / "dark2.jpg", photo_array([E, B], 2) // 2)
    # stored rotated: displayed 240 wide, 320 tall; EXIF orientation 6 and a capture time
    rotated = np.ascontiguousarray(np.rot90(photo_array([B], 3, size=(240, 320)), 1))
    exif = Image.Exif()
    exif[0x0112] = 6
    exif.get_ifd(_EXIF_IFD)[_DATETIME_ORIGINAL] = "2024:06:15 14:00:00"
    _save(root / "rotated.jpg", rotated, exif=exif.tobytes())
    _save(root / "profiled.jpg", photo_array([E], 4), icc_profile=srgb_profile_bytes())
    out = tmp_path / "out"
    pipeline.process(root, out, make_settings())
    env = {
        "EVENTLENS_DETECTOR": "fake",
        "EVENTLENS_LANDMARKER": "fake",
        "EVENTLENS_EMBEDDER": "fake",
        "EVENTLENS_EYE_MODEL": "fake",
        "EVENTLENS_CACHE_DIR": str(make_settings().cache_dir),
    }
    return root, out, env


def _enhance(out: Path, env: dict[str, str], *args: str) -> dict:
    result = CliRunner().invoke(
        main, ["enhance", "--out", str(out), "--workers", "1", "--json", *args], env=env
    )
    assert result.exit_code == 0, f"{result.output}\n{result.exception!r}"
    return json.loads(result.stdout)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_enhance_writes_new_files_and_never_touches_originals(processed) -> None:
    root, out, env = processed
    before = hash_tree(root)
    summary = _enhance(out, env, "--photos", "all", "--crops", "1:1,9:16")["enhance"]
    assert hash_tree(root) == before, "originals changed"
    assert summary["photos"] == 5 and summary["failed"] == 0
    meta = json.loads((out / "enhanced" / "metadata.json").read_text(encoding="utf-8"))
    by_photo = {e["photo"]: e for e in meta["photos"]}
    assert set(by_photo) == {"good.jpg", "dark.jpg", "sub/dark2.jpg", "rotated.jpg", "profiled.jpg"}
    for rel in by_photo:
        assert (out / "enhanced" / rel).is_file()
        for ratio in ("1x1", "9x16"):
            assert (out / "crops" / ratio / rel).is_file()
    # in the band: the very bytes of the original
    good = by_photo["good.jpg"]
    assert good["status"] == "unchanged" and "corrections" not in good
    assert _sha(out / "enhanced" / "good.jpg") == _sha(root / "good.jpg")
    # too dark: brighter, and the metadata says how
    dark = by_photo["dark.jpg"]
    assert dark["status"] == "enhanced" and "face brightness" in dark["reason"], dark["reason"]
    assert dark["after"]["face_brightness"] > dark["before"]["face_brightness"]
    assert dark["after"]["brightness"] > dark["before"]["brightness"]
    c = dark["corrections"]
    assert c["exposure_gain"] > 1 or c["gamma"] > 1
    assert len(c["white_balance"]) == 3 and {"denoise", "sharpen", "contrast"} <= set(c)
    assert _sha(out / "enhanced" / "dark.jpg") != _sha(root / "dark.jpg")
    # crops: every chosen face whole, every crop listed
    crops = json.loads((out / "crops" / "metadata.json").read_text(encoding="utf-8"))
    for photo in crops["photos"]:
        for crop in photo["crops"]:
            assert crop["faces_cut"] == []
            assert set(crop["faces_inside"]) == set(crop["faces_chosen"]) or crop["fallback"]
            with Image.open(out / crop["file"]) as im:
                assert im.size == (crop["box"][2] - crop["box"][0], crop["box"][3] - crop["box"][1])
    portraits = json.loads((out / "portraits" / "metadata.json").read_text(encoding="utf-8"))["portraits"]
    _, persons = read_csv(out / "summary.csv")
    assert {p["person"] for p in portraits} == {r["person"] for r in persons}
    assert all((out / p["file"]).is_file() for p in portraits)


def test_orientation_is_applied_to_the_pixels_and_the_exif_kept(processed) -> None:
    root, out, env = processed
    _enhance(out, env, "--photos", "all")
    with Image.open(out / "enhanced" / "rotated.jpg") as im:
        assert im.size == (240, 320), "pixels are turned upright"
        exif = im.getexif()
        assert exif.get(0x0112) == 1
        assert exif.get_ifd(_EXIF_IFD).get(_DATETIME_ORIGINAL) == "2024:06:15 14:00:00"
        rgb = np.asarray(im.convert("RGB"))
    # the face is where the catalog (displayed pixels) says: painted at slot 0 of the upright photo
    x1, y1, x2, y2 = 16 + 6, 40 + 9, 16 + 6 + 56, 40 + 9 + 56
    centre = rgb[(y1 + y2) // 2, (x1 + x2) // 2].astype(int)
    assert centre[1] > 200 and centre[0] < 60 and centre[2] < 60, centre  # green: identity B


def test_colour_profile_converted_to_srgb(processed) -> None:
    _, out, env = processed
    meta = _enhance(out, env, "--photos", "all")
    del meta
    entries = json.loads((out / "enhanced" / "metadata.json").read_text(encoding="utf-8"))["photos"]
    profiled = next(e for e in entries if e["photo"] == "profiled.jpg")
    assert profiled["icc"] == "converted to sRGB"
    with Image.open(out / "enhanced" / "profiled.jpg") as im:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(im.info["icc_profile"]))
        assert "sRGB" in ImageCms.getProfileDescription(profile)


def test_labels_choose_whose_faces_crops_keep(processed) -> None:
    _, out, env = processed
    (out / "cluster_labels.json").write_text(json.dumps({"person_002": "main"}), encoding="utf-8")
    _enhance(out, env, "--photos", "all", "--crops", "4:5")
    crops = json.loads((out / "crops" / "metadata.json").read_text(encoding="utf-8"))
    face_data = (out / "face_data.csv").read_text(encoding="utf-8").splitlines()[1:]
    person_of = {(r.split(",")[0], int(r.split(",")[2])): r.split(",")[8] for r in face_data}
    for photo in crops["photos"]:
        persons = {person_of[(photo["photo"], i)] for i in photo["crops"][0]["faces_chosen"]}
        if "person_002" in {p for (ph, _), p in person_of.items() if ph == photo["photo"]}:
            assert persons == {"person_002"}, photo


def test_bad_crop_ratio_is_one_clear_error(processed) -> None:
    _, out, env = processed
    result = CliRunner().invoke(main, ["enhance", "--out", str(out), "--crops", "4x5"], env=env)
    assert result.exit_code == 2 and "--crops" in result.stderr and "4:5" in result.stderr


def test_a_target_that_is_the_original_is_refused(tmp_path: Path) -> None:
    original = _save(tmp_path / "a.jpg", _good_photo())
    link = tmp_path / "enhanced" / "a.jpg"
    link.parent.mkdir()
    os.link(original, link)
    digest = _sha(original)
    with pytest.raises(InputError, match="original"):
        copy_unchanged(original, link)
    assert _sha(original) == digest
    assert [p.name for p in link.parent.iterdir()] == ["a.jpg"], "no temporary file left behind"
