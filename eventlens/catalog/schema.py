"""Tables of the catalog (SQLAlchemy Core), as they stand after the newest migration.

Photos are keyed by the SHA-256 of their bytes, never by path: the same bytes under two names are one
photo, and a renamed file is recognised. Box coordinates are original pixels as displayed (EXIF
orientation applied), ``x1, y1, x2, y2``. Arrays (landmarks, embeddings) are little-endian float32 bytes.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

#: float columns of ``faces`` holding :class:`eventlens.attributes.faces.FaceMeasurements`
FACE_MEASUREMENT_COLUMNS = (
    "ear_right",
    "ear_left",
    "mouth_width",
    "mouth_lift",
    "mouth_opening",
    "mouth_gap",
    "corners_below_eyes",
    "lip_below_nose",
    "yaw_deg",
    "pitch_deg",
    "roll_deg",
    "sharpness",
    "brightness",
    "clipped_high",
    "clipped_low",
    "size_ratio",
    "iris_dark_right",  # added by migration 2 (after cut_by_edge in the table)
    "iris_dark_left",
    "mouth_appearance",  # added by migration 7 (after the iris dark heights)
)
#: the measurement columns migration 3 added
IRIS_DARK_COLUMNS = ("iris_dark_right", "iris_dark_left")
#: the measurement columns migration 7 added
MOUTH_APPEARANCE_COLUMNS = ("mouth_appearance",)

schema_migrations = sa.Table(
    "schema_migrations",
    metadata,
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("applied_at", sa.String(40), nullable=False),
)

runs = sa.Table(
    "runs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("command", sa.String(40), nullable=False),
    sa.Column("started_at", sa.String(40), nullable=False),
    sa.Column("finished_at", sa.String(40)),
    sa.Column("status", sa.String(20), nullable=False),  # running | done | failed | interrupted
    sa.Column("settings_json", sa.Text, nullable=False),
    sa.Column("summary_json", sa.Text),
)

sources = sa.Table(
    "sources",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("kind", sa.String(20), nullable=False),  # folder | zip
    sa.Column("uri", sa.Text, nullable=False, unique=True),
    sa.Column("added_run", sa.Integer, sa.ForeignKey("runs.id")),
)

photos = sa.Table(
    "photos",
    metadata,
    sa.Column("sha256", sa.String(64), primary_key=True),
    sa.Column("size_bytes", sa.BigInteger, nullable=False),
    sa.Column("format", sa.String(20)),
    sa.Column("width_px", sa.Integer),
    sa.Column("height_px", sa.Integer),
    sa.Column("orientation", sa.Integer),
    sa.Column("taken_at", sa.String(40)),
    sa.Column("local_path", sa.Text, nullable=False),  # where the bytes can be read
    sa.Column("status", sa.String(20), nullable=False),  # pending | analyzed | rejected
    sa.Column("reject_reason", sa.Text),
    sa.Column("pipeline_key", sa.Text),  # models and settings the analysis used
    sa.Column("analyzed_at", sa.String(40)),
    sa.Column("added_run", sa.Integer, sa.ForeignKey("runs.id")),
    # whole-photo quality (eventlens.attributes.image_quality.PhotoQuality)
    sa.Column("sharpness", sa.Float),
    sa.Column("brightness", sa.Float),
    sa.Column("clipped_high", sa.Float),
    sa.Column("clipped_low", sa.Float),
    sa.Column("phash", sa.String(16)),  # 64-bit perceptual hash, hex
)

photo_paths = sa.Table(
    "photo_paths",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("source_id", sa.Integer, sa.ForeignKey("sources.id", ondelete="CASCADE"), nullable=False),
    sa.Column("rel_path", sa.Text, nullable=False),
    sa.Column("sha256", sa.String(64), sa.ForeignKey("photos.sha256", ondelete="SET NULL")),
    sa.Column("size_bytes", sa.BigInteger),
    sa.Column("mtime_ns", sa.BigInteger),
    sa.Column("status", sa.String(20), nullable=False),  # ok | rejected
    sa.Column("reason", sa.Text),
    sa.UniqueConstraint("source_id", "rel_path", name="uq_photo_paths_source_rel"),
)

persons = sa.Table(
    "persons",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("label", sa.String(40), nullable=False, unique=True),  # person_001 ...
    sa.Column("name", sa.Text),
    sa.Column("category", sa.String(20)),
    sa.Column("representative_face_id", sa.Integer),
    sa.Column("created_run", sa.Integer, sa.ForeignKey("runs.id")),
    # version 2: human corrections (eventlens.curate.corrections)
    sa.Column("hidden", sa.Boolean, nullable=False, server_default=sa.false()),  # left out of the export
    sa.Column("representative_by", sa.String(20)),  # user: the cluster stage keeps the chosen face
)

faces = sa.Table(
    "faces",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column(
        "photo_sha256", sa.String(64), sa.ForeignKey("photos.sha256", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("face_index", sa.Integer, nullable=False),
    sa.Column("x1", sa.Float, nullable=False),
    sa.Column("y1", sa.Float, nullable=False),
    sa.Column("x2", sa.Float, nullable=False),
    sa.Column("y2", sa.Float, nullable=False),
    sa.Column("det_score", sa.Float, nullable=False),
    sa.Column("detect_model", sa.String(120), nullable=False),
    sa.Column("landmarks5", sa.LargeBinary),
    sa.Column("landmarks68", sa.LargeBinary),
    sa.Column("embedding", sa.LargeBinary),
    sa.Column("embed_model", sa.String(120)),
    sa.Column("person_id", sa.Integer, sa.ForeignKey("persons.id", ondelete="SET NULL")),
    sa.Column("assigned_by", sa.String(20)),  # cluster | user
    sa.UniqueConstraint("photo_sha256", "face_index", name="uq_faces_photo_index"),
    # raw face measurements (eventlens.attributes.faces.FaceMeasurements)
    *(
        sa.Column(name, sa.Float)
        for name in FACE_MEASUREMENT_COLUMNS
        if name not in IRIS_DARK_COLUMNS + MOUTH_APPEARANCE_COLUMNS
    ),
    sa.Column("cut_by_edge", sa.Boolean),
    *(sa.Column(name, sa.Float) for name in IRIS_DARK_COLUMNS + MOUTH_APPEARANCE_COLUMNS),
)

#: every human correction, in order, with what is needed to undo it (eventlens.curate.corrections)
corrections = sa.Table(
    "corrections",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("at", sa.String(40), nullable=False),  # UTC, ISO 8601
    sa.Column("by", sa.String(200), nullable=False),  # who: "cli:<user>", "labels:<file>"
    sa.Column("action", sa.String(40), nullable=False),
    sa.Column("payload_json", sa.Text, nullable=False),  # the change and the state before it
    sa.Column("undone_by", sa.Integer),  # id of the undo correction that reverted this one
)

#: cannot-links: a user said face ``face_id`` is not person ``person_id``; clustering never assigns it there
face_not_person = sa.Table(
    "face_not_person",
    metadata,
    sa.Column("face_id", sa.Integer, sa.ForeignKey("faces.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("person_id", sa.Integer, sa.ForeignKey("persons.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("correction_id", sa.Integer),
)

#: version 6: a user said persons ``person_id`` and ``other_id`` are not the same person (a merge suggestion
#: answered "no"); stored once per pair with ``person_id < other_id``. Clustering keeps the two apart and
#: merge suggestions leave the pair out (eventlens.cluster.suggestions)
person_not_person = sa.Table(
    "person_not_person",
    metadata,
    sa.Column("person_id", sa.Integer, sa.ForeignKey("persons.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("other_id", sa.Integer, sa.ForeignKey("persons.id", ondelete="CASCADE"), primary_key=True),
    sa.CheckConstraint("person_id < other_id", name="ck_person_not_person_order"),
)

#: small named values of the catalog (e.g. the labels file as last written, for a three-way import)
catalog_state = sa.Table(
    "catalog_state",
    metadata,
    sa.Column("key", sa.String(80), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

# version 5 (add_listing_indexes): the sort keys of the read model's pages (eventlens.catalog.queries).
# ix_faces_person_photo replaced ix_faces_person (person_id), a prefix of it. The two on photo_paths are
# partial, so that they serve only the listings: a query naming a photo's sha256 keeps ix_photo_paths_sha
sa.Index("ix_faces_person_photo", faces.c.person_id, faces.c.photo_sha256, faces.c.face_index)
sa.Index("ix_photo_paths_sha", photo_paths.c.sha256)
_OK = photo_paths.c.status == "ok"
_REFUSED = photo_paths.c.status == "rejected"
sa.Index(
    "ix_photo_paths_shown",
    photo_paths.c.rel_path,
    photo_paths.c.sha256,
    sqlite_where=_OK,
    postgresql_where=_OK,
)
sa.Index("ix_photo_paths_refused", photo_paths.c.rel_path, sqlite_where=_REFUSED, postgresql_where=_REFUSED)
sa.Index("ix_photos_status", photos.c.status)
