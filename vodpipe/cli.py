"""The `vodpipe` command line."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from vodpipe.local.runtime import LocalRuntime, LocalRuntimeError

if TYPE_CHECKING:
    from rich.console import Console, RenderableType

    from vodpipe.client.api import ApiClient, Json
    from vodpipe.client.errors import ClientError

app = typer.Typer(no_args_is_help=True, add_completion=False, help="vodpipe: serverless video pipeline.")
local = typer.Typer(no_args_is_help=True, help="The local AWS runtime (LocalStack on this host).")
app.add_typer(local, name="local")


@local.command("up")
def local_up() -> None:
    """Start LocalStack in the background and wait until it is healthy."""
    runtime = LocalRuntime.from_env()
    try:
        took = runtime.up()
    except LocalRuntimeError as exc:
        typer.echo(f"vodpipe local up: {exc}", err=True)
        raise typer.Exit(1) from exc
    note = "already running" if took == 0 else f"ready in {took:.1f} s"
    typer.echo(f"LocalStack {note} at {runtime.endpoint} (log: {runtime.log_file})")


@local.command("down")
def local_down() -> None:
    """Stop LocalStack and every Lambda or DynamoDB process it started."""
    runtime = LocalRuntime.from_env()
    stopped = runtime.down()
    left = runtime.processes()
    if left:
        typer.echo(f"vodpipe local down: {len(left)} processes still alive: {[p.pid for p in left]}", err=True)
        raise typer.Exit(1)
    typer.echo(f"LocalStack stopped ({stopped} processes)." if stopped else "LocalStack was not running.")


@local.command("deploy")
def local_deploy(
    if_changed: Annotated[
        bool,
        typer.Option(
            "--if-changed",
            help="Skip when this LocalStack already runs a deployment of the same sources (used by `make demo`).",
        ),
    ] = False,
) -> None:
    """Synthesize the CDK app and deploy it to the running local runtime."""
    from vodpipe.local import stamp
    from vodpipe.local.deploy import DeployError
    from vodpipe.local.stack import deploy_local

    runtime = LocalRuntime.from_env()
    if not runtime.healthy():
        typer.echo("vodpipe local deploy: LocalStack is not running: run `make up`", err=True)
        raise typer.Exit(1)
    if if_changed and stamp.unchanged(runtime):
        typer.echo(
            f"deploy-local: skipped, LocalStack at {runtime.endpoint} already runs these sources "
            "(`make deploy-local` redeploys)"
        )
        return
    started = time.monotonic()
    stamp.forget(runtime)
    try:
        deploy_local(runtime)
    except DeployError as exc:
        typer.echo(f"vodpipe local deploy: {exc}", err=True)
        raise typer.Exit(1) from exc
    stamp.record(runtime)
    typer.echo(f"deploy-local took {time.monotonic() - started:.1f} s")


@local.command("status")
def local_status(as_json: bool = typer.Option(False, "--json", help="Print one JSON document.")) -> None:
    """Say whether LocalStack is running, its endpoint and memory."""
    status = LocalRuntime.from_env().status()
    if as_json:
        typer.echo(json.dumps(status))
    elif status["running"]:
        health = "healthy" if status["healthy"] else "NOT healthy"
        typer.echo(
            f"LocalStack {health}, pid {status['pid']}, {status['endpoint']}, "
            f"{status['processes']} processes, {status['rss_mb']} MB RSS"
        )
    else:
        typer.echo("LocalStack is not running (start it with `make up`).")
    if not status["running"] or not status["healthy"]:
        raise typer.Exit(3)


# -- the API client commands -----------------------------------------------------------------------------
# Exit codes: 0 done; 1 an error (message on stderr; with --json also the error document on stdout);
# 2 bad usage; 3 `admin health`: the deployment is degraded; 4 the job ended FAILED or CANCELLED (--wait, --watch),
# or the webhook delivery failed (`webhooks test --wait`); 130 interrupted (the upload resumes).
EXIT_ERROR, EXIT_USAGE, EXIT_JOB_FAILED, EXIT_INTERRUPTED = 1, 2, 4, 130

ApiUrl = Annotated[
    str | None,
    typer.Option("--api-url", envvar="VODPIPE_API_URL", help="API base URL [default: the local deployment]."),
]
Token = Annotated[
    str | None,
    typer.Option("--token", envvar="VODPIPE_TOKEN", help="API token [default: config.toml].", show_default=False),
]
AsJson = Annotated[bool, typer.Option("--json", help="Print exactly one JSON document on stdout.")]
JobArg = Annotated[str, typer.Argument(help="The job id.", show_default=False)]


def _stderr() -> Console:
    from rich.console import Console

    return Console(stderr=True, highlight=False)


def _live_ok() -> bool:
    """Progress displays only where someone watches: a terminal on stderr."""
    return sys.stderr.isatty()


def _emit(as_json: bool, document: Any, human: RenderableType | str | None = None) -> None:
    if as_json:
        typer.echo(json.dumps(document, default=str))
        return
    from rich.console import Console

    Console(highlight=False, soft_wrap=True).print(human if human is not None else json.dumps(document, indent=2))


def _fail(command: str, exc: ClientError | str, as_json: bool, code: int = EXIT_ERROR) -> typer.Exit:
    from vodpipe.client.errors import ClientError

    typer.echo(f"vodpipe {command}: {exc}", err=True)
    if as_json:
        document = exc.document() if isinstance(exc, ClientError) else {"error": "error", "message": exc}
        typer.echo(json.dumps(document, default=str))
    return typer.Exit(code)


@contextmanager
def _api(command: str, as_json: bool, api_url: str | None, token: str | None) -> Iterator[ApiClient]:
    """An API client for the target the options name; client errors become one line and exit code 1."""
    from vodpipe.client.api import ApiClient
    from vodpipe.client.config import resolve_target
    from vodpipe.client.errors import ClientError

    try:
        target = resolve_target(api_url, token)
        with ApiClient(target.api_url, target.token) as api:
            yield api
    except ClientError as exc:
        raise _fail(command, exc, as_json) from exc
    except KeyboardInterrupt:
        raise _fail(command, "interrupted", as_json, EXIT_INTERRUPTED) from None


def _follow(
    api: ApiClient, job_id: str, *, timeout: float | None, on_change: Callable[[Json], None] | None = None
) -> Json:
    """Follow a job to its end (long-polls): `on_change` sees each new state; without one, a live view on stderr
    when it is a terminal."""
    from vodpipe.client.follow import follow_job

    if on_change is not None or not _live_ok():
        return follow_job(api, job_id, timeout=timeout, on_update=on_change)
    from rich.live import Live

    from vodpipe.client.render import job_view

    with Live(console=_stderr(), refresh_per_second=4, transient=True) as live:
        return follow_job(api, job_id, timeout=timeout, on_update=lambda job: live.update(job_view(job)))


def _job_ended_badly(command: str, job: Json, as_json: bool) -> None:
    if job.get("status") in ("FAILED", "CANCELLED"):
        reason = f"{job.get('error_type')}: {job.get('error_message')}" if job.get("error_type") else "no reason given"
        typer.echo(f"vodpipe {command}: job {job.get('job_id')} {job.get('status')} ({reason})", err=True)
        raise typer.Exit(EXIT_JOB_FAILED)


def parse_clip_range(text: str) -> dict[str, Any]:
    """`12.5-20` (exact) or `fast:12.5-20` -> {start_s, end_s, mode}."""
    mode, _, span = text.rpartition(":")
    start, sep, end = span.partition("-")
    if not sep:
        raise ValueError("expected START-END in seconds, e.g. 12.5-20 (or fast:12.5-20)")
    try:
        return {"start_s": float(start), "end_s": float(end), "mode": mode or "exact"}
    except ValueError:
        raise ValueError(f"not seconds: {span!r}; expected e.g. 12.5-20") from None


def _csv(value: str | None) -> tuple[str, ...] | None:
    return None if value is None else tuple(v.strip() for v in value.split(",") if v.strip())


@app.command("upload")
def upload_cmd(
    file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="The video.", show_default=False)
    ],
    *,
    priority: Annotated[
        int | None,
        typer.Option(min=1, max=10, help="1 (most urgent) to 10 (bulk), within your token's tier [server: 5]."),
    ] = None,
    preset: Annotated[str | None, typer.Option(help="A preset of `vodpipe presets` [server: web].")] = None,
    fit: Annotated[
        str | None, typer.Option(help="pad or crop: how the picture fills a vertical or square preset's frame.")
    ] = None,
    renditions: Annotated[
        str | None, typer.Option(help="Comma-separated rungs of the preset, e.g. 720p,360p [server: all].")
    ] = None,
    outputs: Annotated[
        str | None,
        typer.Option(help="Comma-separated: hls,mp4,thumbnails,audio,mp3,wav16k [server: the preset's]."),
    ] = None,
    mp4: Annotated[
        str | None, typer.Option("--mp4", help="Comma-separated rungs that get an MP4 download [server: the middle].")
    ] = None,
    loudnorm: Annotated[bool, typer.Option("--loudnorm", help="EBU R128 loudness normalisation of audio.")] = False,
    private: Annotated[bool, typer.Option("--private", help="Signed, short-lived playback URLs only.")] = False,
    clip: Annotated[
        str | None, typer.Option(help="Make only START-END (seconds) of the file, e.g. 12.5-20; `fast:` copies.")
    ] = None,
    part_size: Annotated[int | None, typer.Option("--part-size", min=5, help="Part size in MiB [server: 8].")] = None,
    parallel: Annotated[int, typer.Option(min=1, max=32, help="Parts uploaded at once.")] = 4,
    wait: Annotated[bool, typer.Option("--wait", help="Follow the job until it ends.")] = False,
    timeout: Annotated[float | None, typer.Option(help="With --wait: give up after this many seconds.")] = None,
    as_json: AsJson = False,
    api_url: ApiUrl = None,
    token: Token = None,
) -> None:
    """Upload a video (resumable: run the same command again after an interruption), then optionally wait."""
    from vodpipe.client.config import config_dir
    from vodpipe.client.errors import UploadInterrupted
    from vodpipe.client.render import UploadDisplay
    from vodpipe.client.resume import ResumeStore
    from vodpipe.client.upload import Uploader, UploadHooks, UploadRequest

    try:
        clip_range = parse_clip_range(clip) if clip else None
    except ValueError as bad:
        raise typer.BadParameter(str(bad), param_hint="--clip") from None
    request = UploadRequest(
        priority=priority,
        renditions=_csv(renditions),
        outputs=_csv(outputs),
        part_size=part_size * 2**20 if part_size else None,
        preset=preset,
        fit=fit,
        mp4_renditions=_csv(mp4),
        loudnorm=loudnorm or None,
        private=private or None,
        clip=clip_range,
    )
    with _api("upload", as_json, api_url, token) as api:
        display = UploadDisplay(_stderr(), file.name) if _live_ok() else None
        notices = UploadHooks(on_notice=lambda m: typer.echo(m, err=True))
        uploader = Uploader(
            api, ResumeStore(config_dir() / "uploads"), parallel=parallel, hooks=display.hooks() if display else notices
        )
        try:
            result = uploader.upload(file, request)
        except UploadInterrupted as exc:
            raise _fail("upload", exc, as_json, EXIT_INTERRUPTED) from None
        finally:
            if display:
                display.close()
        job = _follow(api, result.job_id, timeout=timeout) if wait else result.job
    document = {"job": job, "upload": result.document()}
    playback = (job.get("outputs") or {}).get("playback_url")
    summary = (
        f"uploaded {result.bytes_uploaded / 2**20:.1f} MiB in {result.parts_uploaded} parts "
        f"({result.parts_skipped} already stored) at {result.mib_per_s:.1f} MiB/s: "
        f"job {result.job_id} {job.get('status')}"
    )
    from vodpipe.client.render import job_view

    if wait:
        from rich.console import Group

        _emit(as_json, document | {"playback_url": playback}, Group(summary, job_view(job)))
        _job_ended_badly("upload", job, as_json)
    else:
        _emit(as_json, document, summary + f"\nfollow it with: vodpipe status {result.job_id} --watch")


@app.command("clip")
def clip_cmd(
    job_id: JobArg,
    *,
    start: Annotated[float, typer.Option("--start", min=0, help="Seconds from the job's first frame.")],
    end: Annotated[float, typer.Option("--end", min=0, help="Seconds from the job's first frame (exclusive).")],
    mode: Annotated[
        str, typer.Option(help="exact (frame-accurate, re-encoded) or fast (stream copy from the keyframe before).")
    ] = "exact",
    preset: Annotated[str | None, typer.Option(help="A preset of `vodpipe presets` [server: web].")] = None,
    fit: Annotated[str | None, typer.Option(help="pad or crop, for a vertical or square preset.")] = None,
    renditions: Annotated[str | None, typer.Option(help="Comma-separated rungs of the preset.")] = None,
    outputs: Annotated[str | None, typer.Option(help="Comma-separated outputs [server: the preset's].")] = None,
    priority: Annotated[int | None, typer.Option(min=1, max=10, help="1 (most urgent) to 10 (bulk).")] = None,
    private: Annotated[bool, typer.Option("--private", help="Signed, short-lived playback URLs only.")] = False,
    wait: Annotated[bool, typer.Option("--wait", help="Follow the clip until it ends.")] = False,
    timeout: Annotated[float | None, typer.Option(help="With --wait: give up after this many seconds.")] = None,
    as_json: AsJson = False,
    api_url: ApiUrl = None,
    token: Token = None,
) -> None:
    """Cut START-END of one of your jobs' source into a job of its own (its own status, outputs and events)."""
    from vodpipe.client.clips import ClipRequest, create_clip, describe_clip
    from vodpipe.client.render import job_view

    if mode not in {"exact", "fast"}:
        raise typer.BadParameter("exact or fast", param_hint="--mode")
    request = ClipRequest(
        start_s=start,
        end_s=end,
        mode="fast" if mode == "fast" else "exact",
        preset=preset,
        fit=fit,
        renditions=_csv(renditions),
        outputs=_csv(outputs),
        priority=priority,
        private=private or None,
    )
    with _api("clip", as_json, api_url, token) as api:
        job = create_clip(api, job_id, request)
        clip_id = str(job["job_id"])
        if wait:
            job = _follow(api, clip_id, timeout=timeout)
    if wait:
        from rich.console import Group

        _emit(as_json, job, Group(describe_clip(job), job_view(job)))
        _job_ended_badly("clip", job, as_json)
    else:
        _emit(as_json, job, f"clip job {clip_id} {job.get('status')}\nfollow it with: vodpipe status {clip_id} --watch")


