"""How jobs, listings, events, stats and webhooks look in a terminal, and the live displays on stderr."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from vodpipe.client.api import Json
from vodpipe.client.audio import audio_lines
from vodpipe.client.upload import UploadHooks, UploadPlan

STATUS_STYLE = {
    "UPLOADING": "cyan",
    "QUEUED": "yellow",
    "PROCESSING": "blue",
    "COMPLETED": "green",
    "FAILED": "red",
    "CANCELLED": "magenta",
}


def status_text(status: object) -> Text:
    return Text(str(status), style=STATUS_STYLE.get(str(status), ""))


def job_view(job: Json) -> RenderableType:
    """A job in a few lines: status, step, progress per rendition, error, playback URL."""
    head = Text.assemble(
        ("job ", "dim"),
        (str(job.get("job_id")), "bold"),
        "  ",
        status_text(job.get("status")),
        f"  {job.get('progress', 0)} %",
        ("  step ", "dim"),
        str(job.get("current_step", "-")),
        ("  priority ", "dim"),
        str(job.get("priority", "-")),
    )
    parts: list[RenderableType] = [head]
    detail = what_line(job)
    if detail:
        parts.append(Text(f"  {detail}", style="dim"))
    if job.get("status") == "QUEUED" and ("queue_position" in job or "estimated_start_at" in job):
        parts.append(Text(f"  {queue_line(job)}", style=STATUS_STYLE["QUEUED"]))
    progress = job.get("rendition_progress") or {}
    renditions = list(job.get("requested_renditions") or progress)
    if renditions:
        grid = Table.grid(padding=(0, 1))
        grid.add_column(width=8)
        grid.add_column(width=30)
        grid.add_column(justify="right", width=5)
        for name in renditions:
            pct = int(progress.get(name, 100 if job.get("status") == "COMPLETED" else 0))
            grid.add_row(f"  {name}", ProgressBar(total=100, completed=pct, width=30), f"{pct} %")
        parts.append(grid)
    if job.get("retry_count"):
        parts.append(Text(f"  retries: {job['retry_count']}/{job.get('max_retries', '?')}", style="dim"))
    if job.get("error_type") or job.get("error_message"):
        parts.append(Text(f"  error: {job.get('error_type')}: {job.get('error_message')}", style="red"))
    outputs = job.get("outputs") or {}
    for warning in outputs.get("warnings") or ():
        parts.append(Text(f"  warning: {warning}", style="yellow"))
    playback, dash = outputs.get("playback_url"), outputs.get("dash_url")
    if playback:
        parts.append(Text.assemble(("  playback: ", "dim"), (str(playback), "link " + str(playback))))
    if dash:
        parts.append(Text.assemble(("  DASH:     ", "dim"), (str(dash), "link " + str(dash))))
    elif job.get("playable_url") and job.get("status") == "PROCESSING":
        early = str(job["playable_url"])
        parts.append(Text.assemble(("  watch now: ", "dim"), (early, "link " + early)))
    parts += [Text(f"  {line}", style="dim") for line in audio_lines(job)]
    parts += quality_lines(list(outputs.get("quality") or []))
    parts += cost_lines(job.get("cost") or {})
    return Group(*parts)


def usd(value: object) -> str:
    """Dollars to the micro-dollar: a short job costs fractions of a cent."""
    return f"${float(value or 0):.6f}" if isinstance(value, int | float) else "-"


def cost_lines(cost: Json) -> list[Text]:
    """`Job.cost`: the estimate (from the plan), the measurement (from what ran), their difference and parts."""
    estimate, measured = cost.get("estimate") or None, cost.get("measured") or None
    if not isinstance(estimate, dict) and not isinstance(measured, dict):
        return []
    known = measured if isinstance(measured, dict) else estimate
    assert isinstance(known, dict)
    where = f"{known.get('region', '?')}, {known.get('architecture', '?')}, prices of {known.get('prices_as_of', '?')}"
    head = [("  cost: ", "dim")]
    head.append(("estimate ", "dim"))
    head.append((usd(estimate.get("total_usd")) if isinstance(estimate, dict) else "-", "bold"))
    head.append(("  measured ", "dim"))
    head.append((usd(measured.get("total_usd")) if isinstance(measured, dict) else "-", "bold"))
    if isinstance(estimate, dict) and isinstance(measured, dict):
        est, got = float(estimate.get("total_usd") or 0), float(measured.get("total_usd") or 0)
        ratio = f", {got / est:.2f}x the estimate" if est > 0 else ""
        head.append((f"  ({'+' if got >= est else '-'}{usd(abs(got - est))}{ratio})", ""))
    head.append((f"  [{where}]", "dim"))
    lines = [Text.assemble(*head)]
    for label, part in (("estimate", estimate), ("measured", measured)):
        if isinstance(part, dict):
            lines.append(Text(f"    {label:<8} {cost_parts(part)}", style="dim"))
    return lines


def cost_parts(part: Json) -> str:
    """One breakdown in a line: Lambda GB-s and invocations, transitions, requests, stored bytes."""
    return (
        f"Lambda {float(part.get('lambda_gb_seconds') or 0):.2f} GB-s / {part.get('lambda_requests', 0)} invocations"
        f" {usd(part.get('lambda_usd'))} · {part.get('state_transitions', 0)} transitions {usd(part.get('states_usd'))}"
        f" · S3 {part.get('s3_write_requests', 0)} writes {part.get('s3_read_requests', 0)} reads, DynamoDB"
        f" {part.get('dynamodb_write_requests', 0)} writes {part.get('dynamodb_read_requests', 0)} reads"
        f" {usd(part.get('requests_usd'))} · stored {int(part.get('stored_bytes') or 0) / 1e6:.2f} MB"
        f" {usd(part.get('storage_usd_per_month'))}/month"
    )


def what_line(job: Json) -> str:
    """What the job makes: `clip of 01J… 12.5-20 s (exact) · preset vertical v1 (crop) · private`."""
    words = []
    clip = job.get("clip") or None
    if isinstance(clip, dict):
        parent = job.get("parent_job_id")
        of = f"clip of {parent}" if parent else "clip"
        words.append(f"{of} {clip.get('start_s', 0):g}-{clip.get('end_s', 0):g} s ({clip.get('mode', 'exact')})")
    preset = job.get("preset") or None
    if isinstance(preset, dict):
        fit = f" ({preset['fit']})" if preset.get("fit") else ""
        words.append(f"preset {preset.get('name')} v{preset.get('version')}{fit}")
    outputs = [str(kind) for kind in job.get("requested_outputs") or ()]
    if outputs and outputs != ["hls", "mp4", "thumbnails"]:
        words.append("outputs " + ", ".join(outputs))
    if job.get("loudnorm"):
        words.append("loudness normalised")
    if job.get("private"):
        words.append("private (signed URLs)")
    return " · ".join(words)


def change_line(job: Json) -> Text:
    """One line per new state of a followed job: `12:00:04  PROCESSING  transcode  50 %  720p 50 %, 360p 50 %`."""
    status = job.get("status")
    line = Text.assemble(
        (str(job.get("updated_at") or "")[11:19] or "--:--:--", "dim"),
        "  ",
        status_text(status),
        f"  {job.get('current_step', '-')}  {job.get('progress', 0)} %",
    )
    progress = job.get("rendition_progress") or {}
    if progress and status == "PROCESSING":
        line.append("  " + ", ".join(f"{name} {pct} %" for name, pct in progress.items()), style="dim")
    if status == "QUEUED" and ("queue_position" in job or "estimated_start_at" in job):
        line.append(f"  {queue_line(job)}", style=STATUS_STYLE["QUEUED"])
    if job.get("playable_url") and status == "PROCESSING":
        line.append(f"  watch now: {job['playable_url']}")
    if job.get("error_type"):
        line.append(f"  {job.get('error_type')}: {job.get('error_message')}", style="red")
    return line


def queue_line(job: Json, now: datetime | None = None) -> str:
    """A QUEUED job's place: `position 3 in the queue (2 ahead), expected to start ~14:05 UTC`."""
    position = job.get("queue_position")
    if not isinstance(position, int):
        place = "waiting in the queue"
    elif position == 0:
        place = "next in the queue"
    else:
        place = f"position {position + 1} in the queue ({position} ahead)"
    start = _utc(job.get("estimated_start_at"))
    if start is None:
        return f"{place}, start time unknown"
    today = (now or datetime.now(UTC)).astimezone(UTC).date()
    shown = start.strftime("%H:%M") if start.date() == today else start.strftime("%Y-%m-%d %H:%M")
    return f"{place}, expected to start ~{shown} UTC"


