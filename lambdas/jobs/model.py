"""The job record users see, its events, and the id and time formats it is stored with."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Self

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    StringConstraints,
    model_validator,
)

from lambdas.cost.model import JobCost
from lambdas.media.presets import DEFAULT_PRESET, Preset, builtin


class JobError(Exception):
    """Base of every typed job error; the state machine's Catch matches subclasses by name."""


def _to_utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


def utc_iso(value: datetime) -> str:
    """Fixed-width UTC ISO 8601 (always microseconds, always `Z`), so strings sort like the instants.

    `datetime.isoformat()` drops zero microseconds, and "…:00Z" sorts after "…:00.5Z": never use it
    in a sort key.
    """
    if value.tzinfo is None:
        raise ValueError("naive datetime: job times are timezone-aware UTC")
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def utc_now() -> datetime:
    return datetime.now(UTC)


Clock = Callable[[], datetime]


UtcDatetime = Annotated[AwareDatetime, AfterValidator(_to_utc), PlainSerializer(utc_iso, when_used="json")]

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
JOB_ID_PATTERN = r"^[0-9A-HJKMNP-TV-Z]{26}$"
# Used as a DynamoDB map key, an S3 path segment and a Step Functions Map item: keep it boring.
RENDITION_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,31}$"

JobId = Annotated[str, StringConstraints(pattern=JOB_ID_PATTERN)]
RenditionName = Annotated[str, StringConstraints(pattern=RENDITION_PATTERN)]
Percent = Annotated[int, Field(ge=0, le=100)]


def new_job_id(now: datetime | None = None) -> str:
    """A ULID: 48-bit millisecond time + 80 random bits, Crockford base32, 26 characters.

    Sortable by creation time (listings, S3 prefixes and logs read in order), unguessable enough that
    ids are not enumerable, and free of characters that need escaping in keys, paths or execution names.
    """
    millis = int((now or utc_now()).timestamp() * 1000)
    value = (millis << 80) | secrets.randbits(80)
    return "".join(_CROCKFORD[(value >> shift) & 31] for shift in range(125, -1, -5))


def job_id_time(job_id: str) -> datetime:
    """The creation instant encoded in a job id (millisecond precision)."""
    millis = 0
    for char in job_id[:10]:
        millis = millis * 32 + _CROCKFORD.index(char)
    return datetime.fromtimestamp(millis / 1000, UTC)


class JobStatus(StrEnum):
    UPLOADING = "UPLOADING"
    QUEUED = "QUEUED"
    PROCESSING = "PROCESSING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL_STATUSES


TERMINAL_STATUSES = frozenset({JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED})
# Waiting for their turn (the queue quota counts them): the upload still open, or queued for a slot.
WAITING_STATUSES = frozenset({JobStatus.UPLOADING, JobStatus.QUEUED})


class JobStep(StrEnum):
    """Where in the pipeline the job is; the order is the usual order, not a strict one (thumbnails
    run beside transcode)."""

    REGISTERED = "registered"
    PROBE = "probe"
    VALIDATE = "validate"
    PLAN = "plan"
    SPLIT = "split"
    TRANSCODE = "transcode"
    THUMBNAILS = "thumbnails"
    PACKAGE = "package"
    PUBLISH = "publish"


class OutputKind(StrEnum):
    HLS = "hls"
    DASH = "dash"
    MP4 = "mp4"
    THUMBNAILS = "thumbnails"
    QUALITY = "quality"  # quality.json, the per-rung report (never requested: every job with video has one)
    AUDIO = "audio"  # the default audio track as AAC-LC stereo in an M4A
    MP3 = "mp3"
    WAV16K = "wav16k"  # 16 kHz mono PCM, what speech-to-text engines read
    CAPTIONS = "captions"  # a WebVTT track added after the job completed (never requested)


AUDIO_OUTPUTS = frozenset({OutputKind.AUDIO, OutputKind.MP3, OutputKind.WAV16K})
# What needs a picture: asked of a file without video, these are refused (422) or fail the job (NoVideoStream).
VIDEO_OUTPUTS = frozenset({OutputKind.HLS, OutputKind.DASH, OutputKind.MP4, OutputKind.THUMBNAILS})


class JobKind(StrEnum):
    TRANSCODE = "transcode"  # a whole upload
    CLIP = "clip"  # a range of a source: of an earlier job's (parent_job_id), or of its own upload