@app.command("presets")
def presets_cmd(as_json: AsJson = False, api_url: ApiUrl = None, token: Token = None) -> None:
    """The deployment's presets: name, version, the frames each makes, its outputs."""
    from vodpipe.client.downloads import describe_presets, list_presets

    with _api("presets", as_json, api_url, token) as api:
        presets = list_presets(api)
    _emit(as_json, presets, "\n".join(describe_presets(presets)))


@app.command("downloads")
def downloads_cmd(job_id: JobArg, as_json: AsJson = False, api_url: ApiUrl = None, token: Token = None) -> None:
    """A job's downloadable files (MP4 per rung, audio, captions) and their names for `vodpipe download`."""
    from vodpipe.client.downloads import list_downloads

    with _api("downloads", as_json, api_url, token) as api:
        files = list_downloads(api, job_id)
    lines = [f"{f.get('name')}  {f.get('size_bytes', '?')} bytes  -> {f.get('file_name')}" for f in files]
    _emit(as_json, files, "\n".join(lines) or "no downloads yet")


@app.command("download")
def download_cmd(
    job_id: JobArg,
    name: Annotated[str, typer.Argument(help="A name of `vodpipe downloads JOB`, e.g. 720p.mp4 or audio.m4a.")],
    *,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="A file or a folder [the server's file name, here].")
    ] = None,
    as_json: AsJson = False,
    api_url: ApiUrl = None,
    token: Token = None,
) -> None:
    """Save one of a job's files under its readable name (through a short-lived signed link)."""
    from vodpipe.client.downloads import save_download

    with _api("download", as_json, api_url, token) as api:
        saved = save_download(api, job_id, name, out)
    _emit(as_json, {"job_id": job_id, "name": name, "path": str(saved)}, f"saved {saved}")


