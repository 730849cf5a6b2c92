"""The deploy stamp: which inputs make `--if-changed` deploy again, and that a missing deployment is never skipped."""

from __future__ import annotations

from pathlib import Path

from vodpipe.local import stamp
from vodpipe.local.runtime import LocalRuntime


def runtime_in(root: Path) -> LocalRuntime:
    # No pid file and no outputs file under `root`: nothing here talks to a LocalStack.
    (root / "lambdas").mkdir(parents=True)
    (root / "lambdas" / "handler.py").write_text("x = 1\n")
    (root / "app.py").write_text("app\n")
    return LocalRuntime(root=root, port=1)


def test_a_changed_source_changes_the_stamp_and_a_cache_file_does_not(tmp_path: Path) -> None:
    runtime = runtime_in(tmp_path)
    before = stamp.deploy_stamp(runtime)
    (tmp_path / "lambdas" / "__pycache__").mkdir()
    (tmp_path / "lambdas" / "__pycache__" / "handler.pyc").write_bytes(b"\0")
    assert stamp.deploy_stamp(runtime) == before
    (tmp_path / "lambdas" / "handler.py").write_text("x = 2\n")
    assert stamp.deploy_stamp(runtime) != before


def test_a_matching_stamp_without_a_deployment_is_not_unchanged(tmp_path: Path) -> None:
    runtime = runtime_in(tmp_path)
    assert not stamp.unchanged(runtime)
    stamp.stamp_file(runtime).parent.mkdir(parents=True)
    stamp.record(runtime)
    assert stamp.stamp_file(runtime).read_text() == stamp.deploy_stamp(runtime)
    assert not stamp.unchanged(runtime)  # no outputs file: the stacks are not known to be there
    stamp.forget(runtime)
    assert not stamp.stamp_file(runtime).exists()