class ClipMode(StrEnum):
    EXACT = "exact"  # frame-accurate: re-encoded from the first requested frame
    FAST = "fast"  # stream copy from the keyframe at or before the start: no re-encode, the start moves


class EventKind(StrEnum):
    STARTED = "started"
    FINISHED = "finished"
    FAILED = "failed"
    INFO = "info"
    REPAIRED = "repaired"  # the queue put right what was lost (lambdas/queue/scheduler.py); a job.repaired event


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Source(_Frozen):
    """The uploaded object; size and etag are known once the upload has completed."""

    bucket: Annotated[str, StringConstraints(min_length=3, max_length=63)]
    key: Annotated[str, StringConstraints(min_length=1, max_length=1024)]
    size: Annotated[int, Field(ge=0)] | None = None
    etag: str | None = None


class Upload(_Frozen):
    """The multipart upload a job waits for (jobs created through the API): the client's plan to resume by."""

    upload_id: Annotated[str, StringConstraints(min_length=1, max_length=1024)]
    file_name: Annotated[str, StringConstraints(min_length=1, max_length=255)]
    size: Annotated[int, Field(ge=1)]  # as declared; checked against the uploaded parts on completion
    content_type: str | None = None
    part_size: Annotated[int, Field(ge=1)]
    part_count: Annotated[int, Field(ge=1, le=10_000)]


class OutputFile(_Frozen):
    kind: OutputKind
    key: Annotated[str, StringConstraints(min_length=1, max_length=1024)]
    size_bytes: Annotated[int, Field(ge=0)]
    rendition: RenditionName | None = None
    duration_seconds: Annotated[float, Field(ge=0)] | None = None
    # Where to fetch it: a public job's stored at publish; a private job's signed for the caller by GET /jobs/{id}
    # (lambdas/playback), computed, never stored.
    url: str | None = None


MAX_MESSAGE = 2000


def _truncate(value: str) -> str:
    # A failure must always be recordable: a long ffmpeg stderr is cut, never rejected.
    return value if len(value) <= MAX_MESSAGE else value[: MAX_MESSAGE - 1] + "…"


Message = Annotated[str, AfterValidator(_truncate)]


class QualityMetric(StrEnum):
    VMAF = "vmaf"  # vmaf_v0.6.1, 0-100
    SSIM = "ssim"  # where the encoder's ffmpeg has no libvmaf, 0-1


class RenditionQuality(_Frozen):
    """One rung's picture quality against the source, on a sample of every chunk (details: quality.json)."""

    rendition: RenditionName
    metric: QualityMetric
    mean: float  # frame-weighted over the chunks
    min: float  # the worst frame scored
    harmonic_mean: float
    frames: Annotated[int, Field(ge=1)]  # frames scored, over every chunk


class ClipSpec(_Frozen):
    """The range of the source a clip job covers, in seconds from the source's first frame."""

    start_s: Annotated[float, Field(ge=0)]
    end_s: Annotated[float, Field(gt=0)]
    mode: ClipMode = ClipMode.EXACT

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.end_s <= self.start_s:
            raise ValueError("end_s must be after start_s")
        return self

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


class CaptionFormat(StrEnum):
    VTT = "vtt"  # WebVTT
    SRT = "srt"  # SubRip


class CaptionStatus(StrEnum):
    PENDING = "pending"  # created: waiting for its file (PUT to the upload URL, then complete)
    READY = "ready"  # checked, cleaned, stored as WebVTT and listed in the manifests


CAPTION_ID_PATTERN = r"^cap_[0-9a-z]{16}$"
CaptionId = Annotated[str, StringConstraints(pattern=CAPTION_ID_PATTERN)]


class Caption(_Frozen):
    """One caption (subtitle) track of a completed job (lambdas/api/captions.py)."""

    caption_id: CaptionId
    language: Annotated[str, StringConstraints(min_length=1, max_length=35)]  # BCP 47, conventional case
    label: Annotated[str, StringConstraints(min_length=1, max_length=100)]  # what players list
    default: bool = False  # the track players show unless the viewer picks another (at most one per job)
    format: CaptionFormat  # of the uploaded file; what is served is always WebVTT
    status: CaptionStatus = CaptionStatus.PENDING
    created_at: UtcDatetime
    ready_at: UtcDatetime | None = None
    key: Annotated[str, StringConstraints(min_length=1, max_length=1024)] | None = None  # the WebVTT file (ready)
    playlist_key: Annotated[str, StringConstraints(min_length=1, max_length=1024)] | None = None  # HLS subtitles
    url: str | None = None  # the WebVTT file on the CDN
    cue_count: Annotated[int, Field(ge=1)] | None = None
    size_bytes: Annotated[int, Field(ge=0)] | None = None
    # What cleaning took out of the uploaded file (tag names, "style", "note", "settings"…), for its owner.
    removed: tuple[str, ...] = ()


