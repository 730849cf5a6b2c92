"""Deploy-time settings, read once from CDK context (cdk.json or `-c key=value`), and checked against each other."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any, Literal, Self

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pydantic import BaseModel, Field, field_validator, model_validator

from lambdas.limits import MAX_CLIP_SECONDS, MAX_DURATION_S, MAX_UPLOAD_BYTES, PRESIGN_EXPIRY_S
from lambdas.media.chunking import DEFAULT_COSTS, DEFAULT_MAX_PIECE_BYTES, CostModel, Shape, WorkerBudget
from lambdas.media.ladder import DEFAULT_LADDER, LadderConfig, Rung
from lambdas.media.presets import BUILTIN_PRESETS, Preset, presets_document, validate_presets
from lambdas.queue import config as queue
from lambdas.webhooks import config as webhooks

ROOT = Path(__file__).resolve().parents[1]
MB_PER_VCPU = 1769  # Lambda: CPU share scales with memory, one full vCPU at 1,769 MB
MIB = 2**20  # Lambda sizes /tmp in MiB (`transcode_ephemeral_mb` is Size.mebibytes)
MB = 10**6  # throughputs are decimal
# A Lambda function's environment holds 4 KB in all; the API's other variables take about 1.5 KB.
PRESETS_ENV_MAX_BYTES = 2048
MAX_CUSTOM_PRESETS = 20
LAMBDA_MAX_EPHEMERAL_MB = 10240  # Lambda's largest /tmp
LAMBDA_MAX_TIMEOUT_S = 900

# What the consistency checks assume. Each is an estimate with its source; change it here, not in a check.
# /tmp also holds what is not counted below: the plan, manifests, ffmpeg's logs, the runtime's own files.
DISK_MARGIN_BYTES = 256 * MIB
# The largest audio we accept in practice: 48 kHz stereo 16-bit PCM, 1.536 Mbit/s. ProbeSource copies the
# source's audio stream unchanged into the audio item's piece, so an uncompressed track is the worst case.
PCM_BITS_PER_S = 48_000 * 2 * 16
# x264 keeps any T seconds of a rung within maxrate x T plus the VBV buffer (bufsize = 2 s of maxrate,
# lambdas/media/ladder.py), and each work item starts a fresh buffer: counting encoded video at twice its
# maxrate covers every chunk, and every concatenation of chunks, of 2 s or longer.
VBV_ALLOWANCE = 2.0
# The heaviest source planned for: DCI 4K at 60 fps, decoded in full by every work item. (ValidationPolicy
# itself admits up to 4096x4096 at 120 fps.)
HEAVIEST_SOURCE = Shape(name="source", width=4096, height=2160)
HEAVIEST_SOURCE_RATE = 60.0
# ProbeSource's own limits, fixed in stacks/pipeline_stack.py (it does I/O, not CPU).
PROBE_TIMEOUT_S = LAMBDA_MAX_TIMEOUT_S
PROBE_PASSES = 3  # the source downloaded, stream-copied into pieces, the pieces uploaded
PROBE_BYTES_PER_S = 80 * MB  # assumed per pass: S3 to a 1,769 MB Lambda and its /tmp, one stream
# A client may choose parts far larger than the API's 8 MiB default; a slow uplink (8 Mbit/s) must still send
# one before its presigned URL expires.
UPLOAD_PART_BYTES = 64 * MIB
SLOW_UPLINK_BYTES_PER_S = 1 * MB


_ORIGIN = re.compile(r"^https?://[a-z0-9.-]+(:[0-9]{1,5})?$")


def is_origin(origin: str) -> bool:
    """ "*", or what a browser sends as `Origin`: scheme, host and port, lower case, no path."""
    return origin == "*" or bool(_ORIGIN.match(origin))


class DeploymentConfig(BaseModel):
    """What an operator may tune per deployment; defaults suit a small team."""

    project: str = "vodpipe"
    transcode_concurrency: int = Field(
        4, ge=1, le=10_000, description="Distributed Map MaxConcurrency over work items (chunks x renditions)"
    )
    transcode_memory_mb: int = Field(3008, ge=1024, le=10240)
    transcode_timeout_s: int = Field(LAMBDA_MAX_TIMEOUT_S, ge=10, le=LAMBDA_MAX_TIMEOUT_S)
    transcode_ephemeral_mb: int = Field(LAMBDA_MAX_EPHEMERAL_MB, ge=512, le=LAMBDA_MAX_EPHEMERAL_MB)
    segment_seconds: float = Field(4.0, gt=0, le=10, description="CMAF segment length (HLS and DASH)")
    max_chunk_segments: int = Field(15, ge=1, le=1000, description="longest chunk one work item encodes")
    # The CPUs one worker is planned with; default: what its memory buys on Lambda. Set it where the
    # functions share fewer cores than that (the local runtime: cores / concurrency).
    worker_vcpus: float | None = Field(None, gt=0, le=6)
    # The limits' defaults are lambdas/limits.py's, which the functions' settings default to as well.
    max_upload_bytes: int = Field(MAX_UPLOAD_BYTES, ge=1)
    max_duration_s: float = Field(MAX_DURATION_S, gt=0)
    max_clip_seconds: float = Field(MAX_CLIP_SECONDS, gt=0, description="the longest clip a job may ask for")
    presign_expiry_s: int = Field(PRESIGN_EXPIRY_S, ge=60, le=3600)
    job_ttl_days: int = Field(90, ge=1)
    log_retention_days: int = 30
    # Where no CloudFront exists (LocalStack), players read outputs from this S3 endpoint, path-style.
    playback_s3_endpoint: str | None = None
    # The queue (lambdas/queue): how many jobs run at once, in total and per user; aging; per-user quotas.
    max_running_jobs: int = Field(queue.MAX_RUNNING_JOBS, ge=1, le=10_000)
    max_running_jobs_per_user: int = Field(queue.MAX_RUNNING_JOBS_PER_USER, ge=1, le=10_000)
    priority_aging_minutes: float = Field(queue.PRIORITY_AGING_MINUTES, gt=0)
    max_queued_jobs_per_user: int = Field(queue.MAX_QUEUED_JOBS_PER_USER, ge=1)
    max_uploads_per_hour: int = Field(queue.MAX_UPLOADS_PER_HOUR, ge=1)
    start_grace_s: float = Field(queue.START_GRACE_SECONDS, gt=0, description="admitted, not started: started again")
    start_give_up_s: float = Field(queue.START_GIVE_UP_SECONDS, gt=0, description="never started: FAILED")
    upload_expiry_hours: float = Field(queue.UPLOAD_EXPIRY_HOURS, gt=0, description="unfinished uploads aborted")
    scheduler_tick_minutes: int = Field(1, ge=1, le=60, description="the periodic admission and repair pass")
    # API Gateway stage throttling (requests per second, steady and burst), for every route of the API.
    api_rate_limit: float = Field(50, gt=0)
    api_burst_limit: int = Field(100, ge=1)
    # API Gateway's CloudWatch role is one setting per account and region (AWS::ApiGateway::Account), which another
    # stack may own: off, this deployment leaves it alone; on, it makes the role and sets it (README: AWS).
    api_gateway_cloudwatch_role: bool = Field(
        False, description="make and set the account's API Gateway CloudWatch Logs role (once per account/region)"
    )
    # Webhooks (lambdas/webhooks): egress, retries (seconds after each failed attempt), timeout, limits.
    webhook_allow_insecure_targets: bool = Field(
        False, description="allow http and private/loopback receivers (local deployments only)"
    )
    webhook_retry_schedule: list[float] | None = Field(
        None, min_length=1, max_length=30, description="seconds between attempts; default spans ~27 h"
    )
    webhook_timeout_s: float = Field(webhooks.TIMEOUT_S, gt=0, le=30)
    webhook_disable_after_days: float = Field(webhooks.DISABLE_AFTER_DAYS, gt=0)
    max_webhooks_per_user: int = Field(webhooks.MAX_ENDPOINTS, ge=1, le=1000)
    # Notifications: the SES sender of owners' emails (none: no email), operators subscribed to the topic.
    notification_sender: str | None = None
    notification_sender_identity: bool = Field(
        True, description="make the sender's SES email identity here; false if it is verified already (a domain)"
    )
    notification_emails: list[str] = Field(default_factory=list)
    # Monitoring (stacks/constructs/monitoring.py): who the alarms' topic emails, and the alarms' thresholds.
    alarm_emails: list[str] = Field(default_factory=list)
    alarm_failure_rate: float = Field(0.2, gt=0, le=1, description="failed / ended jobs over 15 min (5 ended at least)")
    alarm_oldest_queued_minutes: float = Field(30, gt=0, description="a QUEUED job waiting longer than this")
    # Private playback (Job.private, lambdas/playback): CloudFront signed URLs by the deployer's RSA 2048 key pair.
    # The public key (PEM) becomes the `private/*` behaviour's trusted key group; the private key (PEM) is a
    # Secrets Manager secret the deployer creates, named here (never the key itself in the context). Without
    # them private jobs are refused (422), unless playback is from S3 (playback_s3_endpoint): S3 presigned GETs.
    private_playback_public_key: str | None = None
    private_playback_key_secret: str | None = Field(None, min_length=1, description="the private key's secret")
    private_url_ttl_s: int = Field(900, ge=10, le=24 * 3600, description="signed links: time to start watching")
    # The deployer's own presets beside the built-in ones (lambdas/media/presets.py): preset documents, checked
    # here at synth by the model the API reads them with (its PRESETS variable). Changing one means raising
    # its `version`: jobs keep the snapshot they were made with, and say which version made them.
    presets: list[dict[str, Any]] = Field(default_factory=list, max_length=MAX_CUSTOM_PRESETS)
    # Browsers: the origins whose pages may call the API and read uploads and outputs (the web console, a
    # customer's site). "*" (default) allows any page: the API takes bearer tokens, never cookies.
    cors_allowed_origins: list[str] = Field(default_factory=lambda: ["*"], min_length=1, max_length=20)

    @field_validator("cors_allowed_origins")
    @classmethod
    def _origins_valid(cls, origins: list[str]) -> list[str]:
        bad = [origin for origin in origins if not is_origin(origin)]
        if bad:
            raise ValueError(
                f'cors_allowed_origins: {bad[0]!r} is not an origin: use "*" alone, or scheme://host[:port] '
                "with no path (https://app.example.com)"
            )
        if "*" in origins and len(origins) > 1:
            raise ValueError('cors_allowed_origins: "*" already allows every origin; list it alone')
        return origins

    @field_validator("presets")
    @classmethod
    def _presets_valid(cls, documents: list[dict[str, Any]]) -> list[dict[str, Any]]:
        size = len(presets_document(validate_presets(documents)).encode())
        if size > PRESETS_ENV_MAX_BYTES:
            raise ValueError(
                f"presets: the deployer's presets take {size} bytes as the API function's PRESETS variable; Lambda "
                f"holds 4 KB of environment per function, {PRESETS_ENV_MAX_BYTES} of it for presets: shorten "
                "descriptions, leave defaults out, or offer fewer presets"
            )
        return documents

    @property
    def custom_presets(self) -> tuple[Preset, ...]:
        return validate_presets(self.presets)

    @property
    def presets_env(self) -> str:
        """The API function's PRESETS variable (compact JSON; "" without presets of the deployer's)."""
        return presets_document(self.custom_presets) if self.presets else ""

    @classmethod
    def from_context(cls, raw: object) -> DeploymentConfig:
        return cls.model_validate(raw or {})

    @property
    def vcpus(self) -> float:
        return self.worker_vcpus or min(6.0, self.transcode_memory_mb / MB_PER_VCPU)

    @property
    def private_url_signer(self) -> Literal["cloudfront", "s3", ""]:
        """Which UrlSigner the functions use for private jobs ("": none, private jobs are refused)."""
        if self.playback_s3_endpoint:
            return "s3"
        return "cloudfront" if self.private_playback_public_key else ""

    @model_validator(mode="after")
    def _signing_key_complete(self) -> Self:
        if (self.private_playback_public_key is None) != (self.private_playback_key_secret is None):
            raise ValueError(
                "private_playback_public_key and private_playback_key_secret go together: the public key makes "
                "CloudFront's key group, the secret holds the private key the API signs with"
            )
        if self.private_playback_public_key is not None:
            validate_public_key(self.private_playback_public_key)
        return self

    @model_validator(mode="after")
    def _limits_fit_together(self) -> Self:
        found = problems(self)
        if found:
            raise ValueError("inconsistent limits:\n" + "\n".join(f"- {p}" for p in found))
        return self


CLOUDFRONT_RSA_BITS = 2048  # CloudFront's signed URLs take RSA 2048 (or ECDSA P-256, which this app does not use)


def validate_public_key(pem: str) -> None:
    """What CloudFront's PublicKey takes for signed URLs here: a PEM SubjectPublicKeyInfo of an RSA 2048 key."""
    try:
        key = serialization.load_pem_public_key(pem.encode())
    except ValueError as error:
        raise ValueError(f"private_playback_public_key is not a PEM public key: {error}") from None
    if not isinstance(key, rsa.RSAPublicKey) or key.key_size != CLOUDFRONT_RSA_BITS:
        raise ValueError(
            "private_playback_public_key must be an RSA 2048 key (openssl genrsa 2048 | openssl rsa -pubout)"
        )


