"""The deployment's limits checked against each other: the defaults hold, and each breach names what to change."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import pytest
from pydantic import ValidationError

from lambdas.media.chunking import DEFAULT_MAX_PIECE_BYTES, WorkerBudget, output_rate, plan_chunks
from lambdas.media.errors import PolicyViolation
from lambdas.media.ladder import DEFAULT_LADDER
from stacks import config as limits
from stacks.config import DeploymentConfig

MIB = 2**20
GIB = 2**30
MARGIN = 256 * MIB
CDK_JSON = Path(__file__).parents[2] / "cdk.json"

Check = Callable[[DeploymentConfig], str | None]


def checked(**settings: Any) -> DeploymentConfig:
    """A config validated as the app validates its context."""
    return DeploymentConfig.model_validate(settings)


def unchecked(**settings: Any) -> DeploymentConfig:
    """A config taken as given (defaults for the rest), so that one check can be exercised alone."""
    return DeploymentConfig.model_construct(**settings)


def mib_needed(n_bytes: int) -> int:
    return math.ceil(n_bytes / MIB)


# --- The defaults


def test_default_config_is_consistent() -> None:
    assert limits.problems(DeploymentConfig.from_context(None)) == []


def test_the_context_in_cdk_json_is_consistent() -> None:
    context = json.loads(CDK_JSON.read_text())["context"]["vodpipe"]
    assert limits.problems(DeploymentConfig.from_context(context)) == []


def test_every_check_runs_on_the_defaults() -> None:
    # A check missing from CHECKS would pass every config silently.
    names = {name for name in dir(limits) if name.startswith("check_")}
    assert {check.__name__ for check in limits.CHECKS} == names
    assert len(names) == 9


# --- The arithmetic, against numbers worked out by hand


def test_what_each_limit_needs_by_hand() -> None:
    assert DEFAULT_MAX_PIECE_BYTES == GIB  # the numbers below assume it
    # 2 h of 48 kHz stereo 16-bit PCM: 7200 s x 1,536,000 bit/s / 8.
    assert limits.audio_piece_bytes(7200) == 1_382_400_000
    # The source plus the larger of a 1 GiB piece and the audio piece.
    assert limits.probe_disk_bytes(5 * GIB, 7200) == 5 * GIB + 1_382_400_000 + MARGIN
    assert limits.probe_disk_bytes(5 * GIB, 1800) == 5 * GIB + GIB + MARGIN
    # 60 s x (6000 + 3500 + 1500 + 800) kbit/s x 2 (VBV) / 8, written twice beside the piece.
    assert limits.chunk_encoded_bytes(15, 4.0) == 177_000_000
    assert limits.worker_disk_bytes(15, 4.0) == GIB + 354_000_000 + MARGIN
    # PCM piece plus 2 x 7200 s x 128 kbit/s / 8.
    assert limits.audio_item_disk_bytes(7200) == 1_382_400_000 + 230_400_000 + MARGIN
    # 2 x 7200 s x (3500 x 2 + 128) kbit/s / 8: the 720p fallback and the audio, concatenated then remuxed.
    assert limits.fallback_rung().name == "720p"
    assert limits.package_disk_bytes(7200) == 12_830_400_000 + MARGIN
    # safety 2 x (decode 0.35 x 4096x2160x60 / 1080p30 + encode 1.0 x 1080p60 / 1080p30) x 4 s.
    assert limits.segment_cpu_seconds(4.0) == pytest.approx(2 * (0.35 * 4096 * 2160 * 60 / (1920 * 1080 * 30) + 2) * 4)
    assert limits.segment_cpu_seconds(4.0) == pytest.approx(39.893, abs=1e-3)
    # 7200 s x 0.02 CPU-s/s x safety 2, plus the item's 1 CPU-s overhead.
    assert limits.audio_item_cpu_seconds(7200) == pytest.approx(361.0)
    # Three passes over 5 GiB at 80 MB/s.
    assert limits.probe_io_seconds(5 * GIB) == pytest.approx(3 * 5 * GIB / 80e6)
    assert limits.part_upload_seconds() == pytest.approx(64 * MIB / 1e6)


def test_the_fallback_is_the_rung_package_outputs_picks() -> None:
    # Two spellings of one choice (stacks cannot import the packaging step's types cheaply): they must agree.
    from lambdas.media.manifests import VideoTrack
    from lambdas.pipeline.package import fallback_track

    rungs = list(DEFAULT_LADDER.rungs)
    picked: object = fallback_track(cast(list[VideoTrack], rungs))
    assert picked is limits.fallback_rung()


@pytest.mark.parametrize("segment_seconds", [1.0, 4.0, 10.0])
def test_worker_time_check_agrees_with_the_planner(segment_seconds: float) -> None:
    # The planner refuses a source whose single segment does not fit a worker; the deploy-time check must
    # refuse exactly the deployments on which it would refuse the heaviest accepted source.
    need = limits.segment_cpu_seconds(segment_seconds)
    timeout = 30
    rate = output_rate(DEFAULT_LADDER.max_frame_rate)

    def plan(vcpus: float) -> None:
        plan_chunks(
            duration_s=segment_seconds,
            rate=rate,
            segment_frames=round(segment_seconds * rate),
            source=limits.HEAVIEST_SOURCE,
            source_rate=limits.HEAVIEST_SOURCE_RATE,
            renditions=[limits.top_rung_shape()],
            audio=False,
            concurrency=1,
            max_chunk_segments=1,
            budget=WorkerBudget(timeout_s=timeout, vcpus=vcpus),
        )

    enough, short = need / timeout * 1.001, need / timeout * 0.999
    plan(enough)
    assert (
        limits.check_worker_time(
            unchecked(transcode_timeout_s=timeout, worker_vcpus=enough, segment_seconds=segment_seconds)
        )
        is None
    )
    with pytest.raises(PolicyViolation):
        plan(short)
    assert (
        limits.check_worker_time(
            unchecked(transcode_timeout_s=timeout, worker_vcpus=short, segment_seconds=segment_seconds)
        )
        is not None
    )


# --- Each check, broken: the message names the settings and gives the numbers


BREACHES = [
    pytest.param(
        limits.check_probe_disk,
        {"max_upload_bytes": 9 * GIB},
        ["ProbeSource", "transcode_ephemeral_mb", "max_upload_bytes"],
        ["10496", "at most 9395240960"],  # 9 GiB + 1 GiB + 256 MiB; 10240 MiB - 1 GiB - 256 MiB
        id="probe-disk",
    ),
    pytest.param(
        limits.check_probe_disk,
        {"transcode_ephemeral_mb": 6000},
        ["ProbeSource", "transcode_ephemeral_mb", "max_upload_bytes", "1.0 GiB piece"],
        ["at least 6400"],  # 5 GiB + 1 GiB (90 min of PCM is 1,036,800,000 bytes, less) + 256 MiB
        id="probe-disk-small-tmp",
    ),
    pytest.param(
        limits.check_probe_disk,
        {"transcode_ephemeral_mb": 6000, "max_duration_s": 7200},
        ["ProbeSource", "max_duration_s", "audio piece"],
        ["at least 6695"],  # 5 GiB + 1,382,400,000 bytes of PCM + 256 MiB = 6694.4 MiB
        id="probe-disk-audio-piece",
    ),
    pytest.param(
        limits.check_worker_disk,
        {
            "transcode_ephemeral_mb": 3000,
            "max_chunk_segments": 50,
            "segment_seconds": 10,
            "max_upload_bytes": GIB,
            "max_duration_s": 600,
        },
        ["EncodeChunk video item", "transcode_ephemeral_mb", "max_chunk_segments", "segment_seconds"],
        # 1 GiB + 2 x 500 s x 23.6 Mbit/s / 8 + 256 MiB = 4093.3 MiB; (3000 MiB - 1280 MiB) // 59 MB per segment
        ["at least 4094", "at most 30"],
        id="worker-disk",
    ),
    pytest.param(
        limits.check_audio_item_disk,
        {"transcode_ephemeral_mb": 1024, "max_duration_s": 4000},
        ["audio item", "transcode_ephemeral_mb", "max_duration_s"],
        # 4000 s x (192,000 + 32,000) B/s + 256 MiB = 1110.5 MiB; 768 MiB / 224,000 B/s = 3595 s
        ["at least 1111", "at most 3595"],
        id="audio-item-disk",
    ),
    pytest.param(
        limits.check_worker_time,
        {"transcode_timeout_s": 10, "transcode_memory_mb": 1024},
        ["EncodeChunk worker", "transcode_timeout_s", "transcode_memory_mb", "segment_seconds"],
        ["39.9 CPU-seconds", "at least 69"],  # 39.9 / (1024 / 1769 vCPUs) = 68.9 s
        id="worker-time",
    ),
    pytest.param(
        limits.check_audio_item_time,
        {"worker_vcpus": 0.3},
        ["audio item", "max_duration_s", "transcode_timeout_s", "worker_vcpus"],
        # 5400 s x 0.05 + 1 = 271 against 900 x 0.3 x 0.5 = 135; (135 - 1) / 0.05 = 2680 s
        ["271 CPU-seconds", "spend 135", "at most 2680"],
        id="audio-item-time",
    ),
    pytest.param(
        limits.check_package_disk,
        {"max_duration_s": 7200},
        ["PackageOutputs", "720p", "max_duration_s", "transcode_ephemeral_mb"],
        # (10240 - 256) MiB / 1,782,000 B/s = 5874.8 s; 12,830,400,000 B + 256 MiB = 12492.02 MiB
        ["at most 5874", "12493", "Lambda allows 10240"],
        id="package-disk",
    ),
    pytest.param(
        limits.check_probe_time,
        {"max_upload_bytes": 30 * GIB},
        ["ProbeSource", "max_upload_bytes", "900 s"],
        ["at most 24000000000"],  # 900 s x 80 MB/s / 3
        id="probe-time",
    ),
    pytest.param(
        limits.check_presign_expiry,
        {"presign_expiry_s": 60},
        ["presign_expiry_s"],
        ["at least 68"],  # 64 MiB at 1 MB/s = 67.1 s
        id="presign-expiry",
    ),
]


@pytest.mark.parametrize(("check", "settings", "names", "numbers"), BREACHES)
def test_a_breach_names_what_to_change(
    check: Check, settings: dict[str, Any], names: list[str], numbers: list[str]
) -> None:
    assert check(checked()) is None, "the breach must come from the settings, not the defaults"
    message = check(unchecked(**settings))
    assert message is not None
    for name in names:
        assert name in message
    for number in numbers:
        assert number in message
    # The model refuses the same settings with that message among its reasons.
    with pytest.raises(ValidationError) as refused:
        checked(**settings)
    assert message in str(refused.value)


def test_worker_time_names_worker_vcpus_when_it_overrides_the_memory() -> None:
    message = limits.check_worker_time(unchecked(transcode_timeout_s=10, worker_vcpus=1.0))
    assert message is not None
    assert "worker_vcpus" in message
    assert "transcode_memory_mb" not in message  # raising it would change nothing


def test_every_breach_is_reported_at_once() -> None:
    settings = {"transcode_ephemeral_mb": 1024, "max_upload_bytes": MIB, "max_duration_s": 4000}
    found = limits.problems(unchecked(**settings))
    assert len(found) == 5
    assert all(m.startswith("transcode_ephemeral_mb=1024 cannot hold") for m in found[:4])
    for message, where in zip(found[:4], ["ProbeSource", "video item", "audio item", "PackageOutputs"], strict=True):
        assert where in message
    assert found[4].startswith("preset 'archive': an EncodeChunk video item")  # its ladder needs more still
    with pytest.raises(ValidationError) as refused:
        checked(**settings)
    assert all(m in str(refused.value) for m in found)


# --- Boundaries: exactly enough passes, one MiB (or one unit of the suggested setting) less fails


def test_probe_disk_boundary() -> None:
    # 90 min of PCM is under 1 GiB, so the video piece bounds the disk: 5 GiB + 1 GiB + 256 MiB = 6400 MiB.
    need = mib_needed(limits.probe_disk_bytes(5 * GIB, 1800))
    assert need == 6400
    checked(transcode_ephemeral_mb=need, max_duration_s=1800)
    with pytest.raises(ValidationError, match=r"ProbeSource .*: raise transcode_ephemeral_mb to at least 6400,"):
        checked(transcode_ephemeral_mb=need - 1, max_duration_s=1800)


def test_probe_disk_suggested_upload_limit_is_the_largest_that_fits() -> None:
    message = limits.check_probe_disk(unchecked(transcode_ephemeral_mb=6000))
    assert message is not None
    largest = int(message.rsplit("at most ", 1)[1].split(" ")[0].rstrip(","))
    assert largest == 6000 * MIB - GIB - MARGIN
    assert limits.check_probe_disk(unchecked(transcode_ephemeral_mb=6000, max_upload_bytes=largest)) is None
    assert limits.check_probe_disk(unchecked(transcode_ephemeral_mb=6000, max_upload_bytes=largest + 1)) is not None


def test_worker_disk_boundary() -> None:
    # A small source and a short limit keep every other disk below the worker's 1617.6 MiB.
    others = {"max_upload_bytes": 64 * MIB, "max_duration_s": 600}
    need = mib_needed(limits.worker_disk_bytes(15, 4.0))
    assert need == 1618
    # The web ladder's item alone (the archive preset's needs more: tests/infrastructure/test_presets.py).
    assert limits.check_worker_disk(unchecked(transcode_ephemeral_mb=need, **others)) is None
    short = limits.check_worker_disk(unchecked(transcode_ephemeral_mb=need - 1, **others))
    assert short is not None
    assert re.search(r"EncodeChunk video item.*at least 1618", short)


def test_worker_disk_suggested_chunk_length_is_the_longest_that_fits() -> None:
    tight = {"transcode_ephemeral_mb": 3000, "segment_seconds": 10.0}
    assert limits.check_worker_disk(unchecked(max_chunk_segments=30, **tight)) is None
    assert limits.check_worker_disk(unchecked(max_chunk_segments=31, **tight)) is not None


def test_audio_item_disk_boundary() -> None:
    # Alone only: with the default ladder PackageOutputs always needs more disk than the audio item.
    need = mib_needed(limits.audio_item_disk_bytes(4000))
    assert need == 1111
    assert limits.check_audio_item_disk(unchecked(transcode_ephemeral_mb=need, max_duration_s=4000)) is None
    assert limits.check_audio_item_disk(unchecked(transcode_ephemeral_mb=need - 1, max_duration_s=4000)) is not None
    assert limits.check_audio_item_disk(unchecked(transcode_ephemeral_mb=1024, max_duration_s=3595)) is None
    assert limits.check_audio_item_disk(unchecked(transcode_ephemeral_mb=1024, max_duration_s=3596)) is not None


def test_package_disk_boundary() -> None:
    need = mib_needed(limits.package_disk_bytes(checked().max_duration_s))
    assert need == 9434  # 90 min: 9,622,800,000 B + 256 MiB = 9433.02 MiB
    checked(transcode_ephemeral_mb=need)
    with pytest.raises(ValidationError, match=r"PackageOutputs.*at least 9434"):
        checked(transcode_ephemeral_mb=need - 1)


def test_package_disk_suggested_duration_is_the_longest_that_fits() -> None:
    checked(max_duration_s=5874)
    with pytest.raises(ValidationError, match=r"max_duration_s to at most 5874"):
        checked(max_duration_s=5875)


def test_audio_item_time_boundary() -> None:
    # 900 s x 0.3 vCPUs x 0.5 = 135 CPU-s: (135 - 1) / (0.025 x 2) = 2680 s of audio.
    checked(worker_vcpus=0.3, max_duration_s=2680)
    with pytest.raises(ValidationError, match=r"audio item.*at most 2680"):
        checked(worker_vcpus=0.3, max_duration_s=2681)


def test_probe_time_boundary() -> None:
    largest = 24_000_000_000  # 900 s x 80 MB/s / 3 passes
    assert limits.check_probe_time(unchecked(max_upload_bytes=largest)) is None
    assert limits.check_probe_time(unchecked(max_upload_bytes=largest + 1)) is not None


def test_presign_expiry_boundary() -> None:
    checked(presign_expiry_s=68)
    with pytest.raises(ValidationError, match="presign_expiry_s"):
        checked(presign_expiry_s=67)


# --- Where the config is read


def test_from_context_refuses_a_bad_combination() -> None:
    with pytest.raises(ValidationError, match=r"transcode_ephemeral_mb=4096 cannot hold a 5\.0 GiB source") as refused:
        DeploymentConfig.from_context({"transcode_ephemeral_mb": 4096})
    assert "max_upload_bytes" in str(refused.value)
    # The same /tmp with a smaller source and a shorter limit is consistent.
    smaller = {"transcode_ephemeral_mb": 4096, "max_upload_bytes": 2 * GIB, "max_duration_s": 1800}
    assert DeploymentConfig.from_context(smaller).transcode_ephemeral_mb == 4096


def test_the_app_refuses_an_inconsistent_context_before_creating_a_stack(tmp_path: Path) -> None:
    import aws_cdk as cdk

    from app import build_app

    context = json.loads(CDK_JSON.read_text())["context"]
    context["vodpipe"] = {**context["vodpipe"], "max_duration_s": 7200}
    app = cdk.App(outdir=str(tmp_path), context=context, builtin_cloud_formation_validation=False)
    with pytest.raises(ValidationError, match=r"PackageOutputs.*max_duration_s to at most 5874"):
        build_app(app)
    assert [child for child in app.node.children if isinstance(child, cdk.Stack)] == []
    assert not list(tmp_path.iterdir())  # nothing synthesized
