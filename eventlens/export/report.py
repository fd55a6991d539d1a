"""``OUT/report.html``: the whole grouping on one static page, to check it at a glance without a server.

Every person is a strip of their faces (name, category, photo and face counts, tags and caption when the
catalog has them), then their best photos; then the unassigned faces and the rejected files with their
reasons. Each face is a CSS crop of its photo's thumbnail (the face box ``x1, y1, x2, y2`` sets the
image's size and offset inside a square tile), so no face-crop file is needed; every face and photo links to
its file in the export (``person_001/...``, ``unassigned/...``).

The page is self-contained (styles inline, no script, nothing from the network) apart from the thumbnails
under ``OUT/.eventlens/thumbs`` (:mod:`eventlens.export.report_thumbs`), and every link is relative, so OUT
can be moved or zipped. It is rendered by Jinja2 with autoescaping (file and person names come from users)
and written into the export's staging folder, so it is swapped in with the rest of the export.
"""

from __future__ import annotations

import functools
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import jinja2

from eventlens.catalog.queries import RejectionView
from eventlens.export.report_thumbs import (
    FACE_TILE_PX,
    PHOTO_THUMB_PX,
    THUMBS_DIR,
    ensure_thumbnails,
    face_thumb_px,
)
from eventlens.export.safe_files import write_new_text
from eventlens.imaging.thumbnails import thumbnail_path

REPORT_FILE = "report.html"
#: a face tile shows this multiple of the face box's larger side (hair and chin visible)
FACE_CONTEXT = 1.5


@dataclass(frozen=True)
class ReportPhoto:
    sha256: str
    path: str  # as shown to people: relative to its input root
    local_path: Path  # where the bytes can be read
    width_px: int  # as displayed (EXIF orientation applied)
    height_px: int


@dataclass(frozen=True)
class ReportFace:
    photo: ReportPhoto
    face_index: int
    box: tuple[float, float, float, float]  # x1, y1, x2, y2 in the photo's displayed pixels
    href: str  # the exported file it links to, relative to OUT (not URL-quoted)


@dataclass(frozen=True)
class ReportPerson:
    label: str
    name: str | None
    category: str
    photo_count: int
    face_count: int
    faces: list[ReportFace]  # the representative face first
    best: list[tuple[ReportPhoto, str]]  # best photos, best first, with the exported file they link to
    tags: tuple[str, ...] = ()
    caption: str | None = None


@dataclass(frozen=True)
class ReportInput:
    title: str
    photos: int
    faces: int
    persons: list[ReportPerson]  # shown persons, in label order
    unassigned: list[ReportFace]
    hidden_persons: int
    rejected: list[RejectionView]


@dataclass(frozen=True)
class _Tile:
    """An image of the page: ``src`` None when its thumbnail could not be made (``text`` shows instead)."""

    src: str | None
    alt: str
    href: str
    text: str
    style: str = ""  # the face crop: size and offset of the thumbnail inside the square tile


def face_region(
    box: tuple[float, float, float, float], width_px: int, height_px: int
) -> tuple[float, float, float]:
    """The square of the photo a face tile shows, ``(left, top, side)`` in photo pixels: the face box's
    larger side times :data:`FACE_CONTEXT` (at most the photo's shorter side, never less than the face),
    centred on the face and moved inside the photo where it fits."""
    x1, y1, x2, y2 = box
    face = max(x2 - x1, y2 - y1, 1.0)
    side = max(face, min(face * FACE_CONTEXT, width_px, height_px))
    left, top = (x1 + x2 - side) / 2, (y1 + y2 - side) / 2
    if side <= width_px:
        left = min(max(left, 0.0), width_px - side)
    if side <= height_px:
        top = min(max(top, 0.0), height_px - side)
    return left, top, side