@app.command("status")
def status_cmd(
    job_id: JobArg,
    *,
    watch: Annotated[
        bool,
        typer.Option(
            "--watch", help="Follow the job until it ends, printing each change (with --json: one JSON line each)."
        ),
    ] = False,
    timeout: Annotated[float | None, typer.Option(help="With --watch: give up after this many seconds.")] = None,
    as_json: AsJson = False,
    api_url: ApiUrl = None,
    token: Token = None,
) -> None:
    """Show a job: status, current step, progress per rendition, playback URL."""
    from vodpipe.client.render import change_line, job_view

    if not watch:
        with _api("status", as_json, api_url, token) as api:
            job = api.get_job(job_id)
        _emit(as_json, job, job_view(job))
        return

    def printed(state: Json) -> None:
        # Each state as it comes: JSON Lines with --json (the last one is the final state).
        _emit(as_json, state, change_line(state))

    with _api("status", as_json, api_url, token) as api:
        job = _follow(api, job_id, timeout=timeout, on_change=printed)
    if not as_json:
        _emit(as_json, job, job_view(job))
    _job_ended_badly("status", job, as_json)


@app.command("jobs")
def jobs_cmd(
    *,
    status: Annotated[str | None, typer.Option(help="Only jobs in this status, e.g. PROCESSING.")] = None,
    limit: Annotated[int | None, typer.Option(min=1, max=100, help="At most this many.")] = None,
    cursor: Annotated[str | None, typer.Option(help="Continue a listing (its next_cursor).")] = None,
    as_json: AsJson = False,
    api_url: ApiUrl = None,
    token: Token = None,
) -> None:
    """List your jobs, newest first."""
    from rich.console import Group

    from vodpipe.client.render import jobs_table

    with _api("jobs", as_json, api_url, token) as api:
        page = api.list_jobs(status=status.upper() if status else None, limit=limit, cursor=cursor)
    more = f"more: vodpipe jobs --cursor {page['next_cursor']}" if page.get("next_cursor") else ""
    _emit(as_json, page, Group(jobs_table(list(page.get("jobs") or [])), more))


