"""How the operators' documents look in a terminal: tokens, the queue (/admin/queue), the health report (/health)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from vodpipe.client.api import Json

CLASSES = ("high", "normal", "bulk")  # 1-3, 4-7, 8-10


def duration(seconds: object) -> str:
    """`45 s`, `5 min 12 s`, `2 h 03 min`; `-` when unknown."""
    if seconds is None:
        return "-"
    total = round(float(str(seconds)))
    if total < 60:
        return f"{total} s"
    minutes, secs = divmod(total, 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def moment(value: object) -> str:
    return "-" if value is None else str(value)[:19].replace("T", " ") + " UTC"


def tokens_table(records: list[Json]) -> Table:
    table = Table(box=None, pad_edge=False, header_style="bold")
    table.add_column("token id", no_wrap=True, min_width=16)
    table.add_column("user", no_wrap=True)
    table.add_column("role", no_wrap=True)
    table.add_column("max priority", justify="right", no_wrap=True)
    table.add_column("created (UTC)", no_wrap=True)
    for record in records:
        role = str(record.get("role", ""))
        table.add_row(
            str(record.get("token_id", "")),
            str(record.get("user", "")),
            Text(role, style="bold red" if role == "admin" else ""),
            str(record.get("max_priority", "")),
            str(record.get("created_at", ""))[:19].replace("T", " "),
        )
    return table


def _summary() -> Table:
    table = Table(box=None, pad_edge=False, show_header=False)
    table.add_column(style="dim", no_wrap=True)
    table.add_column()
    return table


def _by_class(counts: object) -> str:
    if not isinstance(counts, Mapping):
        return ""
    return ", ".join(f"{name} {counts.get(name, 0)}" for name in CLASSES)


def _rate(value: object) -> str:
    return "-" if value is None else f"{float(str(value)):.2f} / min"


def queue_view(queue: Json) -> RenderableType:
    """GET /admin/queue: running and waiting jobs, the oldest wait, rates and waits per priority class."""
    table = _summary()
    table.add_row("queue at", f"{moment(queue.get('generated_at'))} (last {queue.get('window_minutes', '?')} min)")
    table.add_row("running", f"{queue.get('running', '?')} / {queue.get('max_running_jobs', '?')}")
    classes = _by_class(queue.get("waiting_by_class"))
    table.add_row("waiting", f"{queue.get('waiting', '?')}" + (f" ({classes})" if classes else ""))
    table.add_row("oldest wait", duration(queue.get("oldest_wait_seconds")))
    table.add_row("admissions", _rate(queue.get("admissions_per_minute")))
    table.add_row("completions", _rate(queue.get("completions_per_minute")))
    waits = queue.get("wait_seconds")
    if not isinstance(waits, Mapping):
        return table
    per_class = Table(
        box=None, pad_edge=False, header_style="bold", title="waits before starting", title_justify="left"
    )
    for column in ("class", "jobs", "p50", "p95"):
        per_class.add_column(column, justify="left" if column == "class" else "right")
    for name in (*CLASSES, *(n for n in waits if n not in CLASSES)):
        wait = waits.get(name)
        if isinstance(wait, Mapping):
            per_class.add_row(name, str(wait.get("count", 0)), duration(wait.get("p50")), duration(wait.get("p95")))
    return Group(table, Text(""), per_class)


def health_view(health: Json) -> RenderableType:
    """GET /health: ok or degraded with its problems, then the figures behind them."""
    status = str(health.get("status", "unknown"))
    head = Text.assemble(
        ("health ", "dim"),
        (status.upper(), "bold green" if status == "ok" else "bold red"),
        (f"  at {moment(health.get('generated_at'))}", "dim"),
    )
    problems = [Text(f"  problem: {p}", style="red") for p in health.get("problems") or ()]
    table = _summary()
    table.add_row("running", f"{health.get('running', '?')} / {health.get('max_running_jobs', '?')}")
    table.add_row("waiting", str(health.get("waiting", "?")))
    table.add_row("oldest wait", duration(health.get("oldest_wait_seconds")))
    table.add_row("failed, last hour", str(health.get("failed_last_hour", "?")))
    table.add_row("throttled, last hour", str(health.get("throttled_last_hour", "?")))
    table.add_row("start failures", str(health.get("start_failures", "?")))
    last: Any = health.get("last_completed")
    table.add_row(
        "last completed",
        f"{last.get('job_id')} at {moment(last.get('completed_at'))}" if isinstance(last, Mapping) else "none yet",
    )
    return Group(head, *problems, table)
