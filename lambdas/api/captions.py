"""Captions of a completed job: created with a presigned upload, completed (checked, cleaned, converted to WebVTT
and added to the HLS master and the DASH MPD, no video touched), listed and deleted."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import timedelta
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from lambdas import keys
from lambdas.api.access import owned_job
from lambdas.api.errors import Conflict, InvalidInput, NotFound, Unavailable, unavailable
from lambdas.api.models import _Request, _Response
from lambdas.captions.language import InvalidLanguageTag, language_tag
from lambdas.captions.ports import CaptionFiles
from lambdas.captions.webvtt import MAX_CAPTION_BYTES, CaptionRejected, read_caption
from lambdas.jobs.model import (
    Caption,
    CaptionFormat,
    CaptionStatus,
    Clock,
    EventKind,
    Job,
    JobEvent,
    JobStatus,
    JobStep,
    OutputFile,
    OutputKind,
    UtcDatetime,
    utc_now,
)
from lambdas.jobs.ports import ConcurrentUpdate, JobRepository
from lambdas.media.subtitles import (
    SubtitleTrack,
    master_with_subtitles,
    mpd_duration,
    mpd_with_subtitles,
    subtitle_playlist,
    unique_names,
)
from lambdas.pipeline.config import CACHE_MEDIA, CACHE_PLAYLIST
from lambdas.storage.ports import ObjectNotFound

MAX_CAPTIONS_PER_JOB = 20
CAPTION_UPLOAD_EXPIRY_S = 300  # a caption file is small: five minutes to PUT it
MAX_LABEL_CHARS = 100
_ATTEMPTS = 5
_VTT = "text/vtt; charset=utf-8"
_M3U8 = "application/vnd.apple.mpegurl"
_MPD = "application/dash+xml"
_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"


class CaptionConfig(BaseModel):
    model_config = ConfigDict(frozen=True)

    uploads_bucket: str
    outputs_bucket: str
    playback_base_url: str
    upload_expiry_seconds: Annotated[int, Field(ge=1, le=3600)] = CAPTION_UPLOAD_EXPIRY_S
    max_captions: Annotated[int, Field(ge=1)] = MAX_CAPTIONS_PER_JOB


class CreateCaption(_Request):
    """A caption track to add to a completed job; its file is PUT to the answer's `upload_url`."""

    language: Annotated[str, Field(min_length=1, max_length=35)] = Field(
        description="BCP 47 language tag of the text (en, pt-BR, zh-Hant, sgn-ase…)."
    )
    label: Annotated[str, Field(min_length=1, max_length=MAX_LABEL_CHARS)] | None = Field(
        None, description="What players list; null: the language tag. Made unique among the job's captions."
    )
    format: Literal["vtt", "srt"] = Field("vtt", description="Of the file to upload: WebVTT or SubRip.")
    default: bool = Field(False, description="Shown unless the viewer picks another; at most one per job.")


class CaptionCreated(_Response):
    caption: Caption
    upload_url: str = Field(description="PUT the file here (any Content-Type), then complete the caption.")
    expires_at: UtcDatetime


class CaptionList(_Response):
    captions: list[Caption]


def new_caption_id() -> str:
    return "cap_" + "".join(secrets.choice(_ALPHABET) for _ in range(16))


