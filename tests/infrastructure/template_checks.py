"""cfn-lint and parliament over synthesized templates: what CloudFormation and IAM would object to on AWS, which
LocalStack never checks (it enforces no IAM and deploys what AWS would refuse). Each exception is listed here,
once, with its reason."""

from __future__ import annotations

import json
import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

REGION = "us-east-1"
ACCOUNT = "123456789012"

# cfn-lint rules (errors and warnings) accepted in our templates, each with why. Nothing else may be reported.
CFN_LINT_EXCEPTIONS: dict[str, str] = {
    "W3005": "aws-cdk-lib itself gives every Lambda function (and the state machine) a DependsOn on its role beside "
    "the GetAtt of the role's ARN; the redundancy is harmless and not ours to remove.",
    "W6001": "The pipeline stack's PlaybackBaseUrl output is the storage stack's CDN URL re-exposed (locally it is "
    "the S3 endpoint): the client tools read every URL they need from the one pipeline stack.",
}

# parliament findings above LOW accepted, as (issue, action or "*") -> why. Nothing else may be reported.
PARLIAMENT_EXCEPTIONS: dict[tuple[str, str], str] = {
    ("RESOURCE_MISMATCH", "states:DescribeExecution"): "parliament asks for a match of every resource type the "
    "action lists, but DescribeExecution takes a standard *or* an express execution: ours name the standard "
    "executions of our own state machine (execution:<machine>:* and its Distributed Map children <machine>/*).",
}


@dataclass(frozen=True)
class Finding:
    rule: str  # a cfn-lint rule id, or a parliament issue
    text: str  # where and what, for the failure message
    detail: Any = None


_PSEUDO = {
    "AWS::Partition": "aws",
    "AWS::Region": REGION,
    "AWS::AccountId": ACCOUNT,
    "AWS::URLSuffix": "amazonaws.com",
    "AWS::StackName": "VodpipeStack",
    "AWS::StackId": f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/VodpipeStack/1",
    "AWS::NoValue": "",
}


def _name(logical_id: str) -> str:
    """A placeholder resource name from its logical id (lower case, as bucket names must be)."""
    return re.sub(r"[^a-z0-9-]", "-", logical_id.lower())[:60]


def _arn(type_name: str, name: str) -> str:
    """A placeholder ARN of a resource of `type_name`, in the shape its service uses."""
    at = f"{REGION}:{ACCOUNT}"
    shapes = {
        "AWS::S3::Bucket": f"arn:aws:s3:::{name}",
        "AWS::DynamoDB::Table": f"arn:aws:dynamodb:{at}:table/{name}",
        "AWS::Lambda::Function": f"arn:aws:lambda:{at}:function:{name}",
        "AWS::Lambda::LayerVersion": f"arn:aws:lambda:{at}:layer:{name}:1",
        "AWS::SQS::Queue": f"arn:aws:sqs:{at}:{name}",
        "AWS::SNS::Topic": f"arn:aws:sns:{at}:{name}",
        "AWS::Events::EventBus": f"arn:aws:events:{at}:event-bus/{name}",
        "AWS::Events::Rule": f"arn:aws:events:{at}:rule/{name}",
        "AWS::StepFunctions::StateMachine": f"arn:aws:states:{at}:stateMachine:{name}",
        "AWS::Logs::LogGroup": f"arn:aws:logs:{at}:log-group:{name}:*",
        "AWS::IAM::Role": f"arn:aws:iam::{ACCOUNT}:role/{name}",
        "AWS::IAM::ManagedPolicy": f"arn:aws:iam::{ACCOUNT}:policy/{name}",
        "AWS::SecretsManager::Secret": f"arn:aws:secretsmanager:{at}:secret:{name}-AbCdEf",
        "AWS::KMS::Key": f"arn:aws:kms:{at}:key/{name}",
        "AWS::CloudFront::Distribution": f"arn:aws:cloudfront::{ACCOUNT}:distribution/{name}",
        "AWS::ApiGateway::RestApi": f"arn:aws:apigateway:{REGION}::/restapis/{name}",
    }
    return shapes.get(type_name, f"arn:aws:cloudformation:{at}:resource/{name}")


# A stream's label is a time stamp; with colons in it parliament cannot split the ARN, so none here.
STREAM_LABEL = "2026-01-01T00.00.00.000"


def _import(export: str) -> str:
    """An exported value (the storage stack's, stacks/storage_stack.py) as a placeholder of its kind."""
    name = _name(export.rsplit("-", 1)[-1])
    if export.endswith("BucketArn"):
        return _arn("AWS::S3::Bucket", name.removesuffix("bucketarn"))
    if export.endswith("TableStreamArn"):
        return f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/jobs/stream/{STREAM_LABEL}"
    if export.endswith("TableArn"):
        return _arn("AWS::DynamoDB::Table", "jobs")
    if export.endswith("TableName"):
        return "jobs"
    return name


