"""Downloads: names, the saved file name (RFC 6266/5987), the presigned link, another owner's job."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import unquote

import pytest

from lambdas.api.downloads import (
    DOWNLOAD_URL_TTL_S,
    DownloadService,
    ascii_file_name,
    content_disposition,
    downloads,
    saved_name,
)
from lambdas.api.errors import NotFound
from lambdas.jobs.model import Job, JobOutputs, OutputFile, OutputKind, Source, Upload
from tests.fakes.jobs import InMemoryJobRepository
from tests.fakes.storage import RecordingDownloadLinks

NOW = datetime(2026, 3, 1, 12, 0, 0, 500_000, tzinfo=UTC)
JOB_ID = "01J00000000000000000000000"


def job(file_name: str = "Holiday.mov", *files: OutputFile, owner: str = "alice") -> Job:
    base = Job.new(
        owner=owner,
        source=Source(bucket="uploads", key=f"uploads/{owner}/{JOB_ID}/source"),
        requested_renditions=("1080p", "720p", "480p", "360p"),
        requested_outputs=(OutputKind.HLS, OutputKind.MP4),
        now=NOW,
        job_id=JOB_ID,
        upload=Upload(
            upload_id="u1", file_name=file_name, size=10, content_type="video/quicktime", part_size=10, part_count=1
        ),
    )
    return base.model_copy(update={"outputs": JobOutputs(files=files)})


def mp4(rendition: str, size: int = 1000) -> OutputFile:
    return OutputFile(
        kind=OutputKind.MP4, key=f"outputs/{JOB_ID}/mp4/{rendition}.mp4", size_bytes=size, rendition=rendition
    )


HLS = OutputFile(kind=OutputKind.HLS, key=f"outputs/{JOB_ID}/cmaf/master.m3u8", size_bytes=100)
THUMB = OutputFile(kind=OutputKind.THUMBNAILS, key=f"outputs/{JOB_ID}/thumbnails/poster.jpg", size_bytes=100)
AUDIO = OutputFile(kind=OutputKind.AUDIO, key=f"outputs/{JOB_ID}/audio/audio.m4a", size_bytes=50)
MP3 = OutputFile(kind=OutputKind.MP3, key=f"outputs/{JOB_ID}/audio/audio.mp3", size_bytes=40)
WAV = OutputFile(kind=OutputKind.WAV16K, key=f"outputs/{JOB_ID}/audio/audio-16k.wav", size_bytes=30)


def test_every_downloadable_file_has_one_name_and_streams_are_not_downloads() -> None:
    found = downloads(job("a.mov", HLS, THUMB, mp4("1080p"), mp4("360p"), AUDIO, MP3, WAV))
    assert [(d.name, d.content_type) for d in found] == [
        ("1080p.mp4", "video/mp4"),
        ("360p.mp4", "video/mp4"),
        ("audio.m4a", "audio/mp4"),
        ("audio.mp3", "audio/mpeg"),
        ("audio-16k.wav", "audio/wav"),
    ]
    assert [d.key for d in found][:1] == [f"outputs/{JOB_ID}/mp4/1080p.mp4"]


def test_a_caption_is_named_by_its_language() -> None:
    caption = OutputFile(kind=OutputKind.CAPTIONS, key=f"outputs/{JOB_ID}/cmaf/subs/pt-BR/index.vtt", size_bytes=9)
    (found,) = downloads(job("a.mov", caption.model_copy(update={"rendition": "pt-BR"})))
    assert (found.name, found.content_type) == ("captions-pt-BR.vtt", "text/vtt")


def test_saved_name_is_the_upload_stem_and_the_download_name() -> None:
    assert saved_name(job("Holiday 2026.final.mov"), "720p.mp4") == "Holiday 2026.final-720p.mp4"
    assert saved_name(job("x" * 250 + ".mp4"), "audio.m4a") == "x" * 120 + "-audio.m4a"
    clip = job().model_copy(update={"upload": None})
    assert saved_name(clip, "720p.mp4") == f"{JOB_ID}-720p.mp4"


def test_ascii_names_are_quoted_as_they_are() -> None:
    assert content_disposition("Holiday-720p.mp4") == 'attachment; filename="Holiday-720p.mp4"'


def test_non_ascii_names_get_an_rfc_5987_filename_and_an_ascii_fallback() -> None:
    header = content_disposition("Été à Paris 東京-720p.mp4")
    fallback, extended = header.split("; filename*=")
    assert fallback == 'attachment; filename="Ete a Paris __-720p.mp4"'
    assert extended.startswith("UTF-8''")
    assert unquote(extended.removeprefix("UTF-8''")) == "Été à Paris 東京-720p.mp4"
    assert " " not in extended
    assert "'" not in extended.removeprefix("UTF-8''")


def test_characters_that_break_a_quoted_string_or_a_file_system_are_replaced() -> None:
    assert ascii_file_name('say "hi" \\ 50%: a/b?.mp4') == "say _hi_ _ 50__ a_b_.mp4"
    header = content_disposition('say "hi".mp4')
    assert header.count('"') == 2  # the quoted-string is never broken open


def service(*jobs: Job) -> tuple[DownloadService, RecordingDownloadLinks]:
    repository = InMemoryJobRepository(clock=lambda: NOW)
    for one in jobs:
        repository.create(one)
    links = RecordingDownloadLinks()
    return DownloadService(repository, links, "outputs-bucket", clock=lambda: NOW), links


def test_a_link_is_presigned_with_the_saved_name_and_expires_soon() -> None:
    downloads_service, links = service(job("Été.mov", mp4("720p", 1234)))
    link = downloads_service.link("alice", JOB_ID, "720p.mp4")
    assert link.file_name == "Été-720p.mp4"
    assert link.size_bytes == 1234
    assert link.expires_at == NOW.replace(microsecond=0) + timedelta(seconds=DOWNLOAD_URL_TTL_S)
    (signed,) = links.signed
    assert signed == {
        "bucket": "outputs-bucket",
        "key": f"outputs/{JOB_ID}/mp4/720p.mp4",
        "expires_in": DOWNLOAD_URL_TTL_S,
        "disposition": "attachment; filename=\"Ete-720p.mp4\"; filename*=UTF-8''%C3%89t%C3%A9-720p.mp4",
        "type": "video/mp4",
    }
    assert DOWNLOAD_URL_TTL_S <= 900  # short-lived


def test_the_list_names_every_download_with_its_saved_name() -> None:
    downloads_service, links = service(job("Holiday.mov", HLS, mp4("720p"), AUDIO))
    listing = downloads_service.list("alice", JOB_ID)
    assert [(d.name, d.file_name) for d in listing.downloads] == [
        ("720p.mp4", "Holiday-720p.mp4"),
        ("audio.m4a", "Holiday-audio.m4a"),
    ]
    assert not links.signed  # listing signs nothing


def test_an_unknown_name_is_404_naming_what_there_is() -> None:
    downloads_service, _ = service(job("a.mov", mp4("720p")))
    with pytest.raises(NotFound, match=r"no download '1080p.mp4' \(it has: 720p.mp4\)") as raised:
        downloads_service.link("alice", JOB_ID, "1080p.mp4")
    assert raised.value.field == "name"


def test_another_owners_job_is_not_found() -> None:
    downloads_service, links = service(job("a.mov", mp4("720p"), owner="bob"))
    with pytest.raises(NotFound):
        downloads_service.link("alice", JOB_ID, "720p.mp4")
    with pytest.raises(NotFound):
        downloads_service.list("alice", JOB_ID)
    assert not links.signed


def test_a_caption_is_named_by_the_language_its_owner_gave() -> None:
    from lambdas.jobs.model import Caption

    key = f"outputs/{JOB_ID}/cmaf/captions/c1.vtt"
    caption = Caption.model_validate(
        {"caption_id": "cap_0123456789abcdef", "language": "fr-CA", "label": "Français", "format": "srt",
         "created_at": NOW, "key": key}
    )  # fmt: skip
    with_caption = job("a.mov", OutputFile(kind=OutputKind.CAPTIONS, key=key, size_bytes=9))
    (found,) = downloads(with_caption.model_copy(update={"captions": (caption,)}))
    assert found.name == "captions-fr-CA.vtt"


def test_audio_downloads_are_listed_as_soon_as_they_are_stored() -> None:
    early = job("a.mov").model_copy(update={"audio_files": (AUDIO, WAV)})
    assert [d.name for d in downloads(early)] == ["audio.m4a", "audio-16k.wav"]


@pytest.mark.parametrize(
    ("key", "name", "content_type"),
    [("clip/clip.mp4", "clip.mp4", "video/mp4"), ("clip/clip.mkv", "clip.mkv", "video/x-matroska")],
)
def test_a_fast_clips_copy_keeps_its_container(key: str, name: str, content_type: str) -> None:
    copied = OutputFile(kind=OutputKind.MP4, key=f"outputs/{JOB_ID}/{key}", size_bytes=10)
    [found] = downloads(job("a.mov", copied))
    assert (found.name, found.content_type, found.rendition) == (name, content_type, None)