class CaptionService:
    def __init__(
        self,
        repository: JobRepository,
        files: CaptionFiles,
        config: CaptionConfig,
        *,
        clock: Clock = utc_now,
        new_id: Callable[[], str] = new_caption_id,
    ) -> None:
        self._repository, self._files, self._config = repository, files, config
        self._clock, self._new_id = clock, new_id

    # --- create ----------------------------------------------------------------------------------

    def create(self, owner: str, job_id: str, request: CreateCaption) -> CaptionCreated:
        """A PENDING caption on the job and a short-lived URL to PUT its file to (the caller's own prefix)."""
        try:
            language = language_tag(request.language)
        except InvalidLanguageTag as error:
            raise InvalidInput(str(error), field="language") from None
        label = (request.label or language).strip()
        if not label or not label.isprintable() or '"' in label:
            raise InvalidInput("label: printable text without double quotes", field="label")
        now = self._clock()
        caption = Caption(
            caption_id=self._new_id(),
            language=language,
            label=label,
            default=request.default,
            format=CaptionFormat(request.format),
            created_at=now,
        )

        def add(job: Job) -> tuple[Caption, ...]:
            _captionable(job)
            if len(job.captions) >= self._config.max_captions:
                raise Conflict(f"job {job_id} has {len(job.captions)} captions, the most a job takes: delete one first")
            return (*job.captions, caption)

        job = self._update(owner, job_id, add)
        key = keys.caption_source_key(owner, job.job_id, caption.caption_id)
        expiry = self._config.upload_expiry_seconds
        with unavailable():
            url = self._files.presign_put(self._config.uploads_bucket, key, expires_in=expiry)
        self._event(job_id, f"caption {caption.caption_id} ({language}) created: waiting for its file")
        return CaptionCreated(caption=caption, upload_url=url, expires_at=now + timedelta(seconds=expiry))

    # --- complete --------------------------------------------------------------------------------

    def complete(self, owner: str, job_id: str, caption_id: str) -> Caption:
        """The uploaded file checked, cleaned and stored as WebVTT, then listed in the job's manifests.

        422 (field `file`, the message names the line) for a file that cannot be a caption track. Completing a
        READY caption again answers it as it is.
        """
        job = self._get(owner, job_id)
        caption = _caption_of(job, caption_id)
        if caption.status is CaptionStatus.READY:
            return caption
        _captionable(job)
        source = keys.caption_source_key(owner, job_id, caption_id)
        try:
            with unavailable():
                data = self._files.read(self._config.uploads_bucket, source, max_bytes=MAX_CAPTION_BYTES)
        except ObjectNotFound:
            raise Conflict(
                f"caption {caption_id}: no file has been uploaded (PUT it to the upload URL first)", field="file"
            ) from None
        video_s = self._duration(job)
        try:
            track = read_caption(data, caption.format, duration_s=video_s)
        except CaptionRejected as error:
            raise InvalidInput(str(error), field="file") from None
        vtt = track.render().encode()
        master = _manifest_key(job)
        prefix = keys.caption_prefix(master, caption_id)
        vtt_key, playlist_key = prefix + keys.CAPTION_FILE, prefix + keys.MEDIA_PLAYLIST
        duration = video_s or max(cue.end_s for cue in track.cues)
        with unavailable():
            # Immutable once written: a caption's id is never reused, so the CDN may keep them for a day.
            self._files.write(self._config.outputs_bucket, vtt_key, vtt, content_type=_VTT, cache_control=CACHE_MEDIA)
            self._files.write(
                self._config.outputs_bucket,
                playlist_key,
                subtitle_playlist(keys.CAPTION_FILE, duration).encode(),
                content_type=_M3U8,
                cache_control=CACHE_MEDIA,
            )
        ready = caption.model_copy(
            update={
                "status": CaptionStatus.READY,
                "ready_at": self._clock(),
                "key": vtt_key,
                "playlist_key": playlist_key,
                "url": f"{self._config.playback_base_url.rstrip('/')}/{vtt_key}",
                "cue_count": len(track.cues),
                "size_bytes": len(vtt),
                "removed": tuple(sorted(track.removed)),
            }
        )

        def mark_ready(current: Job) -> tuple[Caption, ...]:
            _caption_of(current, caption_id)  # deleted meanwhile: 404
            return _with_default(tuple(ready if c.caption_id == caption_id else c for c in current.captions), ready)

        job = self._update(owner, job_id, mark_ready)
        self._publish(job)
        with unavailable():
            self._files.delete(self._config.uploads_bucket, source)
        removed = f"; removed: {', '.join(ready.removed)}" if ready.removed else ""
        self._event(job_id, f"caption {caption_id} ({ready.language}) ready: {len(track.cues)} cues{removed}")
        return _caption_of(job, caption_id)

    # --- list and delete -------------------------------------------------------------------------

    def list(self, owner: str, job_id: str) -> list[Caption]:
        return list(self._get(owner, job_id).captions)

    def delete(self, owner: str, job_id: str, caption_id: str) -> None:
        """The caption gone from the job, its manifests and its files."""
        caption = _caption_of(self._get(owner, job_id), caption_id)

        def remove(current: Job) -> tuple[Caption, ...]:
            _caption_of(current, caption_id)
            return tuple(c for c in current.captions if c.caption_id != caption_id)

        job = self._update(owner, job_id, remove)
        if caption.status is CaptionStatus.READY:
            self._publish(job)
        with unavailable():
            for key in (caption.key, caption.playlist_key):
                if key:
                    self._files.delete(self._config.outputs_bucket, key)
            self._files.delete(self._config.uploads_bucket, keys.caption_source_key(owner, job_id, caption_id))
        self._event(job_id, f"caption {caption_id} ({caption.language}) deleted")

    # --- helpers ---------------------------------------------------------------------------------

    def _get(self, owner: str, job_id: str) -> Job:
        return owned_job(self._repository, owner, job_id)

    def _update(self, owner: str, job_id: str, change: Callable[[Job], tuple[Caption, ...]]) -> Job:
        """The job with `change(job)` as its captions (and its CAPTIONS output files to match), stored only over
        the revision it was computed from: a concurrent caption change is read and the change redone."""
        for _ in range(_ATTEMPTS):
            job = self._get(owner, job_id)
            captions = change(job)
            try:
                with unavailable():
                    return self._repository.save_captions(job, captions, _caption_files(job, captions))
            except ConcurrentUpdate:
                continue
        raise Unavailable(f"job {job_id} kept changing; try again")

    def _publish(self, job: Job) -> None:
        """The manifests rewritten to list exactly the job's ready captions. Run after every stored change,
        from the job as stored: of two concurrent changes, the later write lists both (each one re-reads)."""
        for _ in range(_ATTEMPTS):
            self._write_manifests(job)
            latest = self._get(job.owner, job.job_id)
            if latest.captions == job.captions:
                return
            job = latest  # changed while we wrote: write again from what is stored now
        raise Unavailable(f"job {job.job_id}: captions kept changing while the manifests were written; try again")

    def _write_manifests(self, job: Job) -> None:
        ready = [c for c in job.captions if c.status is CaptionStatus.READY]
        master_key = _manifest_key(job)
        base = master_key.rsplit("/", 1)[0] + "/"
        names = unique_names([c.label for c in ready])
        tracks = [
            SubtitleTrack(
                track_id=c.caption_id,
                language=c.language,
                name=name,
                default=c.default,
                playlist_uri=(c.playlist_key or "").removeprefix(base),
                vtt_uri=(c.key or "").removeprefix(base),
                size_bytes=c.size_bytes or 0,
            )
            for c, name in zip(ready, names, strict=True)
        ]
        bucket = self._config.outputs_bucket
        with unavailable():
            master = self._files.read(bucket, master_key, max_bytes=MAX_MANIFEST_BYTES).decode()
            self._files.write(
                bucket,
                master_key,
                master_with_subtitles(master, tracks).encode(),
                content_type=_M3U8,
                cache_control=CACHE_PLAYLIST,
            )
            dash_key = job.outputs.dash_manifest_key if job.outputs else None
            if dash_key:
                mpd = self._files.read(bucket, dash_key, max_bytes=MAX_MANIFEST_BYTES).decode()
                self._files.write(
                    bucket, dash_key, mpd_with_subtitles(mpd, tracks).encode(), content_type=_MPD,
                    cache_control=CACHE_PLAYLIST,
                )  # fmt: skip

    def _duration(self, job: Job) -> float | None:
        """The presentation's duration: the MPD's, else the longest output file's; None if neither says."""
        outputs = job.outputs
        if outputs and outputs.dash_manifest_key:
            try:
                with unavailable():
                    mpd = self._files.read(
                        self._config.outputs_bucket, outputs.dash_manifest_key, max_bytes=MAX_MANIFEST_BYTES
                    )
                seconds = mpd_duration(mpd.decode())
                if seconds > 0:
                    return seconds
            except ObjectNotFound:
                pass
        durations = [f.duration_seconds for f in (outputs.files if outputs else ()) if f.duration_seconds]
        return max(durations) if durations else None

    def _event(self, job_id: str, message: str) -> None:
        with unavailable():
            self._repository.append_event(
                job_id, JobEvent(time=self._clock(), step=JobStep.PUBLISH, kind=EventKind.INFO, message=message)
            )