class ClipResult(_Frozen):
    """What a clip job made of its range: where the clip really starts in the source and how long it is."""

    mode: ClipMode
    start_s: Annotated[float, Field(ge=0)]  # in the source; fast: the keyframe the copy starts on
    start_shift_s: Annotated[float, Field(ge=0)] = 0.0  # how much earlier than asked it starts (fast only)
    duration_s: Annotated[float, Field(ge=0)] | None = None  # as the output measures
    file_key: str | None = None  # fast: the one file (clip.mp4, or clip.mkv for codecs MP4 cannot carry)


class AudioLoudness(_Frozen):
    """EBU R128 loudness of one mix of the audio downloads ("stereo": audio and mp3, "mono": wav16k), as loudnorm
    measured it before and after (`Job.loudnorm`); None where there is nothing to measure (silence)."""

    mix: Annotated[str, StringConstraints(pattern=r"^[a-z0-9]{1,16}$")]
    target_lufs: float
    input_lufs: float | None = None
    input_true_peak_dbtp: float | None = None
    input_lra_lu: float | None = None
    output_lufs: float | None = None
    output_true_peak_dbtp: float | None = None
    mode: Annotated[str, StringConstraints(max_length=16)]  # "linear" (one gain), "dynamic", "silent"


class JobOutputs(_Frozen):
    playback_url: str | None = None  # the HLS master playlist
    manifest_key: str | None = None
    dash_url: str | None = None  # the DASH MPD over the same CMAF segments
    dash_manifest_key: str | None = None
    files: tuple[OutputFile, ...] = ()
    encode_cpu_seconds: Annotated[float, Field(ge=0)] | None = None  # every encode process of the job, added up
    quality: tuple[RenditionQuality, ...] = ()  # per rung, largest first
    # What is missing from a completed job and why (stills, storyboard, quality report): extras never fail it.
    warnings: tuple[Message, ...] = ()
    clip: ClipResult | None = None  # a clip job's range as made


