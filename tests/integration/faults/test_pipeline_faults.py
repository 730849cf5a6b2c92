"""The workflow under injected S3 and DynamoDB faults (localruntime/…/faults.py), on one tiny job: an outage longer
than the retries fails it readably; its retry after recovery completes it although transient errors meet every
step (each is retried). One job serves both cases: each full run of the workflow costs ~50 s on a loaded machine."""

from __future__ import annotations

import random
import tempfile
import time
from pathlib import Path

from lambdas.jobs.dynamodb import DynamoDBJobRepository
from lambdas.jobs.model import JobStatus
from tests.integration.faults.conftest import wait_terminal
from vodpipe.client.api import ApiClient
from vodpipe.client.resume import ResumeStore
from vodpipe.client.upload import Uploader, UploadRequest
from vodpipe.local.faults import FaultInjector, FaultRule, RuleState
from vodpipe.local.stack import LocalDeployment

# The functions the workflow runs for a job, one per step (CDK names them "VodpipePipeline-Functions<Step>…").
STEPS = ("RegisterJob", "ProbeSource", "EncodeChunk", "MakeThumbnails", "PackageOutputs", "PublishJob")
RATE = 0.25
# A seed whose first draw fails: each step's first call to each service is refused, whatever the order in which
# the steps' calls arrive, so every step provably met (and survived) a fault; later calls fail at RATE.
SEED = next(seed for seed in range(1000) if random.Random(seed).random() < RATE)
# Never failing (rate 0), internal callers only: what LocalStack's own services call on the job's behalf.
WATCH = tuple(
    FaultRule(name=f"internal {s}", service=s, rate=0.0, internal=True, functions=())
    for s in ("s3", "dynamodb", "lambda")
)


def _upload(stack: LocalDeployment, token: str, clip: Path) -> str:
    with ApiClient(stack.api_url, token) as api:
        store = ResumeStore(Path(tempfile.mkdtemp(prefix="vodpipe-faults-")))
        return Uploader(api, store, parallel=1).upload(clip, UploadRequest(preset="tiny-wide")).job_id


def _report(states: list[RuleState]) -> str:
    """rule -> "caller operation" -> (matched, failed), callers shortened to their step."""
    lines = []
    for state in states:
        counts = {
            f"{caller.split('-Functions')[-1][:16]} {operation}": (c.matched, c.failed)
            for caller, operations in state.by_caller.items()
            for operation, c in operations.items()
        }
        lines.append(f"  {state.name}: matched {state.matched}, failed {state.failed}: {counts}")
    return "\n".join(lines)


def test_an_outage_fails_the_job_readably_and_its_retry_completes_through_transient_errors_in_every_step(
    stack: LocalDeployment,
    token: str,
    repository: DynamoDBJobRepository,
    tiny_clip: Path,
    faults: FaultInjector,
) -> None:
    # 1. S3 refuses every read of the probe until the test clears the rule: longer than any retry budget.
    faults.add(
        FaultRule(name="outage", service="s3", operations=("GetObject",), error="5xx", functions=("*ProbeSource*",)),
        *WATCH,
    )
    started = time.monotonic()
    job_id = _upload(stack, token, tiny_clip)
    failed = wait_terminal(repository, job_id, deadline_s=180)
    failed_after = time.monotonic() - started
    outage_states = faults.clear()
    print(f"\njob {job_id}: {failed.status} after {failed_after:.1f} s: {failed.error_type}: {failed.error_message}")
    print(_report(outage_states))

    assert failed.status is JobStatus.FAILED
    assert outage_states[0].failed >= 2, "the probe gave up without retrying"
    message = failed.error_message or ""
    assert "S3" in message, message  # the service…
    assert "unavailable" in message.lower(), message  # …and that it was unavailable, not that the source is bad
    assert failed.error_type == "TransientError"
    assert failed.retry_count < failed.max_retries, "the user can retry it"

    # 2. S3 and DynamoDB back, but failing RATE of the calls of every step of the workflow for the whole retry.
    # (Not Step Functions' own reads: its Distributed Map's item reader turns an S3 error into States.Runtime on
    # LocalStack, where AWS raises the States.ItemReaderFailed the Map retries.)
    faults.add(
        *(
            FaultRule(
                name=f"{service} {step}", service=service, rate=RATE, seed=SEED, functions=(f"*-Functions{step}*",)
            )
            for step in STEPS
            for service in ("s3", "dynamodb")
        ),
        *WATCH,
    )
    with ApiClient(stack.api_url, token) as api:
        api.retry_job(job_id)
    retried_at = time.monotonic()
    done = wait_terminal(repository, job_id, deadline_s=300)
    retried_in = time.monotonic() - retried_at
    states = faults.clear()
    print(f"retried: {done.status} in {retried_in:.1f} s\n{_report(states)}")

    assert done.status is JobStatus.COMPLETED, (done.error_type, done.error_message)
    assert done.retry_count == 1, "the steps' own retries absorbed every transient fault: one user retry only"
    assert done.outputs is not None
    assert not done.outputs.warnings, done.outputs.warnings  # thumbnails too were retried, not skipped
    by_name = {state.name: state for state in states}
    for step in STEPS:
        met = sum(by_name[f"{service} {step}"].failed for service in ("s3", "dynamodb"))
        assert met >= 1, f"no fault reached {step}: the test proved nothing for it"
    assert by_name["s3 ProbeSource"].failed >= 1, "the source download met no S3 fault"
    assert by_name["s3 EncodeChunk"].failed >= 1, "the encoders met no S3 fault"
    assert by_name["dynamodb EncodeChunk"].failed >= 1, "the encoders met no DynamoDB fault"