def _utc(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def quality_lines(quality: list[Json]) -> list[Text]:
    """One line per rung, as the job's outputs list them: `1080p  VMAF 94.1 (min 88.0, 24 frames)`."""
    width = max((len(str(q.get("rendition", ""))) for q in quality), default=0)
    lines = []
    for q in quality:
        metric = str(q.get("metric", "")).upper()
        digits = 3 if metric == "SSIM" else 1  # SSIM is 0-1, VMAF 0-100
        mean, low = float(q.get("mean", 0)), float(q.get("min", 0))
        lines.append(
            Text.assemble(
                f"  {q.get('rendition', '')!s:<{width}}  ",
                (f"{metric} {mean:.{digits}f}", "bold"),
                (f" (min {low:.{digits}f}, {q.get('frames', 0)} frames)", "dim"),
            )
        )
    return lines


def jobs_table(jobs: list[Json]) -> Table:
    table = Table(box=None, pad_edge=False, header_style="bold")
    # The id is what every other command takes: never cut it; the file name gives way first.
    table.add_column("job", no_wrap=True, min_width=26)
    table.add_column("status", no_wrap=True, min_width=10)
    table.add_column("progress", justify="right", no_wrap=True, min_width=8)
    table.add_column("step", no_wrap=True, min_width=10)
    table.add_column("prio", justify="right", no_wrap=True, min_width=4)
    table.add_column("created (UTC)", no_wrap=True, min_width=14)
    table.add_column("file", overflow="ellipsis", no_wrap=True, max_width=40)
    for job in jobs:
        upload = job.get("upload") or {}
        table.add_row(
            str(job.get("job_id")),
            status_text(job.get("status")),
            f"{job.get('progress', 0)} %",
            str(job.get("current_step", "")),
            str(job.get("priority", "")),
            str(job.get("created_at", ""))[5:19].replace("T", " "),
            str(upload.get("file_name") or ""),
        )
    return table


def events_table(events: list[Json]) -> Table:
    table = Table(box=None, pad_edge=False, header_style="bold")
    for column in ("time", "step", "kind", "message"):
        table.add_column(column)
    for event in events:
        table.add_row(
            str(event.get("time", ""))[:23].replace("T", " "),
            str(event.get("step", "")),
            str(event.get("kind", "")),
            str(event.get("message", "")),
        )
    return table


WEBHOOK_STYLE = {"enabled": "green", "disabled": "red"}
DELIVERY_STYLE = {"pending": "yellow", "succeeded": "green", "failed": "red", "dead": "red"}


def webhooks_table(webhooks: list[Json]) -> Table:
    table = Table(box=None, pad_edge=False, header_style="bold")
    table.add_column("webhook", no_wrap=True, min_width=29)  # the id every other command takes: never cut
    table.add_column("status", no_wrap=True)
    table.add_column("events", overflow="fold")
    table.add_column("url", overflow="fold")
    table.add_column("description", overflow="ellipsis", no_wrap=True, max_width=30)
    for webhook in webhooks:
        status = str(webhook.get("status", ""))
        shown = Text(status, style=WEBHOOK_STYLE.get(status, ""))
        if webhook.get("disabled_reason"):
            shown.append(f" ({webhook['disabled_reason']})")
        table.add_row(
            str(webhook.get("id", "")),
            shown,
            ", ".join(str(e) for e in webhook.get("events") or ()),
            str(webhook.get("url", "")),
            str(webhook.get("description") or ""),
        )
    return table


def deliveries_table(deliveries: list[Json]) -> Table:
    """A webhook's delivery log, newest first: id, event type, status, attempts, last code, latency, next attempt."""
    table = Table(box=None, pad_edge=False, header_style="bold")
    # The id is what `replay` takes: never cut it; the event type gives way first.
    table.add_column("delivery", no_wrap=True, min_width=33)
    table.add_column("event type", no_wrap=True, overflow="ellipsis")
    table.add_column("status", no_wrap=True, min_width=9)
    table.add_column("attempts", justify="right", no_wrap=True, min_width=8)
    table.add_column("last code", justify="right", no_wrap=True, min_width=9)
    table.add_column("latency", justify="right", no_wrap=True, min_width=8)
    table.add_column("next attempt (UTC)", no_wrap=True, min_width=19)
    for delivery in deliveries:
        status = str(delivery.get("status", ""))
        code, latency = delivery.get("last_status_code"), delivery.get("last_latency_ms")
        table.add_row(
            str(delivery.get("id", "")),
            str(delivery.get("event_type", "")),
            Text(status, style=DELIVERY_STYLE.get(status, "")),
            str(delivery.get("attempt_count", 0)),
            "-" if code is None else str(code),
            "-" if latency is None else f"{latency} ms",
            _moment(delivery.get("next_attempt_at")),
        )
    return table


_DURATIONS = (
    ("mean_processing_seconds", "processing, mean"),
    ("p95_processing_seconds", "processing, p95"),
    ("mean_queue_wait_seconds", "queue wait, mean"),
)


def stats_view(stats: Json) -> Table:
    """GET /stats (the API's QueueStats): the window, job counts by status and by priority class, processing
    and queue-wait times, success rate. Fields this client does not know follow, flattened to dotted keys."""
    table = Table(box=None, pad_edge=False, show_header=False)
    table.add_column(style="dim", no_wrap=True)
    table.add_column()
    rest = dict(stats)
    since, until = rest.pop("since", None), rest.pop("until", None)
    if since is not None or until is not None:
        table.add_row("window (UTC)", f"{_moment(since)} to {_moment(until)}")
    if "jobs" in rest:
        table.add_row("jobs", str(rest.pop("jobs")))
    by_status = rest.pop("by_status", None)
    if isinstance(by_status, dict):
        for status, count in by_status.items():
            table.add_row(f"  {status}", Text(str(count), style=STATUS_STYLE.get(str(status), "") if count else ""))
    by_class = rest.pop("by_priority_class", None)
    if isinstance(by_class, dict):
        for name, count in by_class.items():
            table.add_row(f"  priority {name}", str(count))
    for key, label in _DURATIONS:
        if key in rest:
            seconds = rest.pop(key)
            table.add_row(label, "-" if seconds is None else f"{float(seconds):.1f} s")
    if "success_rate" in rest:
        rate = rest.pop("success_rate")
        table.add_row("success rate", "-" if rate is None else f"{float(rate) * 100:.1f} %")
    cost = rest.pop("cost", None)
    if isinstance(cost, dict):
        table.add_row("cost, estimated", f"{usd(cost.get('estimate_usd'))} ({cost.get('estimated_jobs', 0)} jobs)")
        table.add_row("cost, measured", f"{usd(cost.get('measured_usd'))} ({cost.get('measured_jobs', 0)} jobs)")
        table.add_row("  their estimate", usd(cost.get("measured_jobs_estimate_usd")))
        table.add_row("  Lambda", f"{float(cost.get('lambda_gb_seconds') or 0):.1f} GB-s")
        table.add_row("  stored", f"{int(cost.get('stored_bytes') or 0) / 1e6:.1f} MB")
    for key, value in _flatten(rest):
        table.add_row(key, value)
    return table


def _moment(value: object) -> str:
    return "-" if value is None else str(value)[:19].replace("T", " ")


def _flatten(value: Any, prefix: str = "") -> list[tuple[str, str]]:
    if isinstance(value, dict):
        rows: list[tuple[str, str]] = []
        for key, inner in value.items():
            rows += _flatten(inner, f"{prefix}.{key}" if prefix else str(key))
        return rows
    if isinstance(value, float):
        return [(prefix, f"{value:.2f}")]
    return [(prefix, "-" if value is None else str(value))]


class UploadDisplay:
    """A bytes / speed / ETA progress bar on stderr, fed by the engine's hooks (thread-safe)."""

    def __init__(self, console: Console, file_name: str) -> None:
        self.console = console
        self.file_name = file_name
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            DownloadColumn(binary_units=True),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            TextColumn("{task.fields[parts]}"),
            console=console,
            transient=False,
        )
        self._task: TaskID | None = None
        self._lock = threading.Lock()
        self._parts_done = 0
        self._part_count = 0

    def hooks(self, base: UploadHooks | None = None) -> UploadHooks:
        base = base or UploadHooks()

        def on_plan(plan: UploadPlan) -> None:
            self._parts_done, self._part_count = plan.parts_stored, plan.part_count
            self._task = self.progress.add_task(
                self.file_name, total=plan.size, completed=plan.bytes_stored, parts=self._parts_label()
            )
            self.progress.start()
            base.on_plan(plan)

        def on_bytes(delta: int) -> None:
            if self._task is not None:
                self.progress.advance(self._task, delta)
            base.on_bytes(delta)

        def on_part(number: int) -> None:
            with self._lock:
                self._parts_done += 1
                label = self._parts_label()
            if self._task is not None:
                self.progress.update(self._task, parts=label)
            base.on_part(number)

        def on_notice(message: str) -> None:
            self.progress.console.print(Text(message, style="dim"))
            base.on_notice(message)

        return UploadHooks(on_plan=on_plan, on_bytes=on_bytes, on_part=on_part, on_notice=on_notice)

    def _parts_label(self) -> str:
        return f"parts {self._parts_done}/{self._part_count}"

    def close(self) -> None:
        self.progress.stop()
