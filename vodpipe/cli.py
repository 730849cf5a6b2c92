"""The `vodpipe` command line."""

from __future__ import annotations

import json
import time

import typer

from vodpipe.local.runtime import LocalRuntime, LocalRuntimeError

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
def local_deploy() -> None:
    """Synthesize the CDK app and deploy it to the running local runtime."""
    from vodpipe.local.deploy import DeployError
    from vodpipe.local.stack import deploy_local

    runtime = LocalRuntime.from_env()
    if not runtime.healthy():
        typer.echo("vodpipe local deploy: LocalStack is not running: run `make up`", err=True)
        raise typer.Exit(1)
    started = time.monotonic()
    try:
        deploy_local(runtime)
    except DeployError as exc:
        typer.echo(f"vodpipe local deploy: {exc}", err=True)
        raise typer.Exit(1) from exc
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


if __name__ == "__main__":
    app()
