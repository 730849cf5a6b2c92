"""The six handlers driven as the state machine drives them: payloads in its shapes, JSON between steps."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from lambdas.handlers import (
    make_thumbnails,
    package_outputs,
    probe_source,
    publish_job,
    register_job,
    transcode_rendition,
)
from lambdas.jobs.memory import InMemoryJobRepository
from lambdas.jobs.model import JobStatus, new_job_id
from lambdas.pipeline.errors import DuplicateEvent, TransientError, UnrecognisedUpload
from lambdas.settings import Settings, get_settings
from lambdas.storage.memory import DirectoryMediaStore
from lambdas.storage.ports import StoreUnavailable
from tests.unit.handlers.conftest import FakeContext
from tests.unit.pipeline.conftest import UPLOADS, needs_ffmpeg, s3_event, upload_key

EXECUTION = "arn:aws:states:us-east-1:000000000000:execution:transcode:abc"
ROOT = Path(__file__).resolve().parents[3]
ASL = ROOT / "statemachines" / "transcode.asl.json"
MATCH_ALL = {"States.ALL", "States.TaskFailed"}  # States.TaskFailed: every error but States.Timeout


def invoke(handler: Any, payload: dict[str, Any]) -> dict[str, Any]:
    """Through JSON both ways, as Lambda and Step Functions carry it."""
    result: dict[str, Any] = handler(json.loads(json.dumps(payload)), FakeContext())
    return json.loads(json.dumps(result))


@needs_ffmpeg
@pytest.mark.usefixtures("wired")
def test_the_whole_workflow_through_the_handlers(
    clips: dict[str, Path], repo: InMemoryJobRepository, store: DirectoryMediaStore
) -> None:
    key = upload_key(new_job_id())
    store.put_bytes(UPLOADS, key, clips["landscape"].read_bytes())
    event = s3_event(key, clips["landscape"].stat().st_size)

    # The state machine's data flow, state by state (statemachines/transcode.asl.json).
    state: dict[str, Any] = dict(event)
    state["registered"] = invoke(register_job.handler, {"event": event, "execution_arn": EXECUTION})
    state = {"job": state["registered"]["job"], "expires_at": state["registered"]["expires_at"]}
    assert state["expires_at"] > time.time() + 89 * 86400  # settings.job_ttl_days, 90 by default
    payload = invoke(probe_source.handler, {"job": state["job"]})
    state["plan"] = {k: payload[k] for k in ("media", "renditions", "thumbnails")}
    renditions = [
        invoke(transcode_rendition.handler, {"job": state["job"], "media": state["plan"]["media"], "rendition": item})
        for item in state["plan"]["renditions"]
    ]
    thumbnails = invoke(
        make_thumbnails.handler,
        {"job": state["job"], "media": state["plan"]["media"], "thumbnails": state["plan"]["thumbnails"]},
    )
    state["encoded"] = {"renditions": renditions, "thumbnails": thumbnails}
    outputs = invoke(
        package_outputs.handler,
        {
            "job": state["job"],
            "media": state["plan"]["media"],
            "renditions": state["encoded"]["renditions"],
            "thumbnails": state["encoded"]["thumbnails"],
        },
    )
    job = invoke(publish_job.handler, {"job": state["job"], "outputs": outputs})

    assert job["status"] == "COMPLETED"
    assert job["outputs"]["playback_url"].endswith(f"/outputs/{job['job_id']}/hls/master.m3u8")
    assert repo.get(job["job_id"]).status is JobStatus.COMPLETED
    assert [r["name"] for r in renditions] == ["240p", "180p", "120p"]


def register_job_state() -> dict[str, Any]:
    """The RegisterJob state of the deployed definition; its ${...} placeholders (ARNs, a table name, a number)
    all become 0, which keeps the document valid JSON."""
    definition = json.loads(re.sub(r"\$\{\w+\}", "0", ASL.read_text()))
    state: dict[str, Any] = definition["States"]["RegisterJob"]
    return state


def first_rule(rules: list[dict[str, Any]], error: str) -> dict[str, Any] | None:
    """The Retry or Catch rule Step Functions applies to an error of that name: the first that names it or all."""
    return next((rule for rule in rules if error in rule["ErrorEquals"] or MATCH_ALL & set(rule["ErrorEquals"])), None)


@pytest.mark.usefixtures("wired")
@pytest.mark.parametrize(
    ("fault", "raised", "retried", "then"),
    [
        # Bad input: retrying would never help and must not happen; no job to mark either.
        ("unrecognised", UnrecognisedUpload, False, "RegistrationFailed"),
        ("duplicate", DuplicateEvent, False, "AlreadyRegistered"),
        ("transient", TransientError, True, "MarkRegistrationFailed"),  # once the retries are spent
    ],
)
def test_register_errors_take_the_route_the_state_machine_gives_their_class_name(
    store: DirectoryMediaStore, fault: str, raised: type[Exception], retried: bool, then: str
) -> None:
    """Lambda reports type(error).__name__ as errorType: the name RegisterJob's Retry and Catch match."""
    key = upload_key(new_job_id())
    store.put_bytes(UPLOADS, key, b"x")
    if fault == "unrecognised":
        key = "uploads/bad-key"
    elif fault == "duplicate":
        invoke(register_job.handler, {"event": s3_event(key), "execution_arn": f"{EXECUTION}-earlier"})
    else:
        store.fail_next.append(StoreUnavailable("SlowDown"))

    with pytest.raises(raised) as caught:
        register_job.handler({"event": s3_event(key), "execution_arn": EXECUTION}, FakeContext())

    error_type = type(caught.value).__name__
    state = register_job_state()
    assert (first_rule(state["Retry"], error_type) is not None) is retried, state["Retry"]
    catcher = first_rule(state["Catch"], error_type)
    assert catcher is not None
    assert catcher["Next"] == then


