"""One place that owns how a vodpipe Lambda function is built."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import jsii
from aws_cdk import BundlingOptions, DockerImage, Duration, ILocalBundling, RemovalPolicy, Size
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from stacks.config import ROOT
from stacks.nag import acknowledge

RUNTIME = lambda_.Runtime.PYTHON_3_13


@jsii.implements(ILocalBundling)
class _CopyPackage:
    """Docker-free bundling: the asset is `lambdas/` itself, placed so `lambdas.handlers.x` imports."""

    def __init__(self, source: Path) -> None:
        self._source = source

    def try_bundle(self, output_dir: str, *, image: DockerImage, **_: Any) -> bool:
        shutil.copytree(
            self._source,
            Path(output_dir) / self._source.name,
            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
            dirs_exist_ok=True,
        )
        return True


def built_layer_dir(name: str) -> Path:
    path = ROOT / "layers" / name / "build"
    if not path.is_dir():
        raise FileNotFoundError(f"layer '{name}' is not built ({path} missing): run `make setup`")
    return path


class PythonFunctions(Construct):
    """Every function shares one code asset, the dependency layer, JSON logs, tracing and a log group."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        environment: dict[str, str],
        log_retention: logs.RetentionDays,
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, id)
        source = ROOT / "lambdas"
        self.code = lambda_.Code.from_asset(
            str(source),
            bundling=BundlingOptions(
                image=DockerImage.from_registry("public.ecr.aws/sam/build-python3.13"),
                local=_CopyPackage(source),
            ),
        )
        self.dependencies = lambda_.LayerVersion(
            self,
            "Dependencies",
            code=lambda_.Code.from_asset(str(built_layer_dir("deps"))),
            compatible_runtimes=[RUNTIME],
            compatible_architectures=[lambda_.Architecture.X86_64],
            description="vodpipe Python dependencies (aws-lambda-powertools, pydantic), from uv.lock",
        )
        self._environment = environment
        self._log_retention = log_retention
        self._removal_policy = removal_policy
        self.functions: dict[str, lambda_.Function] = {}

    def add(
        self,
        name: str,
        *,
        handler: str,
        description: str,
        memory_mb: int = 512,
        timeout: Duration | None = None,
        ephemeral_mb: int = 512,
        layers: tuple[lambda_.ILayerVersion, ...] = (),
        environment: dict[str, str] | None = None,
    ) -> lambda_.Function:
        # Explicit log groups: `log_retention` would need a custom resource, which LocalStack never runs.
        log_group = logs.LogGroup(
            self, f"{name}Logs", retention=self._log_retention, removal_policy=self._removal_policy
        )
        fn = lambda_.Function(
            self,
            name,
            runtime=RUNTIME,
            architecture=lambda_.Architecture.X86_64,
            code=self.code,
            handler=f"lambdas.handlers.{handler}.handler",
            description=description,
            memory_size=memory_mb,
            timeout=timeout or Duration.seconds(30),
            ephemeral_storage_size=Size.mebibytes(ephemeral_mb),
            layers=[self.dependencies, *layers],
            environment={**self._environment, "POWERTOOLS_SERVICE_NAME": handler, **(environment or {})},
            logging_format=lambda_.LoggingFormat.JSON,
            log_group=log_group,
            tracing=lambda_.Tracing.ACTIVE,
        )
        acknowledge(
            fn,
            {
                "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
                "AWSLambdaBasicExecutionRole]": "Grants writing this function's own logs only.",
                "AwsSolutions-IAM5[Resource::*]": "X-Ray PutTraceSegments/PutTelemetryRecords have no "
                "resource-level permissions.",
                "AwsSolutions-L1": "Pinned to python3.13: the dependency layer and the local runtime are built for it.",
            },
        )
        self.functions[name] = fn
        return fn
