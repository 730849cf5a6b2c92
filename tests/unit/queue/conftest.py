"""Queue unit fixtures: the pipeline's in-memory job repository and directory media store."""

from tests.unit.pipeline.conftest import repo, store  # noqa: F401 - fixtures
