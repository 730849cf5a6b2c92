"""The job's CMAF tracks as the manifests describe them, assembled from the work items' results."""

from __future__ import annotations

from collections.abc import Mapping

from lambdas import keys
from lambdas.media.manifests import AudioTrack, Segment, VideoTrack
from lambdas.pipeline.plan import EncodePlan, ItemResult, SegmentResult, TrackResult


def leading_chunks(plan: EncodePlan, done: frozenset[str]) -> int:
    """How many chunks from the start have every item finished (0 while the default audio track is not).

    The other audio tracks are not waited for: a preview plays the default track only (the final master
    lists them all), and each is a whole-source encode that would only hold the first picture back.
    """
    if plan.audio and keys.AUDIO_TRACK not in done:
        return 0
    count = 0
    for chunk in plan.chunks.chunks:
        items = [i for i in plan.chunks.items if i.chunk == chunk.index]
        if not all(i.item_id in done for i in items):
            break
        count += 1
    return count


def assemble(
    plan: EncodePlan, results: Mapping[str, ItemResult], *, chunks: int | None = None
) -> tuple[list[VideoTrack], list[AudioTrack]]:
    """Video tracks in ladder order (largest first) over the first `chunks` chunks (None: all), and the
    audio tracks of the results given, the default first; with `chunks`, audio no longer than the video."""
    wanted = plan.chunks.chunks if chunks is None else plan.chunks.chunks[:chunks]
    indexes = {c.index for c in wanted}
    parts: dict[str, list[TrackResult]] = {r.name: [] for r in plan.renditions}
    first: dict[str, TrackResult] = {}
    audio_results: dict[str, TrackResult] = {}
    audio_names = {choice.track for choice in plan.audio}
    for item in plan.chunks.items:
        result = results.get(item.item_id)
        if result is None:
            continue
        for name, track in result.tracks.items():
            if name in audio_names:
                audio_results[name] = track
            elif item.chunk in indexes:
                parts[name].append(track)
                if item.chunk == 0:
                    first[name] = track
    videos = []
    end_ticks: list[float] = []
    for rendition in plan.renditions:
        head = first.get(rendition.name)
        segments = sorted((s for t in parts[rendition.name] for s in t.segments), key=lambda s: s.number)
        if head is None or not segments:
            continue
        timescale = head.timescale
        videos.append(
            VideoTrack(
                name=rendition.name,
                uri_prefix=f"{rendition.name}/",
                init_uri=f"{rendition.name}/{keys.INIT_SEGMENT}",
                playlist_uri=f"{rendition.name}/{keys.MEDIA_PLAYLIST}",
                timescale=timescale,
                width=head.width or rendition.width,
                height=head.height or rendition.height,
                frame_rate=plan.chunks.frame_rate,
                codec=head.codec or "avc1.640028",
                segments=tuple(_segment(rendition.name, s, timescale) for s in segments),
            )
        )
        end_ticks.append((segments[-1].start_ticks + segments[-1].ticks) / timescale)
    end = min(end_ticks) if chunks is not None and end_ticks else None
    reference = plan.renditions[0]
    audio = []
    for choice in plan.audio:
        sound = audio_results.get(choice.track)
        if sound is None:
            continue
        segments = [s for s in sound.segments if end is None or s.start_ticks / sound.timescale < end - 1e-6]
        audio.append(
            AudioTrack(
                name=choice.track,
                label=choice.name,
                init_uri=f"{choice.track}/{keys.INIT_SEGMENT}",
                playlist_uri=f"{choice.track}/{keys.MEDIA_PLAYLIST}",
                timescale=sound.timescale,
                codec=sound.codec or "mp4a.40.2",
                sample_rate=reference.audio_sample_rate,
                channels=reference.audio_channels,
                language=choice.language,
                segments=tuple(_segment(choice.track, s, sound.timescale) for s in segments),
            )
        )
    return videos, audio


def _segment(track: str, s: SegmentResult, timescale: int) -> Segment:
    return Segment(
        uri=f"{track}/{keys.segment_name(s.number)}",
        duration_s=s.ticks / timescale,
        ticks=s.ticks,
        start_ticks=s.start_ticks,
        bytes=s.bytes,
    )