class Resolver:
    """CloudFormation intrinsics replaced by placeholder values of the right shape (ARNs where ARNs go)."""

    def __init__(self, template: dict[str, Any]) -> None:
        self._resources: dict[str, dict[str, Any]] = template.get("Resources", {})

    def _type(self, logical_id: str) -> str:
        return str(self._resources.get(logical_id, {}).get("Type", ""))

    def ref(self, logical_id: str) -> str:
        if logical_id in _PSEUDO:
            return _PSEUDO[logical_id]
        type_name, name = self._type(logical_id), _name(logical_id)
        # What Ref answers for these types is their ARN; for the rest, their name or id.
        if type_name in {"AWS::SNS::Topic", "AWS::StepFunctions::StateMachine", "AWS::IAM::ManagedPolicy"}:
            return _arn(type_name, name)
        if type_name == "AWS::SecretsManager::Secret":
            return _arn(type_name, name)
        if type_name == "AWS::SQS::Queue":
            return f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{name}"
        return name

    def get_att(self, logical_id: str, attribute: str) -> str:
        type_name, name = self._type(logical_id), _name(logical_id)
        if attribute == "StreamArn":
            return f"{_arn(type_name, name)}/stream/{STREAM_LABEL}"
        if attribute in {"Arn", "TopicArn", "QueueArn"}:
            return _arn(type_name, name)
        return name

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, argument),) = value.items()
            if key == "Ref":
                return self.ref(argument)
            if key == "Fn::GetAtt":
                logical_id, attribute = argument if isinstance(argument, list) else argument.split(".", 1)
                return self.get_att(logical_id, attribute)
            if key == "Fn::ImportValue":
                return _import(str(self.resolve(argument)))
            if key == "Fn::Join":
                separator, parts = argument
                return str(separator).join(str(self.resolve(p)) for p in self.resolve(parts))
            if key == "Fn::Sub":
                text, variables = (argument, {}) if isinstance(argument, str) else argument
                names = {k: str(self.resolve(v)) for k, v in variables.items()}
                return re.sub(
                    r"\$\{([^}!]+)\}",
                    lambda m: names.get(m[1]) or (self.get_att(*m[1].split(".", 1)) if "." in m[1] else self.ref(m[1])),
                    text,
                )
            if key == "Fn::Select":
                index, items = argument
                return self.resolve(items)[int(index)]
            if key == "Fn::Split":
                separator, text = argument
                return str(self.resolve(text)).split(separator)
        return {k: self.resolve(v) for k, v in value.items()}


def identity_policies(template: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every identity-based policy document in the template, intrinsics resolved, by where it is."""
    resolver = Resolver(template)
    for logical_id, resource in template.get("Resources", {}).items():
        properties = resource.get("Properties", {})
        if resource["Type"] in {"AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"}:
            yield logical_id, resolver.resolve(properties["PolicyDocument"])
        elif resource["Type"] == "AWS::IAM::Role":
            for policy in properties.get("Policies", []):
                yield f"{logical_id}/{policy['PolicyName']}", resolver.resolve(policy["PolicyDocument"])


def parliament_findings(template: dict[str, Any]) -> list[Finding]:
    """parliament's findings above LOW on every identity policy of the template (accepted ones included)."""
    with warnings.catch_warnings():  # parliament 1.6.4 imports pkg_resources and has invalid escapes in regexes
        warnings.simplefilter("ignore")
        from parliament import analyze_policy_string, enhance_finding

    found = []
    for where, document in identity_policies(template):
        policy = analyze_policy_string(json.dumps(document))
        for finding in map(enhance_finding, policy.findings):
            if finding.severity not in {"LOW", "MUTE"}:
                detail = json.dumps(finding.detail, default=str)
                found.append(
                    Finding(finding.issue, f"{where}: {finding.severity} {finding.issue} {detail}", finding.detail)
                )
    return found


def unaccepted_policy_findings(findings: list[Finding]) -> list[str]:
    return [f.text for f in findings if not policy_exceptions_of(f)]


def policy_exceptions_of(finding: Finding) -> set[tuple[str, str]]:
    """The PARLIAMENT_EXCEPTIONS entries that accept `finding` (all its actions), or none."""
    if (finding.rule, "*") in PARLIAMENT_EXCEPTIONS:
        return {(finding.rule, "*")}
    detail = finding.detail
    keys = (
        {(finding.rule, str(d.get("action"))) for d in detail if isinstance(d, dict)}
        if isinstance(detail, list)
        else set()
    )
    return keys if keys and keys <= set(PARLIAMENT_EXCEPTIONS) else set()


def cfn_lint_findings(template: dict[str, Any]) -> list[Finding]:
    """cfn-lint's errors and warnings on the template (accepted ones included)."""
    from cfnlint.api import lint
    from cfnlint.config import ManualArgs

    matches = lint(json.dumps(template), config=ManualArgs(regions=[REGION]))
    return [
        Finding(m.rule.id, f"{m.rule.id} {'/'.join(map(str, m.path))}: {m.message}")
        for m in matches
        if m.rule.id[0] in "EW"
    ]


def unaccepted_lint_findings(findings: list[Finding]) -> list[str]:
    return [f.text for f in findings if f.rule not in CFN_LINT_EXCEPTIONS]