MAX_MANIFEST_BYTES = 4 * 2**20


def _captionable(job: Job) -> None:
    if job.status is not JobStatus.COMPLETED:
        raise Conflict(f"job {job.job_id} is {job.status}: only a COMPLETED job takes captions")
    _manifest_key(job)


def _manifest_key(job: Job) -> str:
    if job.outputs is None or not job.outputs.manifest_key:
        raise Conflict(f"job {job.job_id} has no HLS stream to add captions to")
    return job.outputs.manifest_key


def _caption_of(job: Job, caption_id: str) -> Caption:
    for caption in job.captions:
        if caption.caption_id == caption_id:
            return caption
    raise NotFound(f"caption {caption_id} of job {job.job_id} not found")


def _with_default(captions: tuple[Caption, ...], chosen: Caption) -> tuple[Caption, ...]:
    """At most one default: a new default caption takes it from the others."""
    if not chosen.default:
        return captions
    return tuple(
        c if c.caption_id == chosen.caption_id or not c.default else c.model_copy(update={"default": False})
        for c in captions
    )


def _caption_files(job: Job, captions: tuple[Caption, ...]) -> tuple[OutputFile, ...]:
    """The job's output files with one CAPTIONS entry per ready caption (and no stale one)."""
    kept = tuple(f for f in (job.outputs.files if job.outputs else ()) if f.kind is not OutputKind.CAPTIONS)
    return kept + tuple(
        OutputFile(kind=OutputKind.CAPTIONS, key=c.key, size_bytes=c.size_bytes or 0)
        for c in captions
        if c.status is CaptionStatus.READY and c.key
    )