def _job_action(
    command: str, action: Callable[[ApiClient], Json], as_json: bool, api_url: str | None, token: str | None
) -> Json:
    from vodpipe.client.render import job_view

    with _api(command, as_json, api_url, token) as api:
        job = action(api)
    _emit(as_json, job, job_view(job))
    return job


@app.command("cancel")
def cancel_cmd(job_id: JobArg, as_json: AsJson = False, api_url: ApiUrl = None, token: Token = None) -> None:
    """Cancel a job (an unfinished upload too)."""
    from vodpipe.client.config import config_dir
    from vodpipe.client.resume import ResumeStore

    _job_action("cancel", lambda api: api.cancel_job(job_id), as_json, api_url, token)
    ResumeStore(config_dir() / "uploads").forget_job(job_id)


@app.command("retry")
def retry_cmd(job_id: JobArg, as_json: AsJson = False, api_url: ApiUrl = None, token: Token = None) -> None:
    """Queue a FAILED job again."""
    _job_action("retry", lambda api: api.retry_job(job_id), as_json, api_url, token)


@app.command("events")
def events_cmd(job_id: JobArg, as_json: AsJson = False, api_url: ApiUrl = None, token: Token = None) -> None:
    """A job's history, oldest first."""
    from vodpipe.client.render import events_table

    with _api("events", as_json, api_url, token) as api:
        answer = api.job_events(job_id)
    _emit(as_json, answer, events_table(list(answer.get("events") or [])))


