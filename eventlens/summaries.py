"""Run summaries: what each stage reports, and :class:`RunSummary`, what a run returns.

A run (``eventlens process``, one stage command, later a job of the service) fills one
:class:`RunSummary`; each stage that ran adds its own summary to it (``ingest``, ``analyze``, ``cluster``,
``labels``, ``export``, ``enhance``) and its time to ``stage_s``. The same model is printed by ``--json``,
stored in the catalog's ``runs.summary_json`` and is the job schema of the service::

    RunSummary
    ├── run_id, stage_s, wall_s, warnings
    ├── ingest   IngestSummary     files seen, new photos, duplicates, rejections by reason
    ├── analyze  AnalyzeSummary    photos and faces analysed, speed (photos_per_s), timings per step
    ├── cluster  ClusterSummary    faces clustered, persons found, new and removed
    ├── labels   LabelsSummary     persons named from a labels file
    ├── export   ExportSummary     person folders, photos, crops, best photos
    └── enhance  EnhanceSummary    corrected copies, crops and portraits

Serialised with ``model_dump(mode="json")`` the keys and values are those of the JSON summaries before
these models (a test pins them): derived figures (``photos_per_s``) are computed fields, rounded as they
were; a stage that did not run is left out, not ``null``, and so are an empty ``stage_s`` and
``warnings``. Reading a stored summary back (``RunSummary.model_validate_json``) gives the same model.

Stages count by assigning attributes (``summary.files += 1``); assignments are not validated, so a counter
costs what a dataclass field did. This module imports no other module of eventlens: every stage may use it.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field, computed_field, field_serializer


def _empty(value: Any) -> bool:
    return not value


def _none(value: Any) -> bool:
    return value is None


class IngestSummary(BaseModel):
    source: str  # the folder or ZIP archive, as given
    files: int = 0
    new_photos: int = 0
    unchanged: int = 0
    duplicates: int = 0
    rejected: int = 0
    missing: int = 0  # known files no longer in the source
    skipped_system_files: int = 0
    reasons: dict[str, int] = Field(default_factory=dict)  # rejections by reason


class AnalyzeSummary(BaseModel):
    photos: int = 0
    faces: int = 0
    rejected: int = 0
    stale: int = 0  # photos analysed with other models or settings, left as they are
    workers: int = 1
    wall_s: float = 0.0
    timings_ms: dict[str, float] = Field(default_factory=dict)  # per step, summed over photos

    @computed_field  # type: ignore[prop-decorator]  # mypy does not know pydantic's decorated properties
    @property
    def photos_per_s(self) -> float:
        """Photos analysed per second of the stage's wall time, rounded to 3 decimals."""
        return round(self.photos / self.wall_s, 3) if self.wall_s > 0 else 0.0

    @field_serializer("timings_ms")
    def _round_timings(self, timings_ms: dict[str, float]) -> dict[str, float]:
        return {step: round(ms, 1) for step, ms in timings_ms.items()}


class ClusterSummary(BaseModel):
    faces_clustered: int = 0
    faces_skipped_small: int = 0  # smaller than cluster_min_face_px
    faces_other_model: int = 0  # embedded by another model: never compared
    conflicts_split: int = 0  # clusters split because two of their faces share a photo
    cannot_links_split: int = 0  # ... because a face was marked "not this person"
    persons: int = 0
    new_persons: int = 0
    removed_persons: int = 0
    assigned_faces: int = 0
    unassigned_faces: int = 0


class LabelsSummary(BaseModel):
    file: str  # the labels file imported
    updated: int = 0  # persons of the file that exist
    changed: int = 0  # corrections recorded
    unknown_persons: list[str] = Field(default_factory=list)  # persons the file names that do not exist


class ExportSummary(BaseModel):
    persons: int = 0
    photos: int = 0
    faces: int = 0
    unassigned_faces: int = 0
    photos_without_faces: int = 0
    rejected: int = 0
    links: int = 0
    copies: int = 0
    crops: int = 0
    best: int = 0
    report_html: bool = False  # OUT/report.html was written (setting report_html)
    report_thumbnails: int = 0  # thumbnails made for report.html (the others were in the cache)


class EnhanceSummary(BaseModel):
    photos: int = 0
    enhanced: int = 0
    unchanged: int = 0
    failed: int = 0
    crops: int = 0
    crop_fallbacks: int = 0
    portraits: int = 0
    workers: int = 1
    wall_s: float = 0.0
    cpu_s: float = 0.0  # CPU time of the per-photo work, summed over workers

    @computed_field  # type: ignore[prop-decorator]  # mypy does not know pydantic's decorated properties
    @property
    def photos_per_s(self) -> float:
        """Photos per second of the stage's wall time, rounded to 2 decimals."""
        return round(self.photos / self.wall_s, 2) if self.wall_s > 0 else 0.0

    @field_serializer("cpu_s")
    def _round_cpu(self, cpu_s: float) -> float:
        return round(cpu_s, 2)


class RunSummary(BaseModel):
    """One run: its id in the catalog's ``runs`` table, the summary of each stage that ran, the seconds of
    each stage (``stage_s``) and of the whole run (``wall_s``, ``process`` only)."""

    run_id: int | None = None
    stage_s: dict[str, float] = Field(default_factory=dict, exclude_if=_empty)
    ingest: IngestSummary | None = Field(default=None, exclude_if=_none)
    analyze: AnalyzeSummary | None = Field(default=None, exclude_if=_none)
    cluster: ClusterSummary | None = Field(default=None, exclude_if=_none)
    labels: LabelsSummary | None = Field(default=None, exclude_if=_none)
    export: ExportSummary | None = Field(default=None, exclude_if=_none)
    enhance: EnhanceSummary | None = Field(default=None, exclude_if=_none)
    wall_s: float | None = Field(default=None, exclude_if=_none)
    warnings: list[str] = Field(default_factory=list, exclude_if=_empty)  # e.g. a fallback detector
