"""The library API of the main job: each stage as a function of an :class:`Event` (an output folder and
its catalog), and :func:`process` chaining them. The CLI is a thin layer over these functions.

Each call is recorded in the catalog's ``runs`` table with its settings and summary (a
:class:`~eventlens.summaries.RunSummary`, which the ``run_*`` functions fill); an interrupted run is
marked ``interrupted`` and the next call continues where it stopped. Every run that writes holds the output
folder's lock (:mod:`eventlens.lock`): a second writer on the same folder gets a LockedError.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

import sqlalchemy as sa

from eventlens import lock as output_lock
from eventlens.analysis.pool import AnalysisPool
from eventlens.analysis.stage import analyze
from eventlens.backends.registry import check_model_files, create_embedder
from eventlens.catalog.db import default_url, open_catalog
from eventlens.catalog.schema import runs
from eventlens.cluster.stage import cluster
from eventlens.curate.labels import (
    LABELS_FILE,
    import_labels,
    import_out_file,
    read_labels_file,
    write_labels_file,
)
from eventlens.errors import InputError
from eventlens.export.layout import export
from eventlens.ingest.ingest import ingest
from eventlens.lock import OutputLock
from eventlens.progress import SILENT, Progress
from eventlens.settings import Settings
from eventlens.storage import LocalStore
from eventlens.summaries import (
    AnalyzeSummary,
    ClusterSummary,
    ExportSummary,
    IngestSummary,
    LabelsSummary,
    RunSummary,
)

log = logging.getLogger(__name__)

T = TypeVar("T")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass
class Event:
    """An output folder and the catalog behind it."""

    out_dir: Path
    settings: Settings
    engine: sa.Engine
    lock: OutputLock | None = None

    @classmethod
    def open(
        cls, out_dir: Path, settings: Settings, create: bool = True, command: str | None = None
    ) -> Event:
        """Open (or, with ``create``, create) the event in ``out_dir``.

        Stages that only read an existing event pass ``create=False``, so that a mistyped ``--out`` is an
        error instead of a new, empty catalog. With ``command`` (every stage that writes), the output
        folder's lock is taken first and held until :meth:`close`; LockedError if another run holds it.
        """
        out_dir = out_dir.resolve()
        url = settings.catalog_url or default_url(out_dir)
        if (
            not create
            and settings.catalog_url is None
            and not (out_dir / ".eventlens" / "catalog.sqlite").is_file()
        ):
            raise InputError(
                f"{out_dir} holds no eventlens catalog; run `eventlens process PHOTOS --out {out_dir}` "
                "(or `eventlens ingest`) first"
            )
        held = output_lock.acquire(out_dir / ".eventlens", command) if command is not None else None
        try:
            engine = open_catalog(url)
        except BaseException:
            if held is not None:
                held.release()
            raise
        return cls(out_dir, settings, engine, held)

    @property
    def work_dir(self) -> Path:
        return self.out_dir / ".eventlens"

    @property
    def store(self) -> LocalStore:
        return LocalStore(self.work_dir / "store")

    @contextmanager
    def run(self, command: str) -> Iterator[RunSummary]:
        """Record a run (holding the output folder's lock); the caller fills the yielded summary, stored in
        ``runs.summary_json`` when the run ends."""
        if self.lock is None:
            self.lock = output_lock.acquire(self.work_dir, command)
        with self.engine.begin() as conn:
            key = conn.execute(
                runs.insert().values(
                    command=command,
                    started_at=_now(),
                    status="running",
                    settings_json=self.settings.model_dump_json(),
                )
            ).inserted_primary_key
            assert key is not None  # an INSERT always has one
            run_id = key[0]
        summary = RunSummary(run_id=run_id)
        status = "failed"
        try:
            yield summary
            status = "done"
        except KeyboardInterrupt:
            status = "interrupted"
            raise
        finally:
            stored = json.dumps(summary.model_dump(mode="json"))
            with self.engine.begin() as conn:
                conn.execute(
                    runs.update()
                    .where(runs.c.id == run_id)
                    .values(status=status, finished_at=_now(), summary_json=stored)
                )

    def close(self) -> None:
        self.engine.dispose()
        if self.lock is not None:
            self.lock.release()
            self.lock = None


def _timed(summary: RunSummary, name: str, fn: Callable[[], T]) -> T:
    started = time.perf_counter()
    result = fn()
    summary.stage_s[name] = round(time.perf_counter() - started, 3)
    return result


def run_ingest(
    event: Event,
    photos: Path,
    summary: RunSummary,
    progress: Progress = SILENT,
    allow_shrink: bool = False,
) -> IngestSummary:
    """Ingest ``photos``; ``allow_shrink`` accepts a known source that lost most of its photos."""
    result = _timed(
        summary,
        "ingest",
        lambda: ingest(
            event.engine,
            photos,
            event.settings,
            event.store,
            summary.run_id,
            progress,
            exclude=event.out_dir,
            allow_shrink=allow_shrink,
        ),
    )
    summary.ingest = result
    return result


def run_analyze(
    event: Event,
    summary: RunSummary,
    progress: Progress = SILENT,
    reanalyze: bool = False,
    pool: AnalysisPool | None = None,
) -> AnalyzeSummary:
    result = _timed(
        summary, "analyze", lambda: analyze(event.engine, event.settings, progress, reanalyze, pool=pool)
    )
    summary.analyze = result
    return result


def embed_model_key(settings: Settings) -> str:
    """The key of the embedding model ``settings`` select (known without loading any model): what the
    catalog's embeddings are compared under."""
    return create_embedder(settings.embedder, settings).info.key


def run_cluster(event: Event, summary: RunSummary, progress: Progress = SILENT) -> ClusterSummary:
    progress.status("cluster", "grouping faces into persons…")
    embed_model = embed_model_key(event.settings)
    result = _timed(
        summary, "cluster", lambda: cluster(event.engine, event.settings, embed_model, summary.run_id)
    )
    summary.cluster = result
    return result


def run_export(
    event: Event, summary: RunSummary, pool: AnalysisPool | None = None, progress: Progress = SILENT
) -> ExportSummary:
    progress.status("export", f"writing person folders, CSVs and face crops into {event.out_dir}…")
    executor = pool.executor if pool is not None else None

    def run() -> ExportSummary:
        try:
            return export(event.engine, event.out_dir, event.settings, executor)
        except BrokenProcessPool:  # a worker died making face crops: the export starts over, on threads
            log.warning("a worker died while making face crops; making them in this process")
            return export(event.engine, event.out_dir, event.settings, None)

    result = _timed(summary, "export", run)
    summary.export = result
    return result


def run_labels(event: Event, summary: RunSummary, labels_file: Path | None = None) -> LabelsSummary | None:
    """Import person names and categories from ``labels_file``, or from ``OUT/cluster_labels.json`` if it
    exists; persons the file names that the catalog does not know are reported, not created.

    An import changes only the persons and fields the file gives, as recorded corrections
    (:mod:`eventlens.curate.corrections`): a name given with ``eventlens person rename`` is never erased.
    Of ``OUT/cluster_labels.json`` only the entries edited since eventlens last wrote or read it are
    applied, so that its stale entries never undo a later correction. Importing another file rewrites
    ``OUT/cluster_labels.json`` from the catalog. None (and no ``summary.labels``) when there is no file."""
    out_file = event.out_dir / LABELS_FILE
    path = labels_file or out_file
    if labels_file is None and not path.is_file():
        return None
    by = f"labels:{path.name}"
    if path.resolve() == out_file.resolve():
        result = import_out_file(event.engine, path, by)
    else:
        result = import_labels(event.engine, read_labels_file(path), by=by)
        write_labels_file(event.engine, out_file)
    summary.labels = LabelsSummary(
        file=str(path),
        updated=result.updated,
        changed=result.changed,
        unknown_persons=result.unknown_persons,
    )
    if result.unknown_persons:
        log.warning("%s names persons that do not exist: %s", path, ", ".join(result.unknown_persons))
    return summary.labels


def process(
    photos: Path,
    out_dir: Path,
    settings: Settings,
    progress: Progress = SILENT,
    reanalyze: bool = False,
    allow_shrink: bool = False,
) -> RunSummary:
    """The main job: ingest ``photos`` (folder or .zip), analyse, cluster, apply ``OUT/cluster_labels.json``
    when present, and export (person folders, CSVs, photo scores and best photos) into ``out_dir``.

    A known source that now holds no files or lost more than ``max_shrink_fraction`` of its photos is
    refused (:class:`InputError`) before anything changes, unless ``allow_shrink``. Returns the run's
    :class:`~eventlens.summaries.RunSummary`."""
    check_model_files(settings)  # one line naming the missing file, before anything starts
    event = Event.open(out_dir, settings, command="process")
    try:
        started = time.perf_counter()
        with event.run("process") as summary:
            workers = settings.effective_workers
            # the workers start and load their models while ingest hashes the files, and make the face
            # crops at export
            with AnalysisPool(settings, workers) if workers > 1 else nullcontext() as pool:
                run_ingest(event, photos, summary, progress, allow_shrink)
                run_analyze(event, summary, progress, reanalyze, pool=pool)
                run_cluster(event, summary, progress)
                run_labels(event, summary)
                run_export(event, summary, pool, progress)
            summary.wall_s = round(time.perf_counter() - started, 3)
        return summary
    finally:
        event.close()