@app.command("stats")
def stats_cmd(
    window_hours: Annotated[
        int | None,
        typer.Option("--window-hours", min=1, max=720, help="Look back this many hours (1 to 720) [server: 24]."),
    ] = None,
    as_json: AsJson = False,
    api_url: ApiUrl = None,
    token: Token = None,
) -> None:
    """Your jobs over a recent window: counts by status and priority, processing times, success rate."""
    from vodpipe.client.render import stats_view

    with _api("stats", as_json, api_url, token) as api:
        stats = api.stats(window_hours)
    _emit(as_json, stats, stats_view(stats))


@app.command("priority")
def priority_cmd(
    job_id: JobArg,
    priority: Annotated[
        int, typer.Argument(min=1, max=10, help="1 (most urgent) to 10 (bulk), within your token's tier.")
    ],
    as_json: AsJson = False,
    api_url: ApiUrl = None,
    token: Token = None,
) -> None:
    """Change a waiting (UPLOADING or QUEUED) job's priority; it keeps its time in the queue."""
    _job_action("priority", lambda api: api.set_priority(job_id, priority), as_json, api_url, token)


# -- webhooks ------------------------------------------------------------------------------------------------
webhooks_app = typer.Typer(
    no_args_is_help=True, help="Your webhook endpoints: job events POSTed to your URLs, signed (Standard Webhooks)."
)
app.add_typer(webhooks_app, name="webhooks")
WebhookArg = Annotated[str, typer.Argument(help="The webhook's id (wh_…, from `webhooks list`).", show_default=False)]


def _show_secret(as_json: bool, answer: Json, what: str) -> None:
    """The signing secret alone on stdout (scripts take it from there), what it is on stderr: shown only once."""
    if as_json:
        typer.echo(json.dumps(answer, default=str))
        return
    webhook = answer.get("webhook") or {}
    events = ", ".join(str(e) for e in webhook.get("events") or ())
    typer.echo(
        f"webhook {webhook.get('id')} {what} for {webhook.get('url')} (events: {events}); its signing secret "
        "is shown only this once: keep it to verify the webhook-signature header of each delivery:",
        err=True,
    )
    typer.echo(answer.get("secret"))


@webhooks_app.command("create")
def webhooks_create(
    url: Annotated[str, typer.Argument(help="Where to POST the events: https, a public address.", show_default=False)],
    *,
    event: Annotated[
        list[str] | None,
        typer.Option(
            "--event", help="An event type (job.completed), a family (job.*) or * (repeat the option) [server: *]."
        ),
    ] = None,
    description: Annotated[str | None, typer.Option(help="A note for you [server: none].")] = None,
    as_json: AsJson = False,
    api_url: ApiUrl = None,
    token: Token = None,
) -> None:
    """Register an endpoint for your jobs' events; prints its signing secret, once."""
    with _api("webhooks create", as_json, api_url, token) as api:
        answer = api.create_webhook(url, events=event, description=description)
    _show_secret(as_json, answer, "created")


@webhooks_app.command("list")
def webhooks_list(as_json: AsJson = False, api_url: ApiUrl = None, token: Token = None) -> None:
    """Your endpoints: id, status (a disabled one says why), events, URL (never the secrets)."""
    from vodpipe.client.render import webhooks_table

    with _api("webhooks list", as_json, api_url, token) as api:
        answer = api.list_webhooks()
    webhooks = list(answer.get("webhooks") or [])
    _emit(
        as_json, answer, webhooks_table(webhooks) if webhooks else "no webhooks: add one with `vodpipe webhooks create`"
    )


@webhooks_app.command("delete")
def webhooks_delete(
    webhook_id: WebhookArg, as_json: AsJson = False, api_url: ApiUrl = None, token: Token = None
) -> None:
    """Delete an endpoint: nothing more is sent to it."""
    with _api("webhooks delete", as_json, api_url, token) as api:
        api.delete_webhook(webhook_id)
    _emit(as_json, {"deleted": webhook_id}, f"deleted webhook {webhook_id}")


