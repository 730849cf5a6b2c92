"""The vodpipe CDK app: `cdk deploy` for AWS, `make deploy-local` for LocalStack; the same synthesized templates."""

from __future__ import annotations

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

from stacks.config import DeploymentConfig
from stacks.names import PIPELINE_STACK, STAGE_CONTEXT, STORAGE_STACK, stack_name
from stacks.pipeline_stack import PipelineStack
from stacks.storage_stack import StorageStack


def build_app(app: cdk.App) -> cdk.App:
    """Add vodpipe's stacks to `app`; tests call this with their own App."""
    config = DeploymentConfig.from_context(app.node.try_get_context("vodpipe"))
    # Keep data on `cdk destroy` unless the context says this is a throwaway environment.
    removal = cdk.RemovalPolicy.DESTROY if app.node.try_get_context("ephemeral") else cdk.RemovalPolicy.RETAIN
    # A stage (`-c vodpipe:stage=e2e-…`, scripts/e2e.sh) is a separate copy: its own stack names and exports.
    stage = app.node.try_get_context(STAGE_CONTEXT)
    storage = StorageStack(
        app,
        STORAGE_STACK,
        stack_name=stack_name(STORAGE_STACK, stage),
        removal_policy=removal,
        private_public_key=config.private_playback_public_key,
        cors_origins=config.cors_allowed_origins,
        description="vodpipe: data and delivery",
    )
    pipeline = PipelineStack(
        app,
        PIPELINE_STACK,
        stack_name=stack_name(PIPELINE_STACK, stage),
        storage=storage,
        config=config,
        removal_policy=removal,
        description="vodpipe: transcode workflow, functions, API",
    )
    pipeline.add_stack_dependency(storage)
    cdk.Tags.of(app).add("project", config.project)
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app, verbose=True))
    return app


if __name__ == "__main__":
    # Template validation costs ~17 s per synth and checks nothing CloudFormation will not.
    build_app(cdk.App(builtin_cloud_formation_validation=False)).synth()