# What each limit needs, as pure arithmetic over plain numbers.


def audio_piece_bytes(max_duration_s: float) -> int:
    """The audio item's piece: the longest accepted audio track, uncompressed."""
    return math.ceil(max_duration_s * PCM_BITS_PER_S / 8)


def probe_disk_bytes(max_upload_bytes: int, max_duration_s: float) -> int:
    """ProbeSource's /tmp: the whole source, plus the largest piece cut from it (video pieces go one at a time)."""
    return max_upload_bytes + max(DEFAULT_MAX_PIECE_BYTES, audio_piece_bytes(max_duration_s)) + DISK_MARGIN_BYTES


def chunk_encoded_bytes(max_chunk_segments: int, segment_seconds: float, ladder: LadderConfig = DEFAULT_LADDER) -> int:
    """One copy of the longest chunk encoded for the whole ladder."""
    bits_per_s = sum(r.maxrate_kbps for r in ladder.rungs) * 1000 * VBV_ALLOWANCE
    return math.ceil(max_chunk_segments * segment_seconds * bits_per_s / 8)


def worker_disk_bytes(max_chunk_segments: int, segment_seconds: float, ladder: LadderConfig = DEFAULT_LADDER) -> int:
    """An EncodeChunk video item's /tmp: its piece, the fragmented MP4s and their copy cut into segments."""
    return (
        DEFAULT_MAX_PIECE_BYTES
        + 2 * chunk_encoded_bytes(max_chunk_segments, segment_seconds, ladder)
        + DISK_MARGIN_BYTES
    )


