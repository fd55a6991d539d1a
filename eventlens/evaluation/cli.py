"""``eventlens eval``: clustering and detection quality on labelled data, as markdown tables or JSON.

Parts, each skipped with a message when its folder is missing:

* ``DATA/identities/<label>/<file>``: the pipeline runs into a work folder, then clustering is scored
  (pairwise and BCubed); ``--sweep`` re-clusters the same embeddings for a threshold x ``min_faces`` grid.
* ``DATA/groups`` with ``annotations/``: detection recall per face-size bucket for each ``--min-face-px``.

Importing this module is cheap: the evaluation code (numpy, models) is imported when the command runs.
Tables go to stdout; progress and skip messages to stderr.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from eventlens.cli_common import fail_cleanly

if TYPE_CHECKING:
    from eventlens.settings import Settings

#: a JSON-able result of one part, and its markdown
Part = tuple[object, str]

DEFAULT_DATA = Path("../shared/data")
#: the small-face detection setting evaluated next to the configured one
SMALL_FACE_PX = 16


@contextmanager
def _work_folder(work_dir: Path | None) -> Iterator[Path]:
    """``work_dir`` as given (kept: re-runs reuse its analysis), or a temporary folder removed afterwards."""
    if work_dir is not None:
        work_dir.mkdir(parents=True, exist_ok=True)
        yield work_dir
        return
    with tempfile.TemporaryDirectory(prefix="eventlens-eval-") as tmp:
        yield Path(tmp)


def _skip(part: str, reason: str) -> dict[str, str]:
    click.echo(f"eval: skipping {part}: {reason}", err=True)
    return {"skipped": reason}


def _identities_part(data_dir: Path, work_dir: Path | None, sweep: bool, settings: Settings) -> Part:
    """(JSON-able result, markdown) of the clustering evaluation."""
    from eventlens.evaluation import identities, report  # noqa: PLC0415 - heavy: only when run
    from eventlens.progress import TerminalProgress  # noqa: PLC0415

    root = data_dir / "identities"
    if not root.is_dir():
        reason = f"no labelled folder {root}"
        return _skip("clustering", reason), f"_Clustering skipped: {reason}._"
    grid = (identities.DEFAULT_SWEEP_THRESHOLDS, identities.DEFAULT_SWEEP_MIN_FACES) if sweep else None
    with _work_folder(work_dir) as work:
        result = identities.evaluate_identities(root, work / "identities", settings, grid, TerminalProgress())
    return result.as_dict(), report.format_identities(result)


def _detection_part(
    data_dir: Path,
    min_face_px: list[int],
    settings_for: Callable[[int], Settings],
    upscale: float = 1.0,
    work_dir: Path | None = None,
) -> Part:
    """(JSON-able result, markdown) of the detection evaluation, one run per ``min_face_px``; with
    ``upscale`` > 1, on copies of the photos enlarged that many times (stand-ins for 12 MP photos)."""
    from eventlens.evaluation import detection, report  # noqa: PLC0415 - heavy: only when run
    from eventlens.evaluation.annotations import load_annotations  # noqa: PLC0415

    groups = data_dir / "groups"
    if not (groups / "annotations").is_dir():
        reason = f"no annotations folder {groups / 'annotations'}"
        return _skip("detection", reason), f"_Detection skipped: {reason}._"
    annotated = load_annotations(groups)
    if not annotated:
        reason = f"no annotated photo found in {groups}"
        return _skip("detection", reason), f"_Detection skipped: {reason}._"
    with _work_folder(work_dir) as work:
        if upscale > 1:
            copies = work / f"groups-x{upscale:g}"
            annotated = detection.upscaled_copies(groups, annotated, upscale, copies)
            groups = copies
        results = [
            detection.evaluate_detection_in_worker(groups, settings_for(px), annotated) for px in min_face_px
        ]
    title = f"\n\nPhotos and boxes enlarged {upscale:g}x (Lanczos, JPEG q90)." if upscale > 1 else ""
    return [r.as_dict() for r in results], report.format_detection(results) + title


ALL_PARTS = ("identities", "detection", "attributes")


def _attributes_part(
    data_dir: Path, work_dir: Path | None, labels: Path, settings: Settings, split: str = "test"
) -> Part:
    """(JSON-able result, markdown) of the face-attribute evaluation against the hand labels."""
    from eventlens.evaluation import attributes  # noqa: PLC0415 - heavy: only when run
    from eventlens.progress import TerminalProgress  # noqa: PLC0415

    if not labels.is_file():
        reason = f"no labels file {labels}"
        return _skip("attributes", reason), f"_Attributes skipped: {reason}._"
    datasets = {row["dataset"] for row in attributes.read_labels(labels)}
    if not any((data_dir / d).is_dir() for d in datasets):
        reason = f"none of {', '.join(sorted(datasets))} is under {data_dir}"
        return _skip("attributes", reason), f"_Attributes skipped: {reason}._"
    with _work_folder(work_dir) as work:
        result = attributes.evaluate_attributes(
            labels, data_dir, work / f"attributes-{split}", settings, TerminalProgress(), split=split
        )
    return result.as_dict(), attributes.format_attributes(result, settings)


@click.command("eval")
@click.option(
    "--data",
    "data_dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=DEFAULT_DATA,
    show_default=True,
    help="Folder with identities/<label>/<file> and groups/annotations/.",
)
@click.option(
    "--work",
    "work_dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="Work folder of the evaluation's own catalog; reused by re-runs, which then skip analysis. "
    "Default: a temporary folder, removed afterwards.",
)
@click.option(
    "--sweep",
    is_flag=True,
    help="Also re-cluster the embeddings for cluster_max_distance 0.45..0.62 x min_faces 1,2,3.",
)
@click.option(
    "--min-face-px",
    "min_face_px",
    type=int,
    multiple=True,
    help=f"Detection setting to evaluate, repeatable. Default: the configured one and {SMALL_FACE_PX}.",
)
@click.option(
    "--upscale",
    type=float,
    default=1.0,
    show_default=True,
    help="Evaluate detection on copies of the group photos enlarged this many times (4: about 12 MP), "
    "where min_face_px decides the detection resolution.",
)
@click.option(
    "--attribute-labels",
    "labels_file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Hand labels of eyes/smile/mouth (default: tests/data/face_attributes/labels.csv of the checkout).",
)
@click.option(
    "--attribute-split",
    "attribute_split",
    type=click.Choice(["test", "dev", "all"]),
    default="test",
    show_default=True,
    help="Part of the attribute labels to report on: `test` (never used to choose a model or a "
    "threshold), `dev` (used to choose them) or `all`.",
)
@click.option(
    "--only",
    "parts",
    type=click.Choice(["identities", "detection", "attributes"]),
    multiple=True,
    help="Run only these parts (repeatable). Default: all three.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of markdown tables.")
@click.option("--workers", type=int, help="Analysis worker processes (default: one per core).")
@click.option(
    "--config",
    "config_file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="YAML settings file (default: ./eventlens.yaml if present).",
)
def eval_cmd(
    data_dir: Path,
    work_dir: Path | None,
    sweep: bool,
    min_face_px: tuple[int, ...],
    upscale: float,
    labels_file: Path | None,
    attribute_split: str,
    parts: tuple[str, ...],
    as_json: bool,
    workers: int | None,
    config_file: Path | None,
) -> None:
    """Score clustering (pairwise, BCubed) on DATA/identities, detection recall on DATA/groups, and the
    eyes/smile/mouth decisions against hand labels."""
    from eventlens.evaluation.attributes import DEFAULT_LABELS  # noqa: PLC0415

    fail_cleanly(run_eval)(
        data_dir,
        work_dir,
        sweep,
        list(min_face_px),
        as_json,
        workers,
        config_file,
        labels_file or DEFAULT_LABELS,
        upscale,
        attribute_split,
        parts or ALL_PARTS,
    )


def run_eval(
    data_dir: Path,
    work_dir: Path | None,
    sweep: bool,
    min_face_px: list[int],
    as_json: bool,
    workers: int | None,
    config_file: Path | None,
    labels_file: Path,
    upscale: float = 1.0,
    attribute_split: str = "test",
    parts: tuple[str, ...] = ("identities", "detection", "attributes"),
) -> None:
    """The body of ``eventlens eval`` (see :func:`eval_cmd`); prints the result to stdout."""
    from eventlens.errors import InputError  # noqa: PLC0415
    from eventlens.settings import load_settings  # noqa: PLC0415

    if not (data_dir / "identities").is_dir() and not (data_dir / "groups" / "annotations").is_dir():
        raise InputError(f"{data_dir} holds neither identities/ nor groups/annotations/")
    settings = load_settings(config_file, workers=workers)
    sizes = min_face_px or [settings.min_face_px, SMALL_FACE_PX]
    results: dict[str, Any] = {}
    texts: list[str] = []
    if "identities" in parts:
        results["identities"], text = _identities_part(data_dir, work_dir, sweep, settings)
        texts.append(text)
    if "detection" in parts:
        results["detection"], text = _detection_part(
            data_dir,
            sizes,
            lambda px: load_settings(config_file, workers=workers, min_face_px=px),
            upscale,
            work_dir,
        )
        texts.append(text)
    if "attributes" in parts:
        results["attributes"], text = _attributes_part(
            data_dir, work_dir, labels_file, settings, attribute_split
        )
        texts.append(text)
    if as_json:
        click.echo(json.dumps(results, indent=2, default=str))
    else:
        click.echo("\n\n".join(texts))
