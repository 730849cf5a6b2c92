"""Handler fixtures: the pipeline's fakes and clips, wired in where the handlers' factories would build adapters."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from lambdas.handlers import _wiring as wiring
from lambdas.pipeline.config import PipelineConfig
from lambdas.queue.config import QueueConfig
from lambdas.queue.scheduler import Scheduler
from tests.fakes.api import InMemoryUploadStore, InMemoryWorkflow
from tests.fakes.jobs import InMemoryJobRepository
from tests.fakes.queue import InMemoryQueueStore
from tests.fakes.storage import DirectoryMediaStore
from tests.unit.pipeline.conftest import clips, config, layer_on_path, repo, store  # noqa: F401 - shared fixtures


@dataclass
class FakeContext:
    """The parts of the Lambda context the handlers and Powertools read."""

    function_name: str = "vodpipe-fn"
    memory_limit_in_mb: int = 3008
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:000000000000:function:vodpipe-fn"
    aws_request_id: str = "00000000-0000-0000-0000-000000000000"
    remaining_ms: int = 900_000

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


@pytest.fixture
def wired(
    monkeypatch: pytest.MonkeyPatch,
    repo: InMemoryJobRepository,  # noqa: F811
    store: DirectoryMediaStore,  # noqa: F811
    config: PipelineConfig,  # noqa: F811
    workflow: InMemoryWorkflow,
) -> None:
    monkeypatch.setattr(wiring, "job_repository", lambda: repo)
    monkeypatch.setattr(wiring, "media_store", lambda: store)
    monkeypatch.setattr(wiring, "pipeline_config", lambda: config)
    queue = InMemoryQueueStore(repo)
    scheduler = Scheduler(queue, repo, workflow, InMemoryUploadStore(), QueueConfig())
    monkeypatch.setattr(wiring, "scheduler", lambda: scheduler)


@pytest.fixture
def workflow() -> InMemoryWorkflow:
    """The transcode state machine's executions, as the scheduler starts them."""
    return InMemoryWorkflow()