class Job(_Frozen):
    """One transcode request as the user sees it. Immutable: `transitions` derives the next one."""

    job_id: JobId
    owner: Annotated[str, StringConstraints(min_length=1, max_length=256)]
    source: Source
    status: JobStatus = JobStatus.UPLOADING
    priority: Annotated[int, Field(ge=1, le=10)] = 5
    requested_renditions: tuple[RenditionName, ...]
    requested_outputs: tuple[OutputKind, ...] = (OutputKind.HLS, OutputKind.THUMBNAILS)
    kind: JobKind = JobKind.TRANSCODE
    parent_job_id: JobId | None = None  # the job whose source a clip cuts (None: a clip of its own upload)
    clip: ClipSpec | None = None
    # The preset as resolved when the job was created (fit applied, version kept), so a retry makes exactly the
    # same outputs. None only on jobs stored before presets existed: read it with `job_preset(job)`.
    preset: Preset | None = None
    mp4_renditions: tuple[RenditionName, ...] | None = None  # rungs with a progressive MP4 (None: the middle one)
    loudnorm: bool = False  # EBU R128 two-pass loudness normalisation of the audio downloads
    private: bool = False  # playback and download URLs signed and short-lived, never public
    progress: Percent = 0
    current_step: JobStep = JobStep.REGISTERED
    rendition_progress: dict[RenditionName, Percent] = Field(default_factory=dict)
    retry_count: Annotated[int, Field(ge=0)] = 0
    max_retries: Annotated[int, Field(ge=0)] = 3
    error_type: str | None = None
    error_message: Message | None = None
    created_at: UtcDatetime
    queued_at: UtcDatetime | None = None
    started_at: UtcDatetime | None = None
    completed_at: UtcDatetime | None = None  # when it reached any terminal status
    updated_at: UtcDatetime
    outputs: JobOutputs | None = None
    metrics: dict[JobStep, Annotated[float, Field(ge=0)]] = Field(default_factory=dict)  # seconds per step
    eta_at: UtcDatetime | None = None  # when the encode should be done, from the work finished so far
    # Watchable before it completes: a growing (EVENT) playlist of the leading segments encoded so far.
    playable_at: UtcDatetime | None = None
    playable_url: str | None = None
    playable_segments: Annotated[int, Field(ge=0)] = 0
    # The audio downloads (audio, mp3, wav16k), stored by the default track's work item before the video is
    # done (an `audio.ready` event), and their loudness when normalised.
    audio_files: tuple[OutputFile, ...] = ()
    audio_ready_at: UtcDatetime | None = None
    audio_loudness: tuple[AudioLoudness, ...] = ()
    # The source's duration as ProbeSource measured it (every attempt writes it): what a clip of this job is
    # checked against.
    source_duration_s: Annotated[float, Field(ge=0)] | None = None
    execution_arn: str | None = None
    # Its estimated cost (ProbeSource, from the plan) and measured cost (PublishJob, from what ran): lambdas/cost.
    cost: JobCost | None = None
    upload: Upload | None = None
    # Caption tracks added after completion (lambdas/api/captions.py), in the order added.
    captions: tuple[Caption, ...] = ()
    # Where the owner is told that the job ended (the token's email when the job was created); never shown.
    notify_email: Annotated[str, StringConstraints(max_length=320)] | None = None
    # The optimistic lock of status changes: only transitions bump it (progress written meanwhile must not fail them).
    version: Annotated[int, Field(ge=1)] = 1
    # Every write of the job item adds one (transitions, progress, playable, the state machine's MarkFailed): what
    # a client long-polls on and what orders the job's events (lambdas/feed).
    revision: Annotated[int, Field(ge=1)] = 1

    @classmethod
    def new(
        cls,
        *,
        owner: str,
        source: Source,
        requested_renditions: tuple[str, ...],
        now: datetime,
        requested_outputs: tuple[OutputKind, ...] = (OutputKind.HLS, OutputKind.THUMBNAILS),
        priority: int = 5,
        max_retries: int = 3,
        job_id: str | None = None,
        upload: Upload | None = None,
        notify_email: str | None = None,
        **options: object,
    ) -> Job:
        """A fresh job waiting for its upload; `options` are the other fields (kind, clip, preset, private…)."""
        return cls.model_validate(
            dict(
                options,
                job_id=job_id or new_job_id(now),
                owner=owner,
                source=source,
                priority=priority,
                requested_renditions=requested_renditions,
                requested_outputs=requested_outputs,
                max_retries=max_retries,
                created_at=now,
                updated_at=now,
                upload=upload,
                notify_email=notify_email,
            )
        )

    @model_validator(mode="after")
    def _invariants(self) -> Self:
        if len(set(self.requested_renditions)) != len(self.requested_renditions):
            raise ValueError("requested_renditions has duplicates")
        if not self.requested_outputs or len(set(self.requested_outputs)) != len(self.requested_outputs):
            raise ValueError("requested_outputs must be non-empty and without duplicates")
        videos = {OutputKind.HLS, OutputKind.DASH, OutputKind.MP4} & set(self.requested_outputs)
        if videos and not self.requested_renditions:
            raise ValueError("hls or mp4 output requested without renditions")
        if self.mp4_renditions is not None and not set(self.mp4_renditions) <= set(self.requested_renditions):
            raise ValueError("mp4_renditions must be among requested_renditions")
        if (self.kind is JobKind.CLIP) != (self.clip is not None):
            raise ValueError("a clip job, and only a clip job, has a clip range")
        unknown = set(self.rendition_progress) - set(self.requested_renditions)
        if unknown:
            raise ValueError(f"progress for renditions not requested: {sorted(unknown)}")
        if self.status is JobStatus.FAILED and not self.error_type:
            raise ValueError("a FAILED job needs an error_type")
        if self.status is JobStatus.COMPLETED and self.progress != 100:
            raise ValueError("a COMPLETED job is at 100 %")
        if self.status.terminal and self.completed_at is None:
            raise ValueError("a terminal job needs completed_at")
        return self


def job_preset(job: Job) -> Preset:
    """The preset a job was made with: its stored snapshot, or the built-in default for jobs older than presets."""
    return job.preset or builtin(DEFAULT_PRESET)


class JobEvent(_Frozen):
    """One line of a job's history, shown to the user and kept for diagnosis."""

    time: UtcDatetime
    step: JobStep
    kind: EventKind
    message: Message = ""
