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

from lambdas.events import JobAdmitted, ObjectCreated
from lambdas.handlers import _wiring as wiring
from lambdas.handlers import (
    encode_chunk,
    make_thumbnails,
    package_outputs,
    probe_source,
    publish_job,
    register_job,
    schedule_jobs,
)
from lambdas.jobs.model import Job, JobStatus, new_job_id, utc_now
from lambdas.jobs.ports import RepositoryUnavailable
from lambdas.jobs.transitions import transition
from lambdas.pipeline.errors import DuplicateEvent, TransientError
from lambdas.queue.intake import queue_upload, upload_of
from lambdas.settings import Settings, get_settings
from tests.fakes.api import InMemoryWorkflow
from tests.fakes.jobs import InMemoryJobRepository
from tests.fakes.storage import DirectoryMediaStore
from tests.unit.handlers.conftest import FakeContext
from tests.unit.pipeline.conftest import OUTPUTS, UPLOADS, needs_ffmpeg, s3_event, upload_key

EXECUTION = "arn:aws:states:us-east-1:000000000000:execution:transcode:abc"
ROOT = Path(__file__).resolve().parents[3]
ASL = ROOT / "statemachines" / "transcode.asl.json"
MATCH_ALL = {"States.ALL", "States.TaskFailed"}  # States.TaskFailed: every error but States.Timeout
_STEP = re.compile(r"\.([A-Za-z_]\w*)|\[(\d+)\]")


def invoke(handler: Any, payload: dict[str, Any]) -> dict[str, Any]:
    """Through JSON both ways, as Lambda and Step Functions carry it."""
    result: dict[str, Any] = handler(json.loads(json.dumps(payload)), FakeContext())
    carried: dict[str, Any] = json.loads(json.dumps(result))
    return carried


def definition() -> dict[str, Any]:
    """The deployed definition; its ${...} placeholders (ARNs, a table name, a number) all become 0, which keeps
    the document valid JSON."""
    states: dict[str, Any] = json.loads(re.sub(r"\$\{\w+\}", "0", ASL.read_text()))
    return states


# --- just enough of Step Functions' JSONPath to move data the way the definition says ---------------


def select(path: str, data: Any, context: dict[str, Any]) -> Any:
    """`$.a.b`, `$[0].x`, `$$.Map.Item.Value.id`, and the one intrinsic the definition uses on results."""
    if path.startswith("States.ArrayLength(") and path.endswith(")"):
        return len(select(path[len("States.ArrayLength(") : -1], data, context))
    node: Any
    node, rest = (context, path[2:]) if path.startswith("$$") else (data, path[1:])
    for name, index in _STEP.findall(rest):
        node = node[name] if name else node[int(index)]
    return node


def fill(template: dict[str, Any], data: Any, context: dict[str, Any] | None = None) -> dict[str, Any]:
    """A Parameters / ItemSelector / ResultSelector block applied to `data` (`key.$` fields are paths)."""
    out: dict[str, Any] = {}
    for key, value in template.items():
        if key.endswith(".$"):
            out[key[:-2]] = select(value, data, context or {})
        elif isinstance(value, dict):
            out[key] = fill(value, data, context)
        else:
            out[key] = value
    return out


def place(state: dict[str, Any], data: Any, result: Any) -> Any:
    """ResultPath (absent: the result replaces the input; null: the input passes through), then OutputPath."""
    if "ResultPath" not in state:
        output = result
    elif state["ResultPath"] is None:
        output = data
    else:
        output = {**data, state["ResultPath"].removeprefix("$."): result}
    return select(state["OutputPath"], output, {}) if "OutputPath" in state else output


def task(state: dict[str, Any], data: Any, handler: Any, context: dict[str, Any] | None = None) -> Any:
    """A lambda:invoke Task: the Payload its Parameters build, the handler's answer as `$.Payload`."""
    payload = fill(state["Parameters"], data, context)["Payload"]
    result: Any = {"Payload": invoke(handler, payload)}
    if "ResultSelector" in state:
        result = fill(state["ResultSelector"], result)
    return place(state, data, result)


