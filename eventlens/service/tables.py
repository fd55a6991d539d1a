"""Tables of the service catalog (``DATA/service.sqlite``, SQLAlchemy Core): API keys, jobs, what each
event was asked for (photos and users by the caller's ids), selfie embeddings, match results, callback
deliveries, and the web UI's users and sessions. The photos, faces and persons of an event live in the
event's own catalog (``DATA/events/<event_id>/.eventlens/catalog.sqlite``), the same catalog the batch job
writes, so that every stage and the read model work on a service event unchanged.

Times are ISO-8601 UTC text, except ``*_at_s`` columns (unix seconds, for scheduling).
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("key_id", sa.String(16), primary_key=True),  # the public part of the key
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("scope", sa.String(10), nullable=False),  # read | write | admin
    sa.Column("secret_hash", sa.Text, nullable=False),  # argon2id of the whole key
    sa.Column("created_at", sa.String(40), nullable=False),
    sa.Column("revoked_at", sa.String(40)),
    sa.Column("last_used_at", sa.String(40)),
)

events = sa.Table(
    "events",
    metadata,
    sa.Column("event_id", sa.String(64), primary_key=True),
    sa.Column("owner_key_id", sa.String(16), nullable=False),
    sa.Column("created_at", sa.String(40), nullable=False),
    sa.Column("updated_at", sa.String(40), nullable=False),
    sa.Column("updated_at_s", sa.Float, nullable=False),
)

jobs = sa.Table(
    "jobs",
    metadata,
    sa.Column("job_id", sa.String(40), primary_key=True),
    sa.Column("event_id", sa.String(64), nullable=False, index=True),
    sa.Column("owner_key_id", sa.String(16), nullable=False),
    sa.Column("kind", sa.String(20), nullable=False, server_default="match"),  # match | collection
    #: a collection job's photos: a folder or a .zip on the server (uploaded ZIPs are kept in DATA/uploads)
    sa.Column("source", sa.Text),
    sa.Column("status", sa.String(20), nullable=False),  # queued | running | done | failed
    sa.Column("step", sa.String(40)),  # what a running job is doing
    sa.Column("callback_url", sa.Text),
    sa.Column("created_at", sa.String(40), nullable=False),
    sa.Column("created_at_s", sa.Float, nullable=False),
    sa.Column("started_at", sa.String(40)),
    sa.Column("finished_at", sa.String(40)),
    sa.Column("photos_total", sa.Integer, nullable=False, server_default="0"),
    sa.Column("photos_done", sa.Integer, nullable=False, server_default="0"),
    sa.Column("counts_json", sa.Text),  # photos analysed, faces, matches, errors ... when done
    sa.Column("error", sa.Text),  # why a failed job failed
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),  # starts (a restart resumes)
)

event_photos = sa.Table(
    "event_photos",
    metadata,
    sa.Column("event_id", sa.String(64), primary_key=True),
    sa.Column("photo_id", sa.String(128), primary_key=True),
    sa.Column("url", sa.Text, nullable=False),
    sa.Column("status", sa.String(20), nullable=False),  # pending | downloaded | failed
    sa.Column("sha256", sa.String(64), index=True),
    sa.Column("error_reason", sa.String(40)),  # a DownloadError reason, or "rejected", "no_face"
    sa.Column("error", sa.Text),
)

event_users = sa.Table(
    "event_users",
    metadata,
    sa.Column("event_id", sa.String(64), primary_key=True),
    sa.Column("user_id", sa.String(128), primary_key=True),
    sa.Column("image_urls_json", sa.Text, nullable=False),
)

selfies = sa.Table(
    "selfies",
    metadata,
    sa.Column("event_id", sa.String(64), primary_key=True),
    sa.Column("user_id", sa.String(128), primary_key=True),
    sa.Column("url", sa.Text, primary_key=True),
    sa.Column("status", sa.String(20), nullable=False),  # pending | done | failed
    sa.Column("sha256", sa.String(64)),
    sa.Column("embedding", sa.LargeBinary),  # of the largest face; never leaves the service
    sa.Column("embed_model", sa.Text),
    sa.Column("error_reason", sa.String(40)),
    sa.Column("error", sa.Text),
)

matches = sa.Table(
    "matches",
    metadata,
    sa.Column("event_id", sa.String(64), primary_key=True),
    sa.Column("user_id", sa.String(128), primary_key=True),
    sa.Column("photo_id", sa.String(128), primary_key=True),
    sa.Column("confidence", sa.Float, nullable=False),
    sa.Column("job_id", sa.String(40), nullable=False),
)

deliveries = sa.Table(
    "deliveries",
    metadata,
    sa.Column("job_id", sa.String(40), primary_key=True),
    sa.Column("event_id", sa.String(64), nullable=False, index=True),
    sa.Column("url", sa.Text, nullable=False),
    sa.Column("body", sa.LargeBinary, nullable=False),  # the exact bytes signed and sent
    sa.Column("state", sa.String(20), nullable=False),  # pending | delivered | failed
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("next_attempt_at_s", sa.Float, nullable=False),
    sa.Column("last_error", sa.Text),
    sa.Column("delivered_at", sa.String(40)),
)

galleries = sa.Table(
    "galleries",
    metadata,
    sa.Column("gallery_id", sa.String(128), primary_key=True),
    sa.Column("owner_key_id", sa.String(16), nullable=False),
    sa.Column("created_at", sa.String(40), nullable=False),
)

gallery_people = sa.Table(
    "gallery_people",
    metadata,
    sa.Column("gallery_id", sa.String(128), primary_key=True),
    sa.Column("person_id", sa.String(128), primary_key=True),
    sa.Column("name", sa.String(200)),
    sa.Column("created_at", sa.String(40), nullable=False),
)

gallery_faces = sa.Table(
    "gallery_faces",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("gallery_id", sa.String(128), nullable=False, index=True),
    sa.Column("person_id", sa.String(128), nullable=False),
    sa.Column("image_sha256", sa.String(64), nullable=False),
    sa.Column("embedding", sa.LargeBinary, nullable=False),  # never leaves the service
    sa.Column("embed_model", sa.Text, nullable=False),
    sa.Column("created_at", sa.String(40), nullable=False),
    sa.UniqueConstraint("gallery_id", "person_id", "image_sha256"),
)

recognitions = sa.Table(
    "recognitions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("gallery_id", sa.String(128), nullable=False, index=True),
    sa.Column("image_sha256", sa.String(64), nullable=False),
    sa.Column("created_at", sa.String(40), nullable=False),
    sa.Column("created_at_s", sa.Float, nullable=False),
    sa.Column("faces_json", sa.Text, nullable=False),  # boxes, matches, attributes: no embedding
)

recognition_persons = sa.Table(
    "recognition_persons",
    metadata,
    sa.Column("recognition_id", sa.Integer, primary_key=True),
    sa.Column("person_id", sa.String(128), primary_key=True, index=True),
)

users = sa.Table(
    "users",
    metadata,
    sa.Column("username", sa.String(64), primary_key=True),
    sa.Column("password_hash", sa.Text, nullable=False),  # argon2id
    sa.Column("role", sa.String(10), nullable=False),  # viewer | editor | admin
    sa.Column("created_at", sa.String(40), nullable=False),
    sa.Column("password_changed_at", sa.String(40), nullable=False),
)

web_sessions = sa.Table(
    "web_sessions",
    metadata,
    sa.Column(
        "token_hash", sa.String(64), primary_key=True
    ),  # SHA-256 of the cookie's token, never the token
    sa.Column("username", sa.String(64), index=True),  # a user's login ...
    sa.Column("key_id", sa.String(16), index=True),  # ... or an API key's (dies with the key)
    sa.Column("role", sa.String(10), nullable=False),  # a key's role; a user's is read from users
    sa.Column("display_name", sa.String(200), nullable=False),
    sa.Column("csrf_token", sa.String(64), nullable=False),
    sa.Column("created_at", sa.String(40), nullable=False),
    sa.Column("expires_at_s", sa.Float, nullable=False),
)
