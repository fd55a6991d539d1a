"""The people pages over HTTP, in process (no models, a synthetic catalog): every page renders for a viewer
without edit controls, every correction form is a POST answered by a 303 and lands in the catalog through
the corrections write path (recorded as ``web:<user>``, undoable), refused corrections come back as a
notice, a viewer's POST is a 403, and no page carries an embedding or an unsigned photo URL."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from testkit import load_benchmark

from eventlens.catalog.db import default_url, open_catalog
from eventlens.catalog.schema import faces, persons
from eventlens.curate import corrections

bench = load_benchmark("bench_people_grid")
EVENT = "party"
_CSRF = re.compile(r'<meta name="csrf-token" content="([^"]*)"')


@pytest.fixture
def data(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    bench.write_catalog(root / "events" / EVENT, n_faces=60, n_persons=8, seed=1).dispose()
    return root


@pytest.fixture
def editor(data: Path, model_cache_dir: Path) -> Iterator[Any]:
    with bench.logged_in_client(data, EVENT, "editor", cache_dir=model_cache_dir, embedder="fake") as client:
        client.headers["X-CSRF-Token"] = _CSRF.search(client.get("/").text).group(1)  # type: ignore[union-attr]
        yield client


def _engine(data: Path) -> sa.Engine:
    return open_catalog(default_url(data / "events" / EVENT))


def _faces_of(data: Path, label: str) -> list[str]:
    engine = _engine(data)
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(faces.c.photo_sha256, faces.c.face_index)
            .join(persons, persons.c.id == faces.c.person_id)
            .where(persons.c.label == label)
            .order_by(faces.c.id)
        ).all()
    engine.dispose()
    return [f"{r.photo_sha256}:{r.face_index}" for r in rows]


def _post(client: Any, path: str, **form: Any) -> str:
    r = client.post(f"/events/{EVENT}{path}", data=form, follow_redirects=False)
    assert r.status_code == 303, f"POST {path}: {r.status_code} {r.text[:300]}"
    location: str = r.headers["location"]
    assert location.startswith(f"/events/{EVENT}/")
    return location


def test_pages_render_with_named_faces_and_signed_thumbnails(editor: Any) -> None:
    for path in (
        "people",
        "people?sort=name&category=main&hidden=no",
        "people/person_001",
        "unassigned",
        "suggestions",
        "people/history",
    ):
        r = editor.get(f"/events/{EVENT}/{path}")
        assert r.status_code == 200, (path, r.text[:300])
        assert "embedding" not in r.text.lower()
        for src in re.findall(r'<img src="([^"]+)"', r.text):
            assert "/thumbs/" in src and "sig=" in src and "exp=" in src, src
    grid = editor.get(f"/events/{EVENT}/people").text
    assert 'alt="Face of person_' in grid and "Merge selected" in grid
    person = editor.get(f"/events/{EVENT}/people/person_001").text
    assert "Rename" in person and "Move selected" in person and "Not person_001" in person
    assert editor.get(f"/events/{EVENT}/people?sort=age").status_code == 422


def test_corrections_through_the_forms(editor: Any, data: Path) -> None:
    target = _faces_of(data, "person_002")
    where = _post(editor, "/people/person_001/rename", name="Ana", next=f"/events/{EVENT}/people/person_001")
    assert "notice=" in where and "Ana" in editor.get(where).text
    _post(editor, "/people/person_001/category", category="main")
    _post(editor, "/people/person_003/hide", hidden="yes")
    _post(editor, "/people/merge", persons=["person_001", "person_002"])
    assert set(target) <= set(_faces_of(data, "person_001"))
    moved = _faces_of(data, "person_001")[:2]
    _post(editor, "/people/move", faces=moved, to="new")  # a split
    assert set(moved).isdisjoint(_faces_of(data, "person_001"))
    remaining = _faces_of(data, "person_001")
    _post(editor, "/people/person_001/not", face=remaining[0])
    assert remaining[0] not in _faces_of(data, "person_001")
    _post(editor, "/people/person_001/representative", face=remaining[1])
    engine = _engine(data)
    history = corrections.history(engine)
    engine.dispose()
    assert [c.action for c in history] == [
        "representative",
        "not",
        "move",
        "merge",
        "hide",
        "category",
        "rename",
    ]
    assert {c.by for c in history} == {"web:editor"}
    _post(editor, "/people/undo")  # the newest: representative
    _post(editor, "/people/undo", correction_id=str(history[1].id))  # "not this person"
    assert remaining[0] in _faces_of(data, "person_001")
    # refused: a notice on the page, nothing changed
    where = _post(editor, "/people/merge", persons=["person_001"])
    assert "Not+changed" in where or "Not%20changed" in where
    page = editor.get(f"/events/{EVENT}/people/history").text
    assert "undone by" in page
    where = _post(editor, "/people/refit")
    assert "not+enough" in where or "not%20enough" in where  # no answered suggestions yet


def test_a_viewer_sees_no_edit_controls_and_cannot_post(data: Path, model_cache_dir: Path) -> None:
    with bench.logged_in_client(data, EVENT, "viewer", cache_dir=model_cache_dir, embedder="fake") as viewer:
        token = _CSRF.search(viewer.get("/").text).group(1)  # type: ignore[union-attr]
        page = viewer.get(f"/events/{EVENT}/people/person_001").text
        assert "Rename" not in page and "Move selected" not in page and 'name="faces"' not in page
        assert "Merge selected" not in viewer.get(f"/events/{EVENT}/people").text
        r = viewer.post(
            f"/events/{EVENT}/people/person_001/rename",
            data={"name": "X", "csrf_token": token},
            follow_redirects=False,
        )
        assert r.status_code == 403
    assert _faces_of(data, "person_001")  # unchanged catalog, person still there


def _post_paths() -> list[str]:
    from eventlens.web.people_routes import router  # noqa: PLC0415

    paths = [r.path for r in router.routes if "POST" in getattr(r, "methods", set())]
    assert len(paths) >= 10
    return [p.replace("{event_id}", EVENT).replace("{label}", "person_001") for p in paths]


def test_every_change_needs_a_session_and_the_csrf_token(editor: Any, data: Path) -> None:
    form = {"name": "X", "category": "main", "face": "00:0", "faces": "00:0", "to": "new", "persons": "1"}
    form |= {"person": "person_001", "other": "person_002", "same": "no"}
    token = editor.headers.pop("X-CSRF-Token")
    for path in _post_paths():
        r = editor.post(path, data=form, follow_redirects=False)
        assert r.status_code == 403, (path, r.status_code)  # a session, no token
        r = editor.post(path, data={**form, "csrf_token": "wrong"}, follow_redirects=False)
        assert r.status_code == 403, (path, r.status_code)
    editor.cookies.clear()
    for path in _post_paths():
        r = editor.post(path, data={**form, "csrf_token": token}, follow_redirects=False)
        assert r.status_code in (303, 401, 403), (path, r.status_code)
        assert "/login" in r.headers.get("location", "/login"), (path, r.headers)
    engine = _engine(data)
    assert corrections.history(engine) == []  # nothing changed
    engine.dispose()
