"""Watchable before it completes: growing (EVENT) HLS playlists over the leading chunks encoded so far.

Written at the same keys as the final playlists, which PackageOutputs later replaces with VOD ones (a
player reloading an EVENT playlist then finds its end). A preview plays the default audio track only; the
other languages come with the final master. Only the worker whose claim raises the job's
`playable_segments` writes; it reads the claim back afterwards and writes again if a later claim may have
landed before its own upload, so the stored playlists never stay behind the claim.
"""

from __future__ import annotations

from pathlib import Path

from lambdas import keys
from lambdas.jobs.ports import JobNotProcessing, JobRepository
from lambdas.media.manifests import AudioTrack, VideoTrack, master_playlist, media_playlist
from lambdas.pipeline.config import CACHE_LIVE_PLAYLIST, PipelineConfig
from lambdas.pipeline.job_guard import stopped, withdrawn_if_stopped
from lambdas.pipeline.plan import EncodePlan, ItemResult, load_result
from lambdas.pipeline.tracks import assemble, leading_chunks
from lambdas.storage.ports import MediaStore

HLS = "application/vnd.apple.mpegurl"
_MAX_ROUNDS = 3


def playback_url(config: PipelineConfig, job_id: str, *, private: bool = False) -> str:
    """A private job's is not playable as it is: the API answers it signed (lambdas/playback), per request."""
    return f"{config.playback_base_url.rstrip('/')}/{keys.master_key(job_id, private=private)}"


def publish_preview(
    plan: EncodePlan,
    done: frozenset[str],
    *,
    repository: JobRepository,
    store: MediaStore,
    config: PipelineConfig,
    tmp: Path,
    private: bool = False,
) -> int:
    """Publish the leading finished chunks if that is more than already published; the segments now watchable."""
    published = 0
    for _ in range(_MAX_ROUNDS):
        chunks = leading_chunks(plan, done)
        if chunks == 0 or chunks == len(plan.chunks.chunks):
            return published  # nothing watchable yet, or everything: PackageOutputs writes the VOD playlists
        segments = sum(c.segments for c in plan.chunks.chunks[:chunks])
        try:
            claimed = repository.mark_playable(
                plan.job_id, segments, playback_url(config, plan.job_id, private=private)
            )
            if not claimed and (not published or repository.get(plan.job_id).playable_segments > segments):
                # Another worker claimed as much or more and writes; or, after our own write, a larger
                # claim exists whose upload may have landed before ours: rewrite with what is done now.
                return published
            prefix = keys.stream_prefix(plan.job_id, private=private)
            with withdrawn_if_stopped(repository, store, plan.job_id, config.outputs_bucket, prefix):
                _write(plan, chunks, store, config, tmp, private=private)
            published = segments
            if repository.get(plan.job_id).playable_segments <= segments:
                return published
        except JobNotProcessing as error:
            raise stopped(error) from None
        done = repository.work_done(plan.job_id, plan.attempt)  # a later claim may have been overwritten
    return published


def _write(
    plan: EncodePlan, chunks: int, store: MediaStore, config: PipelineConfig, tmp: Path, *, private: bool = False
) -> None:
    wanted = {c.index for c in plan.chunks.chunks[:chunks]}
    results: dict[str, ItemResult] = {}
    for item in plan.chunks.items:
        # `leading_chunks` waited for these: the leading chunks and the default audio track.
        if item.item_id == keys.AUDIO_TRACK or item.chunk in wanted:
            results[item.item_id] = load_result(store, config.work_bucket, plan, item, tmp)
    videos, audio = assemble(plan, results, chunks=chunks)
    bucket, job_id = config.outputs_bucket, plan.job_id
    tracks: list[VideoTrack | AudioTrack] = [*videos, *audio]
    documents = [
        (
            keys.track_prefix(job_id, t.name, private=private) + keys.MEDIA_PLAYLIST,
            media_playlist(t.init_uri, t.segments, ended=False),
        )
        for t in tracks
    ]
    documents.append(
        (keys.master_key(job_id, private=private), master_playlist(videos, audio))
    )  # last: it points at the others
    for key, text in documents:
        path = tmp / "playlist.m3u8"
        path.write_text(text)
        store.upload(path, bucket, key, content_type=HLS, cache_control=CACHE_LIVE_PLAYLIST)
        path.unlink()
