"""What a request resolves to against the presets: the job's preset snapshot, rungs, outputs and options."""

from __future__ import annotations

import pytest

from lambdas.api.errors import InvalidInput
from lambdas.api.models import CreateUpload
from lambdas.api.outputs import resolve_outputs
from lambdas.jobs.model import OutputKind
from lambdas.media.ladder import Rung
from lambdas.media.presets import Preset, PresetCatalog

CATALOG = PresetCatalog()


def request(**fields: object) -> CreateUpload:
    return CreateUpload.model_validate({"file_name": "a.mp4", "size": 10, **fields})


def test_nothing_asked_is_the_web_preset_with_todays_outputs() -> None:
    spec = resolve_outputs(request(), CATALOG)
    assert spec.preset.name == "web"
    assert spec.requested_renditions == ("1080p", "720p", "480p", "360p")
    assert spec.requested_outputs == (OutputKind.HLS, OutputKind.MP4, OutputKind.THUMBNAILS)
    assert spec.mp4_renditions is None


def test_renditions_are_kept_largest_first_whatever_the_order_asked() -> None:
    spec = resolve_outputs(request(renditions=["360p", "1080p"]), CATALOG)
    assert spec.requested_renditions == ("1080p", "360p")


def test_a_fit_is_stored_in_the_snapshot() -> None:
    spec = resolve_outputs(request(preset="vertical", fit="crop"), CATALOG)
    assert (spec.preset.name, spec.preset.version, spec.preset.fit) == ("vertical", 1, "crop")
    assert spec.requested_renditions == ("1080x1920", "720x1280")


def test_an_audio_file_may_ask_for_audio_outputs_only() -> None:
    upload = request(file_name="talk.MP3", outputs=["audio", "wav16k"], loudnorm=True)
    assert upload.audio_file
    spec = resolve_outputs(upload, CATALOG, audio_file=upload.audio_file)
    assert spec.requested_outputs == (OutputKind.AUDIO, OutputKind.WAV16K)
    assert spec.requested_renditions == ()
    assert spec.loudnorm
    with pytest.raises(InvalidInput, match="no picture") as refused:
        resolve_outputs(request(file_name="talk.mp3", outputs=["hls"]), CATALOG, audio_file=True)
    assert refused.value.field == "outputs"


def test_the_audio_preset_on_a_video_makes_sound_only() -> None:
    spec = resolve_outputs(request(preset="audio"), CATALOG)
    assert spec.requested_outputs == (OutputKind.AUDIO,)
    assert spec.requested_renditions == ()


def test_mp4_renditions_are_among_the_renditions_made() -> None:
    spec = resolve_outputs(request(mp4_renditions=["360p", "1080p"]), CATALOG)
    assert spec.mp4_renditions == ("1080p", "360p")


def test_a_deployers_preset_is_offered_beside_the_builtins() -> None:
    mine = Preset(
        name="preview",
        version=3,
        rungs=(Rung(name="240p", short_side=240, maxrate_kbps=300),),
        outputs=("hls",),
    )
    spec = resolve_outputs(request(preset="preview"), PresetCatalog([mine]))
    assert (spec.preset.version, spec.requested_renditions) == (3, ("240p",))
    with pytest.raises(ValueError, match="taken by a built-in"):
        PresetCatalog([mine.model_copy(update={"name": "web"})])


def test_private_needs_a_signing_key() -> None:
    with pytest.raises(InvalidInput) as refused:
        resolve_outputs(request(private=True), CATALOG, private_supported=False)
    assert refused.value.field == "private"
    assert resolve_outputs(request(private=True), CATALOG, private_supported=True).private
