"""`make conformance`: the corpus (corpus.toml) through the deployed local pipeline, all at once, one row each.

Runs against the deployment that `make deploy-local` wrote (.state/localstack/outputs.json, or the file named by
VODPIPE_CONFORMANCE_OUTPUTS). Every row is a test (suite.py), and the table of all rows (file, source package,
expected, got, time) is printed at the end of the session, so one run shows every difference.

Nothing here runs under `make test`: pytest collects only test_*.py files, and the rows live in suite.py, which
the Makefile names explicitly.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest

from lambdas import keys
from lambdas.jobs.dynamodb import DynamoDBJobRepository
from lambdas.storage.s3 import S3MediaStore
from tests.conformance.fetch import CorpusError, Entry, fetch_all, load_corpus
from tests.pipeline_jobs import Outputs, Submitted, await_all, submit_all, table
from vodpipe.local.stack import LocalDeployment
from vodpipe.local.users import create_token

ROOT = Path(__file__).resolve().parents[2]
DEADLINE_S = 1200
OWNER = "conformance"


@dataclass
class Row:
    entry: Entry
    got: str = "(not run)"
    seconds: float | None = None
    ok: bool = False


@dataclass
class Conformance:
    rows: dict[str, Row]
    runs: dict[str, Submitted]
    outputs: Outputs
    deployment: LocalDeployment


_ROWS: dict[str, Row] = {}  # for the summary table, filled as the rows are checked


def corpus() -> list[Entry]:
    return load_corpus()


def _deployment() -> LocalDeployment:
    path = Path(os.environ.get("VODPIPE_CONFORMANCE_OUTPUTS") or ROOT / ".state" / "localstack" / "outputs.json")
    if not path.is_file():
        pytest.exit(f"no local deployment ({path} is missing): run `make deploy-local` first", returncode=2)
    return LocalDeployment.load(path)


@pytest.fixture(scope="session")
def conformance(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Conformance]:
    entries = corpus()
    try:
        files = fetch_all(entries)
    except CorpusError as exc:
        pytest.exit(f"conformance corpus: {exc}", returncode=2)
    deployment = _deployment()
    session = boto3.Session(aws_access_key_id="test", aws_secret_access_key="test", region_name=deployment.region)
    dynamodb = session.client("dynamodb", endpoint_url=deployment.endpoint)
    s3 = session.client("s3", endpoint_url=deployment.endpoint)
    token = create_token(dynamodb, deployment.jobs_table, OWNER)

    started = time.monotonic()
    runs = submit_all(deployment.api_url, token, files, resume_dir=tmp_path_factory.mktemp("resume"))
    pending = await_all(DynamoDBJobRepository(dynamodb, deployment.jobs_table), runs, deadline_s=DEADLINE_S)
    print(f"\nconformance: {len(runs)} files through {deployment.api_url} in {time.monotonic() - started:.0f} s")
    if pending:
        print(f"not finished after {DEADLINE_S} s: {', '.join(pending)}")
    rows = {e.name: Row(entry=e) for e in entries}
    _ROWS.update(rows)
    yield Conformance(rows, runs, Outputs(s3, deployment.outputs_bucket, tmp_path_factory.mktemp("out")), deployment)

    store = S3MediaStore(s3)
    for run in runs.values():
        if run.job_id:
            store.delete_prefix(deployment.uploads_bucket, f"uploads/{OWNER}/{run.job_id}/")
            store.delete_prefix(deployment.outputs_bucket, keys.output_prefix(run.job_id))


def _expected(entry: Entry) -> str:
    if entry.expect == "FAILED":
        return f"FAILED …{entry.reason}…"
    rungs = f"{len(entry.renditions)} rung{'s' * (len(entry.renditions) != 1)}" if entry.renditions else ""
    checks = [rungs, "audio" if entry.audio else "silent"]
    checks += [f"{entry.duration:g} s" if entry.duration is not None else "", "thumbs" if entry.thumbnails else ""]
    return "COMPLETED " + ", ".join(c for c in checks if c)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not _ROWS:
        return  # not a conformance session
    rows = [
        (
            "ok" if row.ok else "DIFF",
            row.entry.name,
            row.entry.package.label,
            _expected(row.entry),
            row.got,
            f"{row.seconds:.1f} s" if row.seconds is not None else "-",
        )
        for row in _ROWS.values()
    ]
    terminalreporter.write_sep("=", "conformance corpus")
    headers = ("", "file", "source package", "expected", "got", "time")
    terminalreporter.write_line(table(rows, headers, widths=(4, 32, 34, 42, 110, 8)))
    differ = sum(1 for row in _ROWS.values() if not row.ok)
    terminalreporter.write_line(f"{len(_ROWS) - differ} rows as expected, {differ} differ")