@webhooks_app.command("enable")
def webhooks_enable(
    webhook_id: WebhookArg, as_json: AsJson = False, api_url: ApiUrl = None, token: Token = None
) -> None:
    """Enable a disabled endpoint again (it answered 410 Gone, or failed for days): deliveries resume."""
    from vodpipe.client.render import webhooks_table

    with _api("webhooks enable", as_json, api_url, token) as api:
        webhook = api.enable_webhook(webhook_id)
    _emit(as_json, webhook, webhooks_table([webhook]))


@webhooks_app.command("rotate")
def webhooks_rotate(
    webhook_id: WebhookArg, as_json: AsJson = False, api_url: ApiUrl = None, token: Token = None
) -> None:
    """A new signing secret (printed once); the previous one still signs for a while (24 h), so you can switch."""
    with _api("webhooks rotate", as_json, api_url, token) as api:
        answer = api.rotate_webhook_secret(webhook_id)
    _show_secret(as_json, answer, "has a new secret")
    if not as_json and answer.get("previous_secret_expires_at"):
        expires = str(answer["previous_secret_expires_at"])[:19].replace("T", " ")
        typer.echo(f"the previous secret also signs until {expires} UTC", err=True)


@webhooks_app.command("test")
def webhooks_test(
    webhook_id: WebhookArg,
    *,
    wait: Annotated[
        bool, typer.Option("--wait", help="Wait (at most --timeout s) until the delivery succeeded or failed.")
    ] = False,
    timeout: Annotated[float, typer.Option(min=1, max=60, help="With --wait: give up after this many seconds.")] = 60,
    as_json: AsJson = False,
    api_url: ApiUrl = None,
    token: Token = None,
) -> None:
    """Send a webhook.test event to the endpoint; with --wait, its outcome (exit code 4 when it failed)."""
    from vodpipe.client.webhooks import SUCCEEDED, describe, wait_for_delivery

    with _api("webhooks test", as_json, api_url, token) as api:
        delivery = dict(api.test_webhook(webhook_id).get("delivery") or {})
        if wait:
            delivery = wait_for_delivery(api, webhook_id, str(delivery.get("id")), timeout=timeout)
    _emit(as_json, {"delivery": delivery}, f"test delivery {delivery.get('id')} {describe(delivery)}")
    if wait and delivery.get("status") != SUCCEEDED:
        raise typer.Exit(EXIT_JOB_FAILED)


@webhooks_app.command("deliveries")
def webhooks_deliveries(
    webhook_id: WebhookArg,
    *,
    limit: Annotated[int | None, typer.Option(min=1, max=100, help="At most this many [server: 20].")] = None,
    cursor: Annotated[str | None, typer.Option(help="Continue a listing (its next_cursor).")] = None,
    as_json: AsJson = False,
    api_url: ApiUrl = None,
    token: Token = None,
) -> None:
    """The endpoint's deliveries, newest first: status, attempts, the last answer, the next attempt."""
    from rich.console import Group

    from vodpipe.client.render import deliveries_table

    with _api("webhooks deliveries", as_json, api_url, token) as api:
        page = api.webhook_deliveries(webhook_id, limit=limit, cursor=cursor)
    deliveries = list(page.get("deliveries") or [])
    more = (
        f"more: vodpipe webhooks deliveries {webhook_id} --cursor {page['next_cursor']}"
        if page.get("next_cursor")
        else ""
    )
    _emit(as_json, page, Group(deliveries_table(deliveries), more) if deliveries else "no deliveries yet")


@webhooks_app.command("replay")
def webhooks_replay(
    webhook_id: WebhookArg,
    delivery_id: Annotated[str, typer.Argument(help="The delivery's id (msg_…).", show_default=False)],
    as_json: AsJson = False,
    api_url: ApiUrl = None,
    token: Token = None,
) -> None:
    """Send a delivery again (same webhook-id, so receivers that dedupe see the same message), a new round of tries."""
    from vodpipe.client.webhooks import describe

    with _api("webhooks replay", as_json, api_url, token) as api:
        delivery = dict(api.replay_delivery(webhook_id, delivery_id).get("delivery") or {})
    _emit(as_json, {"delivery": delivery}, f"replaying delivery {delivery.get('id')}: {describe(delivery)}")


# -- captions ------------------------------------------------------------------------------------------------
captions_app = typer.Typer(no_args_is_help=True, help="Caption (subtitle) tracks of your completed jobs.")
app.add_typer(captions_app, name="captions")
CaptionArg = Annotated[str, typer.Argument(help="The caption's id (cap_…, from `captions list`).", show_default=False)]