def crop_style(region: tuple[float, float, float], width_px: int) -> str:
    """CSS placing the whole photo's thumbnail inside a square tile so that the tile shows ``region``.

    Percentages of the tile, so any thumbnail size and tile size give the same crop: the image is
    ``width / side`` tiles wide (its height follows from its aspect ratio) and shifted up and left by
    the region's offset in tiles (``top`` of an absolutely placed box is a share of the tile's height,
    equal to its width)."""
    left, top, side = region
    return f"width:{100 * width_px / side:.3f}%;left:{-100 * left / side:.3f}%;top:{-100 * top / side:.3f}%"


def _href(path: str) -> str:
    return quote(path, safe="/")


class _Thumbs:
    def __init__(self, prefix: str, available: frozenset[tuple[str, int]]) -> None:
        self.prefix = Path(prefix)
        self.available = available

    def src(self, sha256: str, size_px: int) -> str | None:
        if (sha256, size_px) not in self.available:
            return None
        return thumbnail_path(self.prefix, sha256, size_px).as_posix()


def _face_size(face: ReportFace) -> int:
    p = face.photo
    return face_thumb_px(face_region(face.box, p.width_px, p.height_px)[2], max(p.width_px, p.height_px))


def _face_tile(face: ReportFace, who: str, thumbs: _Thumbs) -> _Tile:
    p = face.photo
    return _Tile(
        src=thumbs.src(p.sha256, _face_size(face)),
        alt=f"{who} in {p.path}",
        href=_href(face.href),
        text=p.path,
        style=crop_style(face_region(face.box, p.width_px, p.height_px), p.width_px),
    )


def _wanted(data: ReportInput) -> dict[tuple[str, int], Path]:
    wanted: dict[tuple[str, int], Path] = {}
    for face in [f for person in data.persons for f in person.faces] + data.unassigned:
        wanted[(face.photo.sha256, _face_size(face))] = face.photo.local_path
    for person in data.persons:
        for photo, _link in person.best:
            wanted[(photo.sha256, PHOTO_THUMB_PX)] = photo.local_path
    return wanted


def display_name(person: ReportPerson) -> str:
    return f"{person.name} ({person.label})" if person.name else person.label


@functools.cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("eventlens.export", "templates"),
        autoescape=True,  # every value, in text and attributes: file and person names come from users
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render_report(data: ReportInput, thumbs_prefix: str, available: frozenset[tuple[str, int]]) -> str:
    """The HTML of the report; images of ``available`` thumbnails are taken from ``thumbs_prefix`` (the
    thumbnail cache relative to OUT)."""
    thumbs = _Thumbs(thumbs_prefix, available)
    persons = []
    for person in data.persons:
        who = display_name(person)
        persons.append(
            {
                "person": person,
                "heading": who,
                "faces": [_face_tile(f, who, thumbs) for f in person.faces],
                "best": [
                    _Tile(
                        thumbs.src(photo.sha256, PHOTO_THUMB_PX),
                        f"Best photo {rank} of {who}: {photo.path}",
                        _href(href),
                        photo.path,
                    )
                    for rank, (photo, href) in enumerate(person.best, start=1)
                ],
            }
        )
    unassigned = [_face_tile(f, "Unassigned face", thumbs) for f in data.unassigned]
    return (
        _environment()
        .get_template("report.html")
        .render(data=data, persons=persons, unassigned=unassigned, face_tile_px=FACE_TILE_PX)
    )


def write_report(
    folder: Path,
    data: ReportInput,
    work_dir: Path,
    max_megapixels: float,
    executor: Executor | None,
    threads: int,
) -> int:
    """Write ``folder/report.html`` (a new file) after making the thumbnails it shows under
    ``work_dir/thumbs`` (``work_dir`` is ``OUT/.eventlens``); returns how many thumbnails were made."""
    ready = ensure_thumbnails(_wanted(data), work_dir / THUMBS_DIR, max_megapixels, executor, threads)
    html = render_report(data, f"{work_dir.name}/{THUMBS_DIR}", ready.available)
    write_new_text(folder / REPORT_FILE, html)
    return ready.made
