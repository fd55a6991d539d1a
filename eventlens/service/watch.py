"""``eventlens watch INBOX --gallery ID``: recognise the people of a gallery in every new photo dropped
into a folder, without a server: the same search as ``POST /galleries/{id}/search`` (and the same
recognition records), with the models loaded once in this process. For each photo ``NAME`` it writes
``INBOX/processed/NAME.json``; a photo is taken once its size has stopped changing between two polls.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from eventlens.analysis.photo import PhotoAnalysis
from eventlens.analysis.pool import PhotoTask, analyze_many, build_models
from eventlens.backends.registry import create_embedder
from eventlens.errors import EventlensError, InputError
from eventlens.ingest.sources import is_system_clutter
from eventlens.service.db import DataDir, now_iso, open_service_db
from eventlens.service.galleries import Galleries, Image
from eventlens.service.keys import ApiKey
from eventlens.settings import Settings
from eventlens.storage import sha256_file

log = logging.getLogger(__name__)
PROCESSED = "processed"
#: the folder's owner acts with every right on its data folder
_LOCAL_KEY = ApiKey("local", "eventlens watch", "admin", now_iso())


def _in_process(settings: Settings) -> Callable[[Sequence[PhotoTask]], Iterable[PhotoAnalysis]]:
    models = build_models(settings)
    for backend in models.all():
        backend.load()
    return lambda tasks: analyze_many(tasks, settings, 1, models=models)


def _write_json(path: Path, payload: object) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(payload, indent=2), encoding="utf-8")
    os.replace(tmp, path)


def watch(
    inbox: Path,
    gallery_id: str,
    data_dir: Path,
    settings: Settings,
    stop: threading.Event | None = None,
    poll_s: float = 1.0,
    once: bool = False,
    on_result: Callable[[Path], None] | None = None,
) -> int:
    """Process new photos of ``inbox`` until ``stop`` is set (or, with ``once``, those present now);
    returns how many were processed."""
    if not inbox.is_dir():
        raise InputError(f"{inbox} is not a folder")
    stop = stop or threading.Event()
    data = DataDir(data_dir.resolve())
    engine = open_service_db(data)
    embed_model = create_embedder(settings.embedder, settings).info.key
    galleries = Galleries(engine, data, settings, embed_model, _in_process(settings))
    galleries.get(gallery_id, _LOCAL_KEY)  # a mistyped gallery id is an error now, not per photo
    out_dir = inbox / PROCESSED
    out_dir.mkdir(exist_ok=True)
    sizes: dict[str, int] = {}
    done = 0
    try:
        while True:
            for path in sorted(p for p in inbox.iterdir() if p.is_file()):
                if path.name.startswith(".") or is_system_clutter(path.name):
                    continue
                target = out_dir / f"{path.name}.json"
                if target.exists():
                    continue
                size = path.stat().st_size
                if not once and sizes.get(path.name) != size:
                    sizes[path.name] = size  # still being written? look again at the next poll
                    continue
                image = Image(path.name, sha256=sha256_file(path), path=path)
                try:
                    result: object = galleries.search(gallery_id, image, _LOCAL_KEY).model_dump(mode="json")
                except EventlensError as exc:
                    result = {"photo": path.name, "error": str(exc)}
                _write_json(target, result)
                done += 1
                log.info("%s: %s", path.name, target)
                if on_result is not None:
                    on_result(target)
            if once or stop.wait(poll_s):
                return done
    finally:
        engine.dispose()