@captions_app.command("add")
def captions_add(
    job_id: JobArg,
    file: Annotated[Path, typer.Argument(help="A WebVTT (.vtt) or SubRip (.srt) file, UTF-8.", show_default=False)],
    *,
    language: Annotated[str, typer.Option("--language", help="BCP 47 tag: en, pt-BR, zh-Hant…")],
    label: Annotated[str | None, typer.Option("--label", help="What players list (default: the language).")] = None,
    default: Annotated[bool, typer.Option("--default", help="Shown unless the viewer picks another.")] = False,
    file_format: Annotated[
        str | None, typer.Option("--format", help="vtt or srt (default: from the extension).")
    ] = None,
    as_json: AsJson = False,
    api_url: ApiUrl = None,
    token: Token = None,
) -> None:
    """Upload a caption file to a COMPLETED job: checked, cleaned, added to its HLS and DASH manifests."""
    from vodpipe.client.captions import add_caption, describe

    with _api("captions add", as_json, api_url, token) as api:
        caption = add_caption(
            api, job_id, file, language=language, label=label, default=default, file_format=file_format
        )
    _emit(as_json, caption, describe(caption))


@captions_app.command("list")
def captions_list(job_id: JobArg, as_json: AsJson = False, api_url: ApiUrl = None, token: Token = None) -> None:
    """The job's captions."""
    from vodpipe.client.captions import describe

    with _api("captions list", as_json, api_url, token) as api:
        answer = api.list_captions(job_id)
    captions = list(answer.get("captions") or [])
    listing = "\n".join(describe(c) for c in captions)
    _emit(as_json, answer, listing or "no captions: add one with `vodpipe captions add`")


@captions_app.command("delete")
def captions_delete(
    job_id: JobArg, caption_id: CaptionArg, as_json: AsJson = False, api_url: ApiUrl = None, token: Token = None
) -> None:
    """Remove a caption track from the job and its manifests."""
    with _api("captions delete", as_json, api_url, token) as api:
        api.delete_caption(job_id, caption_id)
    _emit(as_json, {"deleted": caption_id}, f"deleted caption {caption_id}")


# -- operators -----------------------------------------------------------------------------------------------
# `admin tokens` writes the deployment's jobs table with your AWS credentials (vodpipe/admin/deployment.py says
# how the deployment is found); `admin queue` and `admin health` call the API with an admin token.
admin = typer.Typer(no_args_is_help=True, help="Operators: API tokens, the queue, the deployment's health.")
app.add_typer(admin, name="admin")
tokens_app = typer.Typer(
    no_args_is_help=True, help="API tokens of a deployment, in its jobs table (uses your AWS credentials)."
)
admin.add_typer(tokens_app, name="tokens")
EXIT_DEGRADED = 3

EndpointUrl = Annotated[
    str | None,
    typer.Option(
        "--endpoint-url",
        envvar="AWS_ENDPOINT_URL",
        help="AWS endpoint [default: AWS_ENDPOINT_URL, else the local deployment, else AWS].",
        show_default=False,
    ),
]
Region = Annotated[
    str | None, typer.Option("--region", help="AWS region [default: your configuration's].", show_default=False)
]
UseAws = Annotated[bool, typer.Option("--aws", help="AWS itself, even when a local deployment is recorded.")]


@contextmanager
def _tokens(command: str, as_json: bool, endpoint_url: str | None, region: str | None, aws: bool) -> Iterator[Any]:
    """The deployment's TokenRegistry; SDK failures and refusals become one line and exit code 1 (2: bad input)."""
    from botocore.exceptions import BotoCoreError
    from botocore.exceptions import ClientError as SdkClientError

    from lambdas.auth.ports import TokenNotFound
    from vodpipe.admin import deployment
    from vodpipe.admin.tokens import InvalidTokenRequest
    from vodpipe.client.errors import ClientError

    try:
        target = deployment.resolve_aws_target(endpoint_url, region, aws=aws)
    except ClientError as exc:  # an unreadable record of the local deployment
        raise _fail(command, exc, as_json) from exc
    try:
        yield deployment.token_registry(target)
    except InvalidTokenRequest as exc:
        raise _fail(command, str(exc), as_json, EXIT_USAGE) from None
    except TokenNotFound as exc:
        raise _fail(command, str(exc), as_json) from None
    except ClientError as exc:
        raise _fail(command, exc, as_json) from exc
    except (BotoCoreError, SdkClientError) as exc:
        raise _fail(command, deployment.failure(exc, target), as_json) from exc


@tokens_app.command("create")
def tokens_create(
    *,
    user: Annotated[
        str, typer.Option("--user", help="The user id (it names their upload prefix).", show_default=False)
    ],
    role: Annotated[str, typer.Option("--role", help="user, or admin (the operators' routes, any priority).")] = "user",
    max_priority: Annotated[
        int,
        typer.Option(
            "--max-priority", min=1, max=10, help="The most urgent priority the user may ask for (1: any, 4: 4 to 10)."
        ),
    ] = 1,
    email: Annotated[
        str | None,
        typer.Option("--email", help="Where the user's job completion and failure emails go [default: none]."),
    ] = None,
    as_json: AsJson = False,
    endpoint_url: EndpointUrl = None,
    region: Region = None,
    aws: UseAws = False,
) -> None:
    """Make a token for a user and print it, once: only its hash is stored."""
    from vodpipe.admin.tokens import issue_token

    with _tokens("admin tokens create", as_json, endpoint_url, region, aws) as registry:
        issued = issue_token(registry, user, role=role, max_priority=max_priority, email=email)
    if as_json:
        typer.echo(json.dumps(issued.document()))
        return
    who = issued.record.identity
    mail = f", emails to {who.email}" if who.email else ""
    typer.echo(
        f"token {issued.record.token_id} for {who.owner} (role {who.role.value}, priorities {who.max_priority} to 10"
        f"{mail}); "
        'shown only this once, keep it (e.g. token = "..." in ~/.config/vodpipe/config.toml):',
        err=True,
    )
    typer.echo(issued.token)