def test_tracer_degrades_without_an_xray_daemon(tmp_path: Path) -> None:
    """As on LocalStack's host executor: LAMBDA_TASK_ROOT set (tracing on), no daemon, sampled or no trace id."""
    script = tmp_path / "run.py"
    script.write_text(
        "from lambdas.handlers import register_job\n"
        "from tests.unit.handlers.conftest import FakeContext\n"
        "try:\n"
        "    register_job.handler({'event': {'detail': {'bucket': {'name': 'b'}, 'object': {'key': 'x'}}},"
        " 'execution_arn': 'arn:x'}, FakeContext())\n"
        "except Exception as error:\n"
        "    print(type(error).__name__, register_job.tracer.disabled)\n"
    )
    for trace_id in ("", "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"):
        env = {
            "PATH": os.environ["PATH"],
            "PYTHONPATH": str(ROOT),
            "LAMBDA_TASK_ROOT": str(tmp_path),
            "_X_AMZN_TRACE_ID": trace_id,
            "AWS_LAMBDA_FUNCTION_NAME": "vodpipe-fn",
            "AWS_REGION": "us-east-1",
            "AWS_DEFAULT_REGION": "us-east-1",
            "JOBS_TABLE": "t",
            "UPLOADS_BUCKET": "uploads-bucket",
            "OUTPUTS_BUCKET": "outputs-bucket",
            "PLAYBACK_BASE_URL": "http://localhost",
        }
        out = subprocess.run(
            [sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=60, check=True, cwd=ROOT
        )
        assert out.stdout.split() == ["UnrecognisedUpload", "False"], out.stderr


def test_settings_are_read_on_first_use_only(monkeypatch: pytest.MonkeyPatch) -> None:
    get_settings.cache_clear()
    monkeypatch.setenv("JOBS_TABLE", "jobs")
    monkeypatch.setenv("UPLOADS_BUCKET", "uploads-bucket")
    monkeypatch.setenv("OUTPUTS_BUCKET", "outputs-bucket")
    monkeypatch.setenv("PLAYBACK_BASE_URL", "https://cdn.example.com")
    monkeypatch.setenv("JOB_TTL_DAYS", "30")
    try:
        settings = get_settings()
        assert settings == Settings(
            jobs_table="jobs",
            uploads_bucket="uploads-bucket",
            outputs_bucket="outputs-bucket",
            playback_base_url="https://cdn.example.com",
            job_ttl_days=30,
        )
        monkeypatch.setenv("JOB_TTL_DAYS", "5")
        assert get_settings() is settings  # cached per execution environment
    finally:
        get_settings.cache_clear()
