"""HTTP routes of galleries: enrol people, search an image, read recognitions. Thin over
:class:`eventlens.service.galleries.Galleries`; images come by URL (JSON) or as a multipart upload."""

from __future__ import annotations

import shutil
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import FastAPI, Query, Request
from pydantic import ValidationError
from starlette.datastructures import UploadFile

from eventlens.errors import InputError
from eventlens.service import images_in
from eventlens.service.galleries import Galleries, Image
from eventlens.service.routes import _ERRORS, Reader, ServiceDep, Writer
from eventlens.service.schemas import EnrolIn, EnrolOut, GalleryOut, Id, PersonOut, RecognitionOut, SearchIn

_BY_URL_OR_UPLOAD = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/EnrolIn"}},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["person_id", "files"],
                    "properties": {
                        "person_id": {"type": "string"},
                        "name": {"type": "string"},
                        "files": {"type": "array", "items": {"type": "string", "format": "binary"}},
                    },
                }
            },
        },
    }
}
_SEARCH_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/SearchIn"}},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {"file": {"type": "string", "format": "binary"}},
                }
            },
        },
    }
}


def _galleries(service: Any) -> Galleries:
    if service.galleries is None:
        raise InputError("galleries need the analysis workers, which are not running in this process")
    galleries: Galleries = service.galleries
    return galleries


def _is_multipart(request: Request) -> bool:
    return request.headers.get("content-type", "").startswith("multipart/form-data")


async def _json(request: Request, model: type[Any]) -> Any:
    try:
        return model.model_validate_json(await request.body())
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise InputError(f"{where}: {first['msg']}") from None


def add_gallery_routes(app: FastAPI) -> None:
    @app.post(
        "/galleries/{gallery_id}/people",
        tags=["galleries"],
        openapi_extra=_BY_URL_OR_UPLOAD,
        responses={**_ERRORS, 422: {"description": "Invalid input, or no usable face."}},
    )
    async def enrol(gallery_id: Id, request: Request, service: ServiceDep, key: Writer) -> EnrolOut:
        """Enrol a person (or more faces of them): JSON ``{person_id, name, image_urls}`` or a multipart
        form with ``person_id``, ``name`` and one or more ``files``. The largest face of each image is
        enrolled; the gallery is created on first use."""
        galleries = _galleries(service)
        dest = galleries.images_dir(gallery_id)
        max_bytes = int(service.settings.download_max_mb * 1e6)
        if _is_multipart(request):
            form = await request.form(max_files=20, max_fields=10)
            person_id, name = str(form.get("person_id") or ""), form.get("name")
            files = [f for f in form.getlist("files") if isinstance(f, UploadFile)]
            if not files:
                raise InputError("files: upload one or more images as `files`")
            images = [images_in.from_upload(f.file, f.filename or "upload", dest, max_bytes) for f in files]
            name_text = str(name) if name is not None else None
        else:
            body: EnrolIn = await _json(request, EnrolIn)
            person_id, name_text = body.person_id, body.name
            images = await _in_thread(
                images_in.from_urls, [str(u) for u in body.image_urls], dest, service.settings
            )
        enrolled: EnrolOut = await _in_thread(galleries.enrol, gallery_id, person_id, name_text, images, key)
        return enrolled

    @app.get("/galleries", tags=["galleries"], responses=_ERRORS)
    def list_galleries(service: ServiceDep, key: Reader) -> list[GalleryOut]:
        return _galleries(service).all_galleries(key)

    @app.get("/galleries/{gallery_id}", tags=["galleries"], responses={**_ERRORS, 404: {}})
    def get_gallery(gallery_id: Id, service: ServiceDep, key: Reader) -> GalleryOut:
        return _galleries(service).get(gallery_id, key)

    @app.delete("/galleries/{gallery_id}", tags=["galleries"], responses={**_ERRORS, 404: {}})
    def delete_gallery(gallery_id: Id, service: ServiceDep, key: Writer) -> dict[str, Any]:
        """Delete the gallery: its people, faces, embeddings, images and recognition records."""
        return {"gallery_id": gallery_id, "deleted": _galleries(service).delete(gallery_id, key)}

    @app.get("/galleries/{gallery_id}/people", tags=["galleries"], responses={**_ERRORS, 404: {}})
    def list_people(gallery_id: Id, service: ServiceDep, key: Reader) -> list[PersonOut]:
        return _galleries(service).people(gallery_id, key)

    @app.get("/galleries/{gallery_id}/people/{person_id}", tags=["galleries"], responses={**_ERRORS, 404: {}})
    def get_person(gallery_id: Id, person_id: Id, service: ServiceDep, key: Reader) -> PersonOut:
        return _galleries(service).person(gallery_id, person_id, key)

    @app.delete(
        "/galleries/{gallery_id}/people/{person_id}", tags=["galleries"], responses={**_ERRORS, 404: {}}
    )
    def delete_person(gallery_id: Id, person_id: Id, service: ServiceDep, key: Writer) -> dict[str, Any]:
        return {
            "gallery_id": gallery_id,
            "person_id": person_id,
            "deleted": _galleries(service).delete_person(gallery_id, person_id, key),
        }

    @app.post(
        "/galleries/{gallery_id}/search",
        tags=["galleries"],
        openapi_extra=_SEARCH_BODY,
        responses={**_ERRORS, 404: {}, 422: {}},
    )
    async def search(
        gallery_id: Id,
        request: Request,
        service: ServiceDep,
        key: Reader,
        min_confidence: Annotated[float | None, Query(ge=0, le=1)] = None,
    ) -> RecognitionOut:
        """Who is in this image: each face with its box, best matches and attributes. JSON
        ``{image_url}`` or a multipart ``file``. Stored as a recognition record; the image is not kept."""
        galleries = _galleries(service)
        max_bytes = int(service.settings.download_max_mb * 1e6)
        tmp = Path(tempfile.mkdtemp(prefix="search-", dir=_tmp_root(galleries)))
        try:
            if _is_multipart(request):
                form = await request.form(max_files=1, max_fields=2)
                upload = form.get("file")
                if not isinstance(upload, UploadFile):
                    raise InputError("file: upload the image as `file`")
                image: Image = images_in.from_upload(upload.file, upload.filename or "upload", tmp, max_bytes)
            else:
                body: SearchIn = await _json(request, SearchIn)
                image = (await _in_thread(images_in.from_urls, [str(body.image_url)], tmp, service.settings))[
                    0
                ]
            found: RecognitionOut = await _in_thread(galleries.search, gallery_id, image, key, min_confidence)
            return found
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    @app.get("/galleries/{gallery_id}/recognitions", tags=["galleries"], responses={**_ERRORS, 404: {}})
    def list_recognitions(
        gallery_id: Id,
        service: ServiceDep,
        key: Reader,
        person_id: Annotated[Id | None, Query()] = None,
        since: Annotated[
            datetime | None, Query(description="ISO 8601 time; only records from then on.")
        ] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> list[RecognitionOut]:
        """Stored recognitions, newest first; of one person, since a time."""
        since_s = since.timestamp() if since is not None else None
        return _galleries(service).recognitions(gallery_id, key, person_id, since_s, limit)


def _tmp_root(galleries: Galleries) -> Path:
    root = galleries.data.root / "tmp"
    root.mkdir(parents=True, exist_ok=True)
    return root


async def _in_thread(fn: Any, *args: Any) -> Any:
    from starlette.concurrency import run_in_threadpool  # noqa: PLC0415

    return await run_in_threadpool(fn, *args)