def audio_encoded_bytes(max_duration_s: float, ladder: LadderConfig = DEFAULT_LADDER) -> int:
    return math.ceil(max_duration_s * ladder.audio_bitrate_kbps * 1000 / 8)


def audio_item_bytes_per_second(ladder: LadderConfig = DEFAULT_LADDER) -> float:
    return PCM_BITS_PER_S / 8 + 2 * ladder.audio_bitrate_kbps * 1000 / 8


def audio_item_disk_bytes(max_duration_s: float, ladder: LadderConfig = DEFAULT_LADDER) -> int:
    """The audio item's /tmp: its piece, the encoded track and its copy cut into segments."""
    return audio_piece_bytes(max_duration_s) + 2 * audio_encoded_bytes(max_duration_s, ladder) + DISK_MARGIN_BYTES


def fallback_rung(ladder: LadderConfig = DEFAULT_LADDER) -> Rung:
    """The rung PackageOutputs makes the progressive MP4 of: the middle one (lambdas/pipeline/package.py)."""
    return ladder.rungs[(len(ladder.rungs) - 1) // 2]


def package_bytes_per_second(ladder: LadderConfig = DEFAULT_LADDER) -> float:
    """PackageOutputs' /tmp per second of source: the fallback rung and the audio, concatenated and remuxed."""
    bits_per_s = fallback_rung(ladder).maxrate_kbps * 1000 * VBV_ALLOWANCE + ladder.audio_bitrate_kbps * 1000
    return 2 * bits_per_s / 8


def package_disk_bytes(max_duration_s: float, ladder: LadderConfig = DEFAULT_LADDER) -> int:
    """PackageOutputs' /tmp: the fallback rung and the audio concatenated, then remuxed into one MP4 beside them."""
    return math.ceil(max_duration_s * package_bytes_per_second(ladder)) + DISK_MARGIN_BYTES


def top_rung_shape(ladder: LadderConfig = DEFAULT_LADDER) -> Shape:
    """The ladder's largest rung as a 16:9 picture."""
    top = max(ladder.rungs, key=lambda r: r.short_side)
    return Shape(name=top.name, width=round(top.short_side * 16 / 9), height=top.short_side)


def segment_cpu_seconds(
    segment_seconds: float, ladder: LadderConfig = DEFAULT_LADDER, costs: CostModel = DEFAULT_COSTS
) -> float:
    """CPU-seconds for one segment of the heaviest source at the top rung: `plan_chunks`'s "heaviest" item."""
    top = top_rung_shape(ladder)
    decode = costs.decode(HEAVIEST_SOURCE.width, HEAVIEST_SOURCE.height, HEAVIEST_SOURCE_RATE)
    encode = costs.encode(top.width, top.height, ladder.max_frame_rate)
    return costs.safety * (decode + encode) * segment_seconds


def audio_item_cpu_seconds(max_duration_s: float, costs: CostModel = DEFAULT_COSTS) -> float:
    """CPU-seconds for the audio item of the longest source, with the item's fixed overhead."""
    return max_duration_s * costs.audio_per_second * costs.safety + costs.item_overhead_cpu_s


def probe_io_seconds(max_upload_bytes: int) -> float:
    """ProbeSource's time moving the largest source: download, stream copy, upload."""
    return PROBE_PASSES * max_upload_bytes / PROBE_BYTES_PER_S


def part_upload_seconds() -> float:
    """Time for a slow client to send one large part."""
    return UPLOAD_PART_BYTES / SLOW_UPLINK_BYTES_PER_S


# The checks: each one limit, None when it holds, else which settings to change and to what.


def _size(n_bytes: float) -> str:
    return f"{n_bytes / 2**30:.1f} GiB" if n_bytes >= 2**30 else f"{n_bytes / MIB:.0f} MiB"


def _free_bytes(config: DeploymentConfig) -> int:
    return config.transcode_ephemeral_mb * MIB


def _raise_ephemeral(need_bytes: int) -> str:
    mb = -(-need_bytes // MIB)
    if mb <= LAMBDA_MAX_EPHEMERAL_MB:
        return f"raise transcode_ephemeral_mb to at least {mb}"
    return f"no transcode_ephemeral_mb can (it would take {mb}; Lambda allows {LAMBDA_MAX_EPHEMERAL_MB})"


def _raise_timeout(need_s: float) -> str:
    s = math.ceil(need_s)
    if s <= LAMBDA_MAX_TIMEOUT_S:
        return f"raise transcode_timeout_s to at least {s}"
    return f"no transcode_timeout_s can (it would take {s}; Lambda allows {LAMBDA_MAX_TIMEOUT_S})"


def _more_cpus(config: DeploymentConfig) -> str:
    # worker_vcpus, when set, overrides what the memory buys: naming the memory then would change nothing.
    return "raise worker_vcpus" if config.worker_vcpus else "raise transcode_memory_mb (it buys the vCPUs)"


def check_probe_disk(config: DeploymentConfig) -> str | None:
    need = probe_disk_bytes(config.max_upload_bytes, config.max_duration_s)
    if need <= _free_bytes(config):
        return None
    audio = audio_piece_bytes(config.max_duration_s)
    piece = max(DEFAULT_MAX_PIECE_BYTES, audio)
    if audio > DEFAULT_MAX_PIECE_BYTES:
        what = f"the {_size(audio)} audio piece of a max_duration_s={config.max_duration_s:g} source (as PCM)"
    else:
        what = f"a {_size(piece)} piece"
    room = _free_bytes(config) - piece - DISK_MARGIN_BYTES
    lower = f"lower max_upload_bytes to at most {room}" if room > 0 else "no max_upload_bytes fits"
    if audio > DEFAULT_MAX_PIECE_BYTES:
        lower += ", or lower max_duration_s"
    return (
        f"transcode_ephemeral_mb={config.transcode_ephemeral_mb} cannot hold a {_size(config.max_upload_bytes)} "
        f"source (max_upload_bytes={config.max_upload_bytes}) plus {what} and the {_size(DISK_MARGIN_BYTES)} "
        f"margin in ProbeSource ({_size(need)}): {_raise_ephemeral(need)}, or {lower}"
    )


def check_worker_disk(config: DeploymentConfig) -> str | None:
    need = worker_disk_bytes(config.max_chunk_segments, config.segment_seconds)
    if need <= _free_bytes(config):
        return None
    encoded = chunk_encoded_bytes(config.max_chunk_segments, config.segment_seconds)
    per_segment = chunk_encoded_bytes(1, config.segment_seconds)
    fit = (_free_bytes(config) - DEFAULT_MAX_PIECE_BYTES - DISK_MARGIN_BYTES) // (2 * per_segment)
    lower = f"lower max_chunk_segments to at most {fit}" if fit >= 1 else "no chunk fits beside the piece"
    chunk_s = config.max_chunk_segments * config.segment_seconds
    return (
        f"transcode_ephemeral_mb={config.transcode_ephemeral_mb} cannot hold an EncodeChunk video item: a "
        f"{_size(DEFAULT_MAX_PIECE_BYTES)} piece plus twice the {_size(encoded)} ladder of a {chunk_s:g} s chunk "
        f"(max_chunk_segments={config.max_chunk_segments} x segment_seconds={config.segment_seconds:g}) and the "
        f"margin ({_size(need)}): {_raise_ephemeral(need)}, or {lower}"
    )


def check_audio_item_disk(config: DeploymentConfig) -> str | None:
    need = audio_item_disk_bytes(config.max_duration_s)
    if need <= _free_bytes(config):
        return None
    longest = math.floor((_free_bytes(config) - DISK_MARGIN_BYTES) / audio_item_bytes_per_second())
    return (
        f"transcode_ephemeral_mb={config.transcode_ephemeral_mb} cannot hold the EncodeChunk audio item of a "
        f"max_duration_s={config.max_duration_s:g} source: a {_size(audio_piece_bytes(config.max_duration_s))} "
        f"PCM piece plus its AAC twice and the margin ({_size(need)}): {_raise_ephemeral(need)}, or lower "
        f"max_duration_s to at most {max(0, longest)}"
    )


def check_worker_time(config: DeploymentConfig) -> str | None:
    need = segment_cpu_seconds(config.segment_seconds)
    have = config.transcode_timeout_s * config.vcpus
    if need <= have:
        return None
    top = top_rung_shape()
    longest = math.floor(have / (need / config.segment_seconds) * 100) / 100
    return (
        f"one {config.segment_seconds:g} s segment (segment_seconds) of the heaviest accepted source "
        f"({HEAVIEST_SOURCE.width}x{HEAVIEST_SOURCE.height} at {HEAVIEST_SOURCE_RATE:g} fps, encoded at "
        f"{top.width}x{top.height}) needs {need:.1f} CPU-seconds, but an EncodeChunk worker has "
        f"transcode_timeout_s={config.transcode_timeout_s} x {config.vcpus:.2f} vCPUs = {have:.1f}: "
        f"{_raise_timeout(need / config.vcpus)}, {_more_cpus(config)}, or lower segment_seconds to at most "
        f"{longest:g}"
    )


def check_audio_item_time(config: DeploymentConfig) -> str | None:
    need = audio_item_cpu_seconds(config.max_duration_s)
    budget = WorkerBudget(timeout_s=config.transcode_timeout_s, vcpus=config.vcpus)
    if need <= budget.cpu_seconds:
        return None
    costs = DEFAULT_COSTS
    longest = (budget.cpu_seconds - costs.item_overhead_cpu_s) / (costs.audio_per_second * costs.safety)
    return (
        f"the EncodeChunk audio item of a max_duration_s={config.max_duration_s:g} source needs {need:.0f} "
        f"CPU-seconds, but a worker may spend {budget.cpu_seconds:.0f} (transcode_timeout_s="
        f"{config.transcode_timeout_s} x {config.vcpus:.2f} vCPUs x {budget.utilisation:g} utilisation): lower "
        f"max_duration_s to at most {max(0, math.floor(longest))}, "
        f"{_raise_timeout(need / (config.vcpus * budget.utilisation))}, or {_more_cpus(config)}"
    )


def check_package_disk(config: DeploymentConfig) -> str | None:
    need = package_disk_bytes(config.max_duration_s)
    if need <= _free_bytes(config):
        return None
    rung = fallback_rung()
    longest = math.floor((_free_bytes(config) - DISK_MARGIN_BYTES) / package_bytes_per_second())
    return (
        f"transcode_ephemeral_mb={config.transcode_ephemeral_mb} cannot hold PackageOutputs' progressive MP4 of a "
        f"max_duration_s={config.max_duration_s:g} source: the {rung.name} fallback ({rung.maxrate_kbps} kbit/s "
        f"maxrate) and the audio, twice, and the margin are {_size(need)}: lower max_duration_s to at most "
        f"{max(0, longest)}, or {_raise_ephemeral(need)}"
    )


def check_probe_time(config: DeploymentConfig) -> str | None:
    need = probe_io_seconds(config.max_upload_bytes)
    if need <= PROBE_TIMEOUT_S:
        return None
    largest = math.floor(PROBE_TIMEOUT_S * PROBE_BYTES_PER_S / PROBE_PASSES)
    return (
        f"ProbeSource moves a max_upload_bytes={config.max_upload_bytes} source {PROBE_PASSES} times at about "
        f"{PROBE_BYTES_PER_S / MB:g} MB/s, {need:.0f} s, more than its {PROBE_TIMEOUT_S} s timeout: lower "
        f"max_upload_bytes to at most {largest}"
    )


def check_presign_expiry(config: DeploymentConfig) -> str | None:
    need = part_upload_seconds()
    if need <= config.presign_expiry_s:
        return None
    return (
        f"presign_expiry_s={config.presign_expiry_s} is shorter than a {_size(UPLOAD_PART_BYTES)} part takes at "
        f"{SLOW_UPLINK_BYTES_PER_S / MB:g} MB/s ({need:.1f} s): raise presign_expiry_s to at least {math.ceil(need)}"
    )


def check_preset_workers(config: DeploymentConfig) -> str | None:
    """Every preset's ladder (built-in and the deployer's) must fit an EncodeChunk worker's disk as the web one
    does: its longest chunk encoded beside the piece. Not checked per preset: its MP4s (one that would not fit
    PackageOutputs' disk is left out with a warning, lambdas/pipeline/package.py), and the time of one segment
    at a top rung above 1080p (archive's 2160p costs about twice the web ladder's: check_worker_time's margin
    covers it on Lambda, not on a local deployment with 60 s workers, where a 4K archive job may time out)."""
    found = []
    web = worker_disk_bytes(config.max_chunk_segments, config.segment_seconds)  # check_worker_disk reports it
    for preset in (*BUILTIN_PRESETS, *config.custom_presets):
        if not preset.rungs:
            continue
        disk = worker_disk_bytes(config.max_chunk_segments, config.segment_seconds, preset.ladder_config())
        if disk > max(web, _free_bytes(config)):
            found.append(
                f"preset {preset.name!r}: an EncodeChunk video item of its ladder needs {_size(disk)} of disk, more "
                f"than transcode_ephemeral_mb={config.transcode_ephemeral_mb}: {_raise_ephemeral(disk)}, lower "
                "max_chunk_segments, or lower the preset's maxrate_kbps"
            )
    return "; ".join(found) or None


CHECKS = (
    check_probe_disk,
    check_worker_disk,
    check_audio_item_disk,
    check_worker_time,
    check_audio_item_time,
    check_package_disk,
    check_probe_time,
    check_presign_expiry,
    check_preset_workers,
)


def problems(config: DeploymentConfig) -> list[str]:
    """Every limit `config` breaks, each naming the settings to change."""
    return [p for check in CHECKS if (p := check(config)) is not None]