@tokens_app.command("list")
def tokens_list(
    as_json: AsJson = False, endpoint_url: EndpointUrl = None, region: Region = None, aws: UseAws = False
) -> None:
    """Every token by id, with its user (and their email), role, tier and creation time (never the token)."""
    from vodpipe.admin.render import tokens_table
    from vodpipe.admin.tokens import record_document

    with _tokens("admin tokens list", as_json, endpoint_url, region, aws) as registry:
        records = [record_document(r) for r in registry.tokens()]
    # The table's user column names the email too, as mail programs write it: `alice <alice@example.com>`.
    shown = [r | {"user": f"{r['user']} <{r['email']}>"} if r.get("email") else r for r in records]
    _emit(as_json, {"tokens": records}, tokens_table(shown) if records else "no tokens listed")


@tokens_app.command("revoke")
def tokens_revoke(
    token_id: Annotated[str, typer.Argument(help="The token's id (from `admin tokens list`).", show_default=False)],
    as_json: AsJson = False,
    endpoint_url: EndpointUrl = None,
    region: Region = None,
    aws: UseAws = False,
) -> None:
    """Revoke a token by its id: the API refuses it once the authorizer's cached answer expires (5 minutes)."""
    import re

    from lambdas.auth.tokens import TOKEN_ID_PATTERN
    from vodpipe.admin.tokens import record_document

    if not re.fullmatch(TOKEN_ID_PATTERN, token_id):
        raise _fail("admin tokens revoke", f"{token_id!r} is not a token id (16 hex digits)", as_json, EXIT_USAGE)
    with _tokens("admin tokens revoke", as_json, endpoint_url, region, aws) as registry:
        record = record_document(registry.revoke(token_id))
    _emit(as_json, {"revoked": record}, f"revoked token {token_id} of {record['user']} (role {record['role']})")


@admin.command("publish-console")
def admin_publish_console_cmd(
    endpoint_url: EndpointUrl = None,
    region: Region = None,
    aws: UseAws = False,
) -> None:
    """Upload the built web console (console/dist) and its config.json to the deployment's outputs bucket."""
    from botocore.exceptions import BotoCoreError
    from botocore.exceptions import ClientError as SdkClientError

    from vodpipe.admin import deployment
    from vodpipe.admin.console import ConsoleNotBuilt, publish_to_deployment
    from vodpipe.client.errors import ClientError

    command = "admin publish-console"
    try:
        target = deployment.resolve_aws_target(endpoint_url, region, aws=aws)
        typer.echo(publish_to_deployment(target))
    except (ConsoleNotBuilt, ClientError) as exc:
        raise _fail(command, str(exc), False) from None
    except (BotoCoreError, SdkClientError) as exc:
        raise _fail(command, deployment.failure(exc, target), False) from exc


@admin.command("queue")
def admin_queue_cmd(
    window_minutes: Annotated[
        int | None,
        typer.Option("--window-minutes", min=1, max=1440, help="Rates and waits over this many minutes [server: 60]."),
    ] = None,
    as_json: AsJson = False,
    api_url: ApiUrl = None,
    token: Token = None,
) -> None:
    """The whole queue (an admin token): running, waiting by class, oldest wait, rates, waits per class."""
    from vodpipe.admin.render import queue_view

    with _api("admin queue", as_json, api_url, token) as api:
        queue = api.admin_queue(window_minutes)
    _emit(as_json, queue, queue_view(queue))


@admin.command("health")
def admin_health_cmd(as_json: AsJson = False, api_url: ApiUrl = None, token: Token = None) -> None:
    """The deployment's health (an admin token); exit code 3 when it is degraded."""
    from vodpipe.admin.render import health_view

    with _api("admin health", as_json, api_url, token) as api:
        health = api.health()
    _emit(as_json, health, health_view(health))
    if health.get("status") != "ok":
        raise typer.Exit(EXIT_DEGRADED)


@app.command("demo")
def demo_cmd() -> None:
    """Upload a generated sample clip to the local deployment, wait, print where to play it (`make demo`)."""
    from vodpipe.demo import DemoError, run_demo

    try:
        run_demo()
    except DemoError as exc:
        typer.echo(f"vodpipe demo: {exc}", err=True)
        raise typer.Exit(1) from exc


if __name__ == "__main__":
    app()
