"""Private jobs' URLs: signed per request, never stored, all expiring together; and the play endpoint's answer."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Annotated
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, Field

from lambdas import keys
from lambdas.jobs.model import Clock, Job, OutputKind, utc_now
from lambdas.playback.ports import ManifestReader, UrlSigner
from lambdas.playback.rewrite import rewrite_dash, rewrite_hls
from lambdas.playback.tokens import PlayTokens

DEFAULT_URL_TTL_S = 900
HLS = "application/vnd.apple.mpegurl"
DASH = "application/dash+xml"
# Manifests go through the play endpoint (their URIs are rewritten), everything else straight to the signer.
_MANIFEST_KINDS = frozenset({OutputKind.HLS, OutputKind.DASH})


class PlaybackConfig(BaseModel):
    model_config = ConfigDict(frozen=True)

    play_base_url: str  # the API stage as players reach it: {play_base_url}/play/{job_id}/{file}
    # How long a private job's links stay valid to start watching; the video's own duration is added, so a
    # player that starts within this time can watch to the end on the URLs of one manifest.
    url_ttl_s: Annotated[int, Field(ge=10, le=24 * 3600)] = DEFAULT_URL_TTL_S


@dataclass(frozen=True)
class Served:
    content_type: str
    body: str


class PrivatePlayback:
    def __init__(
        self,
        config: PlaybackConfig,
        signer: UrlSigner,
        tokens: Callable[[], PlayTokens],
        manifests: ManifestReader,
        *,
        clock: Clock = utc_now,
    ) -> None:
        """`tokens` is called on first use (the key is a secret read then)."""
        self._config, self._signer, self._tokens, self._manifests, self._clock = (
            config,
            signer,
            tokens,
            manifests,
            clock,
        )

    def expiry(self, job: Job) -> datetime:
        """When a link handed out now for `job` stops working (whole seconds: the token carries Unix seconds)."""
        duration = max((f.duration_seconds or 0.0 for f in job.outputs.files), default=0.0) if job.outputs else 0.0
        at = self._clock() + timedelta(seconds=self._config.url_ttl_s + duration)
        return datetime.fromtimestamp(int(at.timestamp()), UTC)

    def play_url(self, job_id: str, file: str, expires_at: datetime) -> str:
        token = self._tokens().issue(job_id, file, expires_at)
        base = self._config.play_base_url.rstrip("/")
        return f"{base}/play/{job_id}/{quote(file, safe='/')}?{token.query()}"

    def media_url(self, job_id: str, file: str, expires_at: datetime) -> str:
        return self._signer.sign(keys.output_prefix(job_id, private=True) + file, expires_at)

    def urls(self, job: Job, expires_at: datetime | None = None) -> dict[str, str]:
        """Every output of a private job by its key: manifests on the play endpoint, other files signed."""
        if not job.private or job.outputs is None:
            return {}
        expires_at = expires_at or self.expiry(job)
        found: dict[str, str] = {}
        stored = [(f.key, f.kind) for f in job.outputs.files]
        stored += [(k, OutputKind.HLS) for k in (job.outputs.manifest_key,) if k]
        stored += [(k, OutputKind.DASH) for k in (job.outputs.dash_manifest_key,) if k]
        root = keys.output_prefix(job.job_id, private=True)
        for key, kind in stored:
            if not key.startswith(root):
                continue  # not a private output (nothing the pipeline writes): no link rather than a wrong one
            file = keys.job_file(job.job_id, key, private=True)
            if kind in _MANIFEST_KINDS and file.endswith((".m3u8", ".mpd")):
                found[key] = self.play_url(job.job_id, file, expires_at)
            else:
                found[key] = self.media_url(job.job_id, file, expires_at)
        return found

    def signed_job(self, job: Job) -> Job:
        """`job` as its owner sees it: a private job's playback, DASH, preview and file URLs signed now."""
        if not job.private:
            return job
        expires_at = self.expiry(job)
        update: dict[str, object] = {}
        if job.playable_url:
            master = keys.job_file(job.job_id, keys.master_key(job.job_id, private=True), private=True)
            update["playable_url"] = self.play_url(job.job_id, master, expires_at)
        if job.outputs is not None:
            urls = self.urls(job, expires_at)
            outputs = job.outputs
            update["outputs"] = outputs.model_copy(
                update={
                    "playback_url": urls.get(outputs.manifest_key or ""),
                    "dash_url": urls.get(outputs.dash_manifest_key or ""),
                    "files": tuple(f.model_copy(update={"url": urls.get(f.key)}) for f in outputs.files),
                }
            )
        return job.model_copy(update=update)

    def serve(self, job_id: str, file: str, exp: str | None, sig: str | None) -> Served:
        """The manifest at `file` with its URIs signed to expire with the request's own token.

        TokenRejected/TokenExpired (403), ManifestNotFound (404), PlaybackUnavailable (503)."""
        self._tokens().verify(job_id, file, exp, sig, self._clock())
        expires_at = datetime.fromtimestamp(int(exp or 0), UTC)
        text = self._manifests.read(keys.output_prefix(job_id, private=True) + file)
        root, stream = keys.output_prefix(job_id, private=True), keys.stream_prefix(job_id, private=True)
        # One signature for the whole stream where the signer has it (CloudFront), else one per file (S3); made
        # on first use (a master playlist lists only playlists: it needs none).
        grant = cache(lambda: self._signer.sign_prefix(stream, expires_at))

        def media(path: str) -> str:
            found = grant()
            if found is not None and (root + path).startswith(stream):
                return found.url(root + path)
            return self.media_url(job_id, path, expires_at)

        if file.endswith(".mpd"):
            return Served(DASH, rewrite_dash(text, file, media=media, template=media if grant() else None))

        def playlist(path: str) -> str:
            return self.play_url(job_id, path, expires_at)

        return Served(HLS, rewrite_hls(text, file, media=media, playlist=playlist))