@needs_ffmpeg
@pytest.mark.usefixtures("wired")
def test_the_whole_workflow_through_the_handlers(
    clips: dict[str, Path], repo: InMemoryJobRepository, store: DirectoryMediaStore, workflow: InMemoryWorkflow
) -> None:
    key = upload_key(new_job_id())
    store.put_bytes(UPLOADS, key, clips["landscape"].read_bytes())
    # S3's event reaches the scheduler, which queues the job, admits it and starts its execution.
    answer = invoke(schedule_jobs.handler, s3_event(key, clips["landscape"].stat().st_size))
    assert len(answer["admitted"]) == 1
    (started,) = workflow.executions.values()
    event = started.payload
    states = definition()["States"]
    execution = {"Execution": {"Id": started.arn}}

    # State by state, each payload built by the definition's own paths (statemachines/transcode.asl.json).
    data = task(states["RegisterJob"], event, register_job.handler, execution)
    data = fill(states["Prepare"]["Parameters"], data)
    assert data["expires_at"] > time.time() + 89 * 86400  # settings.job_ttl_days, 90 by default
    data = task(states["ProbeSource"], data, probe_source.handler)

    encode_branch, thumbnails_branch = (b["States"] for b in states["Encode"]["Branches"])
    chunks = encode_branch["EncodeChunks"]
    reader = fill(chunks["ItemReader"]["Parameters"], data)
    items = json.loads(store.read_bytes(reader["Bucket"], reader["Key"]))
    assert [i["item_id"] for i in items] == ["audio", "c00000-240p", "c00000-180p", "c00000-120p"]
    encoded = [
        task(
            chunks["ItemProcessor"]["States"]["EncodeChunk"],
            fill(chunks["ItemSelector"], data, {"Map": {"Item": {"Value": item}}}),
            encode_chunk.handler,
        )
        for item in reversed(items)  # the Map runs them in any order
    ]
    # What each Map iteration keeps (OutputPath): its id, one per rendition or the audio; its result is in S3.
    assert sorted(encoded) == sorted(i["item_id"] for i in items)
    branches = [
        place(chunks, data, fill(chunks["ResultSelector"], encoded)),
        task(thumbnails_branch["MakeThumbnails"], data, make_thumbnails.handler),
    ]
    data = place(states["Encode"], data, fill(states["Encode"]["ResultSelector"], branches))
    assert data["encoded"]["items"] == len(items)
    data = task(states["Package"], data, package_outputs.handler)
    data = task(states["Publish"], data, publish_job.handler)
    # ReleaseCompleted puts `Job Finished`: the scheduler gives the slot back.
    assert invoke(schedule_jobs.handler, finished_event(data["job"]["job_id"]))["released"] == [data["job"]["job_id"]]

    job = data["job"]
    assert job["status"] == "COMPLETED"
    assert job["outputs"]["playback_url"].endswith(f"/outputs/{job['job_id']}/cmaf/master.m3u8")
    assert job["outputs"]["dash_url"].endswith(f"/outputs/{job['job_id']}/cmaf/manifest.mpd")
    assert job["outputs"]["encode_cpu_seconds"] > 0
    assert repo.get(job["job_id"]).status is JobStatus.COMPLETED
    master = store.read_bytes(OUTPUTS, job["outputs"]["manifest_key"]).decode()
    assert [line.split("/")[0] for line in master.splitlines() if line.endswith("index.m3u8")] == [
        "240p",
        "180p",
        "120p",
    ]
    # The work of the attempt is cleaned up; the source stays (a retry needs it).
    assert store.list_prefix(UPLOADS, f"work/{job['job_id']}/") == []
    assert store.head(UPLOADS, key).size > 0


def register_job_state() -> dict[str, Any]:
    """The RegisterJob state of the deployed definition."""
    state: dict[str, Any] = definition()["States"]["RegisterJob"]
    return state


def first_rule(rules: list[dict[str, Any]], error: str) -> dict[str, Any] | None:
    """The Retry or Catch rule Step Functions applies to an error of that name: the first that names it or all."""
    return next((rule for rule in rules if error in rule["ErrorEquals"] or MATCH_ALL & set(rule["ErrorEquals"])), None)


def finished_event(job_id: str) -> dict[str, Any]:
    return {
        "version": "0", "id": "e", "detail-type": "Job Finished", "source": "vodpipe.workflow",
        "account": "000000000000", "time": "2026-01-01T00:00:00Z", "region": "us-east-1", "resources": [],
        "detail": {"job_id": job_id},
    }  # fmt: skip


def admitted_job(repo: InMemoryJobRepository, store: DirectoryMediaStore) -> Job:
    key = upload_key(new_job_id())
    store.put_bytes(UPLOADS, key, b"x")
    event = ObjectCreated.model_validate(s3_event(key))
    queued = queue_upload(upload_of(event, UPLOADS), repo, store, ("240p",))
    return repo.save_transition(queued, transition(queued, JobStatus.PROCESSING, utc_now(), execution_arn=EXECUTION))


class _Throttled(InMemoryJobRepository):
    def get(self, job_id: str) -> Job:
        raise RepositoryUnavailable("throttled")


@pytest.mark.usefixtures("wired")
@pytest.mark.parametrize(
    ("fault", "raised", "retried", "then"),
    [
        ("duplicate", DuplicateEvent, False, "AlreadyRegistered"),  # a stale start: no slot to give back
        ("transient", TransientError, True, "MarkRegistrationFailed"),  # once the retries are spent
    ],
)
def test_register_errors_take_the_route_the_state_machine_gives_their_class_name(
    monkeypatch: pytest.MonkeyPatch,
    repo: InMemoryJobRepository,
    store: DirectoryMediaStore,
    fault: str,
    raised: type[Exception],
    retried: bool,
    then: str,
) -> None:
    """Lambda reports type(error).__name__ as errorType: the name RegisterJob's Retry and Catch match."""
    job = admitted_job(repo, store)
    execution = f"{EXECUTION}-earlier" if fault == "duplicate" else EXECUTION
    if fault == "transient":
        monkeypatch.setattr(wiring, "job_repository", _Throttled)
    payload = {"event": JobAdmitted.of(job).payload(), "execution_arn": execution}

    with pytest.raises(raised) as caught:
        register_job.handler(json.loads(json.dumps(payload)), FakeContext())

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
        "    register_job.handler({'event': {'detail-type': 'Job Admitted'}, 'execution_arn': 'x'}, FakeContext())\n"
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
        assert out.stdout.split() == ["ValidationError", "False"], out.stderr


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
