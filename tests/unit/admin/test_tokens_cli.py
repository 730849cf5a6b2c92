"""`vodpipe admin tokens`: on an in-memory registry where the CLI would open the deployment's table; and how the
deployment is found (an endpoint, the local deployment, AWS)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError
from typer.testing import CliRunner, Result

from lambdas.auth.identity import Identity, Role
from lambdas.auth.ports import TokenRecord
from lambdas.auth.tokens import TOKEN_ID_LENGTH, token_id
from stacks.names import STORAGE_STACK
from tests.fakes.auth import InMemoryTokenStore
from vodpipe.admin import deployment
from vodpipe.admin.deployment import AdminError, AwsTarget, jobs_table, resolve_aws_target
from vodpipe.cli import app
from vodpipe.local.runtime import LocalRuntime
from vodpipe.local.stack import LocalDeployment, outputs_file


@pytest.fixture
def registry(checkout: LocalRuntime, monkeypatch: pytest.MonkeyPatch) -> InMemoryTokenStore:
    """Where the CLI opens the deployment's table, this registry; in a checkout of the test's own."""
    store = InMemoryTokenStore()
    monkeypatch.setattr(deployment, "token_registry", lambda target: store)
    return store


def run(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(app, list(args), env=env, catch_exceptions=False)


def test_create_prints_the_token_once_and_registers_only_its_hash(registry: InMemoryTokenStore) -> None:
    result = run("admin", "tokens", "create", "--user", "alice")

    assert result.exit_code == 0, result.stderr
    token = result.stdout.strip()
    assert len(token) >= 40
    assert "\n" not in token
    assert registry.identity_of(token) == Identity(owner="alice", role=Role.USER, max_priority=1)
    assert f"token {token_id(token)} for alice (role user, priorities 1 to 10)" in result.stderr
    assert "shown only this once" in result.stderr


def test_create_json_names_role_and_tier(registry: InMemoryTokenStore) -> None:
    result = run("admin", "tokens", "create", "--user", "ops", "--role", "admin", "--max-priority", "3", "--json")

    assert result.exit_code == 0, result.stderr
    made = json.loads(result.stdout)
    assert set(made) == {"token", "token_id", "user", "role", "max_priority", "email", "created_at"}
    assert made["email"] is None
    assert (made["token_id"], made["user"], made["role"], made["max_priority"]) == (
        token_id(made["token"]),
        "ops",
        "admin",
        3,
    )
    assert registry.identity_of(made["token"]) == Identity(owner="ops", role=Role.ADMIN, max_priority=3)


def test_create_with_an_email_stores_it_in_the_identity(
    checkout: LocalRuntime, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry = InMemoryTokenStore()
    monkeypatch.setattr(deployment, "token_registry", lambda target: registry)
    result = run("admin", "tokens", "create", "--user", "alice", "--email", "alice@example.com")

    assert result.exit_code == 0, result.stderr
    token = result.stdout.strip()
    assert registry.identity_of(token) == Identity(owner="alice", email="alice@example.com")
    assert "(role user, priorities 1 to 10, emails to alice@example.com)" in result.stderr
    made = json.loads(run("admin", "tokens", "create", "--user", "bob", "--email", "b@example.org", "--json").stdout)
    assert (made["user"], made["email"]) == ("bob", "b@example.org")

    listed = json.loads(run("admin", "tokens", "list", "--json").stdout)["tokens"]
    assert {(r["user"], r["email"]) for r in listed} == {("alice", "alice@example.com"), ("bob", "b@example.org")}
    human = run("admin", "tokens", "list", env={"COLUMNS": "160"}).stdout
    assert "alice <alice@example.com>" in human
    assert "bob <b@example.org>" in human


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--user", "../bob"], "owner (user id) '../bob' must be 1 to 64 letters"),
        (["--user", "alice", "--role", "root"], "role 'root' must be one of: user, admin"),
        (["--user", "alice", "--email", "alice"], "email 'alice' is not an email address (name@example.com)"),
        (["--user", "alice", "--email", "a b@example.com"], "email 'a b@example.com' is not an email address"),
    ],
)
def test_create_refuses_what_a_token_cannot_have(registry: InMemoryTokenStore, args: list[str], message: str) -> None:
    result = run("admin", "tokens", "create", *args)
    assert result.exit_code == 2
    assert message in result.stderr
    assert registry.tokens() == []


@pytest.mark.parametrize("tier", ["0", "11"])
def test_the_tier_is_a_priority(registry: InMemoryTokenStore, tier: str) -> None:
    assert run("admin", "tokens", "create", "--user", "alice", "--max-priority", tier).exit_code == 2


def test_list_shows_ids_never_tokens_and_revoke_takes_an_id(registry: InMemoryTokenStore) -> None:
    alice = run("admin", "tokens", "create", "--user", "alice").stdout.strip()
    ops = run("admin", "tokens", "create", "--user", "ops", "--role", "admin").stdout.strip()

    listed = run("admin", "tokens", "list", "--json")
    assert listed.exit_code == 0, listed.stderr
    records = json.loads(listed.stdout)["tokens"]
    assert {(r["token_id"], r["user"], r["role"], r["max_priority"]) for r in records} == {
        (token_id(alice), "alice", "user", 1),
        (token_id(ops), "ops", "admin", 1),
    }
    human = run("admin", "tokens", "list").stdout
    assert token_id(alice) in human
    assert "admin" in human
    assert alice not in listed.stdout + human
    assert ops not in listed.stdout + human

    revoked = run("admin", "tokens", "revoke", token_id(alice), "--json")
    assert revoked.exit_code == 0, revoked.stderr
    assert json.loads(revoked.stdout)["revoked"]["user"] == "alice"
    assert registry.identity_of(alice) is None
    assert [r.identity.owner for r in registry.tokens()] == ["ops"]
    assert (
        f"revoked token {token_id(ops)} of ops (role admin)" in run("admin", "tokens", "revoke", token_id(ops)).stdout
    )
    assert run("admin", "tokens", "list").stdout.strip() == "no tokens listed"


def test_revoking_what_is_not_there(registry: InMemoryTokenStore) -> None:
    unknown = run("admin", "tokens", "revoke", "0" * TOKEN_ID_LENGTH)
    assert unknown.exit_code == 1
    assert f"no token with id {'0' * TOKEN_ID_LENGTH}" in unknown.stderr
    not_an_id = run("admin", "tokens", "revoke", "alice-token", "--json")
    assert not_an_id.exit_code == 2
    assert json.loads(not_an_id.stdout)["message"] == "'alice-token' is not a token id (16 hex digits)"


class Unreachable(InMemoryTokenStore):
    def tokens(self) -> list[TokenRecord]:
        raise EndpointConnectionError(endpoint_url="http://127.0.0.1:4566")


def test_an_unreachable_deployment_is_one_line(checkout: LocalRuntime, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(deployment, "token_registry", lambda target: Unreachable())
    result = run("admin", "tokens", "list", "--endpoint-url", "http://127.0.0.1:4566")
    assert result.exit_code == 1
    assert result.stderr == (
        "vodpipe admin tokens list: cannot reach http://127.0.0.1:4566: is LocalStack running (`make up`)?\n"
    )


# --- finding the deployment -------------------------------------------------------------------------------


@pytest.fixture
def checkout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> LocalRuntime:
    """A checkout of our own (no local deployment recorded), and no endpoint or region in the environment."""
    monkeypatch.setenv("VODPIPE_HOME", str(tmp_path))
    monkeypatch.delenv("VODPIPE_LOCAL_NAME", raising=False)
    for name in ("AWS_ENDPOINT_URL", "AWS_DEFAULT_REGION", "AWS_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    return LocalRuntime.from_env()


def record_local_deployment(runtime: LocalRuntime) -> None:
    LocalDeployment(
        endpoint="http://127.0.0.1:4599",
        region="us-east-1",
        uploads_bucket="u",
        outputs_bucket="o",
        jobs_table="t",
        state_machine_arn="arn",
        api_id="api",
        api_url="http://127.0.0.1:4599/_aws/execute-api/api/v1",
        playback_base_url="http://127.0.0.1:4599/o",
        raw={},
    ).save(outputs_file(runtime))


def test_with_nothing_configured_it_is_aws(checkout: LocalRuntime) -> None:
    assert resolve_aws_target() == AwsTarget(None, None, "AWS")
    assert resolve_aws_target(region="eu-west-1") == AwsTarget(None, "eu-west-1", "AWS (eu-west-1)")


def test_a_recorded_local_deployment_is_the_default(checkout: LocalRuntime, monkeypatch: pytest.MonkeyPatch) -> None:
    record_local_deployment(checkout)
    target = resolve_aws_target()
    assert (target.endpoint_url, target.region, target.local) == ("http://127.0.0.1:4599", "us-east-1", True)
    # LocalStack's test credentials stand in for the caller's missing ones, against the local deployment only.
    credentials = target.session().get_credentials()
    assert credentials is not None
    assert credentials.access_key == "test"
    assert resolve_aws_target(aws=True).endpoint_url is None
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://elsewhere:4566")
    assert resolve_aws_target() == AwsTarget("http://elsewhere:4566", None, "http://elsewhere:4566")
    assert resolve_aws_target("http://flag:1").endpoint_url == "http://flag:1"


def test_the_callers_credentials_are_used_when_there_are_some(
    checkout: LocalRuntime, monkeypatch: pytest.MonkeyPatch
) -> None:
    record_local_deployment(checkout)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "mine")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    credentials = resolve_aws_target().session().get_credentials()
    assert credentials is not None
    assert credentials.access_key == "mine"


class Stacks:
    """describe_stacks as CloudFormation answers it, for one stack that exists (or none)."""

    def __init__(self, outputs: dict[str, str] | None) -> None:
        self.outputs = outputs

    def describe_stacks(self, StackName: str) -> dict[str, Any]:
        if self.outputs is None or StackName != STORAGE_STACK:
            message = f"Stack with id {StackName} does not exist"
            raise ClientError({"Error": {"Code": "ValidationError", "Message": message}}, "DescribeStacks")
        outputs = [{"OutputKey": k, "OutputValue": v} for k, v in self.outputs.items()]
        return {"Stacks": [{"StackName": StackName, "Outputs": outputs}]}


class Target(AwsTarget):
    def __init__(self, cloudformation: Stacks) -> None:
        super().__init__("http://127.0.0.1:4599", "us-east-1", "the local deployment at http://127.0.0.1:4599")
        object.__setattr__(self, "_cloudformation", cloudformation)

    def client(self, service: str) -> Any:
        assert service == "cloudformation"
        return self._cloudformation  # type: ignore[attr-defined]


def test_the_jobs_table_is_the_storage_stacks_output() -> None:
    assert jobs_table(Target(Stacks({"JobsTableName": "VodpipeStorage-Jobs-1", "UploadsBucketName": "u"}))) == (
        "VodpipeStorage-Jobs-1"
    )
    with pytest.raises(AdminError, match=r"^no VodpipeStorage stack in the local deployment at .*: deploy first"):
        jobs_table(Target(Stacks(None)))
    with pytest.raises(AdminError, match="has no JobsTableName output"):
        jobs_table(Target(Stacks({})))
