"""Request and response bodies of the REST API (pydantic): the OpenAPI schema at ``/docs`` is made from
these. Field names of the event-matching contract are fixed (``event_id``, ``users``, ``photos``,
``callback_url``, ``job_id``, ``status``, ``results``, ``errors``, ``confidence``); extra fields are allowed
in responses, never required in requests. No response model has a field for an embedding or a face crop.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import (
    AnyHttpUrl,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    UrlConstraints,
    model_validator,
)

from eventlens.service.db import ID_PATTERN

Id = Annotated[str, StringConstraints(pattern=ID_PATTERN, max_length=128)]
#: http(s) only, at most 2,048 characters (checked again, with the address, when it is fetched)
Url = Annotated[AnyHttpUrl, UrlConstraints(max_length=2048, allowed_schemes=["http", "https"])]
JobStatus = Literal["queued", "running", "done", "failed"]
Bucket = Literal["definitely", "probably", "ignore"]


class UserIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    user_id: Id
    image_url: Url | None = Field(None, description="One selfie.")
    image_urls: list[Url] = Field(
        default_factory=list, max_length=50, description="Several selfies of the same person, matched as one."
    )

    @model_validator(mode="after")
    def _some_image(self) -> UserIn:
        if self.image_url is None and not self.image_urls:
            raise ValueError("a user needs image_url or image_urls")
        return self

    def urls(self) -> list[str]:
        urls = ([str(self.image_url)] if self.image_url is not None else []) + [
            str(u) for u in self.image_urls
        ]
        return list(dict.fromkeys(urls))


class PhotoIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    photo_id: Id
    url: Url


class ProcessEventIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    event_id: Id
    users: list[UserIn] = Field(default_factory=list)
    photos: list[PhotoIn] = Field(default_factory=list)
    callback_url: Url | None = Field(
        None, description="Where the results are POSTed, signed, when the job ends."
    )


class JobAccepted(BaseModel):
    job_id: str
    event_id: str
    status: JobStatus


class Progress(BaseModel):
    photos_done: int
    photos_total: int


class CallbackState(BaseModel):
    state: Literal["pending", "delivered", "failed"]
    attempts: int
    last_error: str | None
    delivered_at: str | None


class ErrorItem(BaseModel):
    photo_id: str | None = None
    user_id: str | None = None
    reason: str = Field(description="A stable key, e.g. too_large, not_an_image, private_address, no_face.")
    message: str = Field("", description="What went wrong, for a person.")


class JobOut(BaseModel):
    job_id: str
    event_id: str
    status: JobStatus
    step: str | None
    progress: Progress
    created_at: str
    started_at: str | None
    finished_at: str | None
    counts: dict[str, int]
    errors: list[ErrorItem]
    error: str | None = Field(None, description="Why a failed job failed.")
    callback: CallbackState | None


class MatchOut(BaseModel):
    event_id: str
    photo_id: str
    user_id: str
    confidence: float = Field(ge=0, le=1)
    bucket: Bucket


class MatchesOut(BaseModel):
    event_id: str
    matches: list[MatchOut]
    next_cursor: str | None = None


class CallbackBody(BaseModel):
    event_id: str
    job_id: str
    status: JobStatus
    results: list[MatchOut]
    errors: list[ErrorItem]


class DeletedOut(BaseModel):
    event_id: str
    deleted: dict[str, int]


class Problem(BaseModel):
    detail: str


# --- galleries -------------------------------------------------------------------------------------


class EnrolIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    person_id: Id
    name: str | None = Field(None, max_length=200)
    image_urls: list[Url] = Field(min_length=1, max_length=20, description="Photos of this person's face.")


class PersonOut(BaseModel):
    gallery_id: str
    person_id: str
    name: str | None
    faces: int = Field(description="Faces enrolled for this person.")
    created_at: str


class EnrolOut(PersonOut):
    enrolled: int = Field(description="Faces this request added.")
    errors: list[ErrorItem]


class GalleryOut(BaseModel):
    gallery_id: str
    people: int
    faces: int
    created_at: str


class Box(BaseModel):
    x1: float
    y1: float
    x2: float
    y2: float


class GalleryMatch(BaseModel):
    person_id: str
    name: str | None
    confidence: float = Field(ge=0, le=1)
    bucket: Bucket


class FaceAttributes(BaseModel):
    eyes_open: bool | None = Field(description="None: unknown (too small, or too close to call).")
    eyes_open_score: float | None
    smile: bool
    smile_score: float
    mouth_open: bool
    expression: str
    yaw_deg: float
    pitch_deg: float
    roll_deg: float
    looking_away: bool
    sharpness: float
    brightness: float
    sharp: bool
    well_exposed: bool


class RecognisedFace(BaseModel):
    box: Box
    det_score: float
    matches: list[GalleryMatch]
    attributes: FaceAttributes | None = Field(description="None when the face was too small to measure.")


class RecognitionOut(BaseModel):
    recognition_id: int
    gallery_id: str
    image_sha256: str
    created_at: str
    width_px: int
    height_px: int
    faces: list[RecognisedFace]


class SearchIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    image_url: Url
