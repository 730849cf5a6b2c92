"""The CDK app's stack ids, which are also the CloudFormation stack names of every deployment."""

from __future__ import annotations

import re

STORAGE_STACK = "VodpipeStorage"
PIPELINE_STACK = "VodpipePipeline"
STACKS = (STORAGE_STACK, PIPELINE_STACK)  # in deployment order: the pipeline reads the storage stack's outputs

# A stage (CDK context `vodpipe:stage`, e.g. `-c vodpipe:stage=e2e-1700000000`) deploys a second, separate copy
# into the same account and region: its stacks, their exports and named log groups all carry the stage's name.
STAGE_CONTEXT = "vodpipe:stage"
_STAGE = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")


def stack_name(stack_id: str, stage: str | None = None) -> str:
    """The CloudFormation name of the stack `stack_id` of a deployment's `stage` (None: the main deployment)."""
    if not stage:
        return stack_id
    if not _STAGE.match(stage):
        raise ValueError(f"{STAGE_CONTEXT} must be lower-case letters, digits and '-' (at most 40): {stage!r}")
    return f"{stack_id}-{stage}"
