"""LocalStack Lambda runtime executor that runs Python handlers as host processes, not containers."""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import json
import logging
import os
import select
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeoutError
from pathlib import Path

import psutil
import requests
from localstack import config
from localstack.aws.api.lambda_ import PackageType
from localstack.services.lambda_.invocation.executor_endpoint import (
    ExecutorEndpoint,
    StatusErrorException,
)
from localstack.services.lambda_.invocation.lambda_models import FunctionVersion, InvocationResult
from localstack.services.lambda_.invocation.plugins import RuntimeExecutorPlugin
from localstack.services.lambda_.invocation.runtime_executor import (
    LambdaRuntimeException,
    RuntimeExecutor,
)

LOG = logging.getLogger(__name__)

LAMBDA_PYTHON_ENV = "VODPIPE_LAMBDA_PYTHON"
RUNTIME_INIT = Path(__file__).with_name("runtime_init.py")
# How much of an environment's log file we scan back for the START line of a killed invoke.
LOG_TAIL_BYTES = 1024 * 1024
# Internal requests must never go through a proxy configured for LocalStack itself.
NO_PROXIES = {"http": "", "https": ""}


def _work_root() -> Path:
    # LocalStack's TMPDIR is already private to this instance (see platform notes), so two
    # LocalStacks on one host never share version or environment directories.
    return Path(tempfile.gettempdir()) / "vodpipe-lambda"


def version_dir(function_version: FunctionVersion) -> Path:
    """Directory holding the merged layers (`opt/`) of one function version and revision."""
    key = f"{function_version.qualified_arn}@{function_version.config.internal_revision}"
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return _work_root() / "versions" / f"{function_version.id.function_name}-{digest}"


def lambda_python() -> Path:
    """The interpreter handlers run with: a venv holding only what AWS's python runtime provides."""
    value = os.environ.get(LAMBDA_PYTHON_ENV)
    if not value:
        raise LambdaRuntimeException(
            f"{LAMBDA_PYTHON_ENV} is not set: point it at the python of a venv that holds only the "
            "Lambda runtime's dependencies (python3.13 + boto3), e.g. .state/lambda-runtime/bin/python"
        )
    path = Path(value)
    if not (path.is_file() and os.access(path, os.X_OK)):
        raise LambdaRuntimeException(f"{LAMBDA_PYTHON_ENV}={value} is not an executable file")
    return path


def _merge_tree(source: Path, target: Path) -> None:
    """Overlay `source` onto `target`; later layers win, as when Lambda extracts layers in order."""
    for directory, subdirs, files in os.walk(source):
        relative = Path(directory).relative_to(source)
        (target / relative).mkdir(parents=True, exist_ok=True)
        # os.walk lists a symlink to a directory among the directories and does not descend into
        # it; it must be carried over as a link (e.g. lib/libfoo.so.1 -> ...) like any file.
        linked_dirs = [name for name in subdirs if (Path(directory) / name).is_symlink()]
        for name in [*files, *linked_dirs]:
            src, dst = Path(directory) / name, target / relative / name
            if dst.is_symlink() or dst.exists():
                dst.unlink()
            try:
                # Hard links make a 100 MB ffmpeg layer cost nothing per function version.
                os.link(src, dst, follow_symlinks=False)
            except OSError:
                shutil.copy2(src, dst, follow_symlinks=False)


def _kill_tree(pid: int) -> None:
    """SIGKILL a runtime process, its process group and any descendant that left the group."""
    try:
        descendants = psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        descendants = []
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
    for proc in descendants:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.kill()
    # Wait so callers can rely on "nothing of this invoke is alive" once we return. A killed process that left
    # our tree is reparented to PID 1, which may reap it late: as a zombie it runs nothing, so it counts as gone.
    deadline = time.monotonic() + 3
    alive = descendants
    while alive and time.monotonic() < deadline:
        alive = [proc for proc in alive if _still_running(proc)]
        if alive:
            time.sleep(0.01)


def _still_running(proc: psutil.Process) -> bool:
    try:
        return proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


class HostRuntimeExecutor(RuntimeExecutor):
    """One Lambda execution environment = one `runtime_init.py` child process on this host."""

    executor_endpoint: ExecutorEndpoint
    env_dir: Path
    log_path: Path

    def __init__(self, id: str, function_version: FunctionVersion) -> None:
        super().__init__(id=id, function_version=function_version)
        self.executor_endpoint = ExecutorEndpoint(self.id, container_address="127.0.0.1")
        self.env_dir = _work_root() / "envs" / self.id
        self.log_path = self.env_dir / "runtime.log"
        self._env: dict[str, str] = {}
        self._proc: subprocess.Popen[bytes] | None = None
        self._lifeline: int | None = None  # our end of the pipe whose closing tells the child we died
        self._lock = threading.RLock()
        self._stopped = False
        self._current_request: str | None = None

    # --- version lifecycle -------------------------------------------------------------------

    @classmethod
    def prepare_version(cls, function_version: FunctionVersion) -> None:
        cfg = function_version.config
        if cfg.package_type != PackageType.Zip or not cfg.code:
            raise LambdaRuntimeException("vodpipe-host runs zip-packaged functions only")
        if not (cfg.runtime or "").startswith("python"):
            raise LambdaRuntimeException(f"vodpipe-host runs python runtimes only, not {cfg.runtime}")
        lambda_python()  # fail at CreateFunction (State=Failed with this reason), not at first invoke
        cfg.code.prepare_for_execution()

        target = version_dir(function_version)
        if target.exists():
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        # Build beside the target and rename, so a crash never leaves a half-merged opt/ behind.
        staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=".staging-"))
        try:
            opt = staging / "opt"
            opt.mkdir()
            for layer in cfg.layers:
                if layer.code is None:
                    continue
                layer.code.prepare_for_execution()
                _merge_tree(Path(layer.code.get_unzipped_code_location()), opt)
            staging.rename(target)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise

    @classmethod
    def cleanup_version(cls, function_version: FunctionVersion) -> None:
        shutil.rmtree(version_dir(function_version), ignore_errors=True)

    @classmethod
    def validate_environment(cls) -> bool:
        # Called once as the Lambda provider starts, before any environment exists: whatever is in
        # envs/ was left by a LocalStack that died without stopping its environments.
        shutil.rmtree(_work_root() / "envs", ignore_errors=True)
        try:
            lambda_python()
        except LambdaRuntimeException as e:
            LOG.error("vodpipe-host Lambda executor: %s", e)
            return False
        return True

    # --- addresses ---------------------------------------------------------------------------

    def get_address(self) -> str:
        return "127.0.0.1"

    def get_endpoint_from_executor(self) -> str:
        # Children share the host's network, so they reach the gateway where it listens; a
        # wildcard bind is reachable on loopback.
        host = config.GATEWAY_LISTEN[0].host
        return "127.0.0.1" if host in ("", "0.0.0.0", "::") else host  # noqa: S104 (a comparison)

    def get_runtime_endpoint(self) -> str:
        port = config.GATEWAY_LISTEN[0].port
        host = self.get_endpoint_from_executor()
        return f"http://{host}:{port}{self.executor_endpoint.get_endpoint_prefix()}"

    # --- environment lifecycle ---------------------------------------------------------------

    def start(self, env_vars: dict[str, str]) -> None:
        self._env = self._child_environment(env_vars)
        self.executor_endpoint.start()
        self._spawn()
        # Blocks until the child posts status/<id>/ready (or /error, or exits, or LocalStack's
        # startup timer stops us).
        self.executor_endpoint.wait_for_startup()

    def _child_environment(self, env_vars: dict[str, str]) -> dict[str, str]:
        cfg = self.function_version.config
        if cfg.code is None:  # prepare_version already refused image functions
            raise LambdaRuntimeException("vodpipe-host runs zip-packaged functions only")
        task_root = Path(cfg.code.get_unzipped_code_location())
        opt = version_dir(self.function_version) / "opt"
        python = lambda_python()
        tmp, home = self.env_dir / "tmp", self.env_dir / "home"
        tmp.mkdir(parents=True, exist_ok=True)
        home.mkdir(parents=True, exist_ok=True)
        env = {
            # opt/bin first: on AWS it is last, but there /usr/bin has no ffmpeg to shadow the layer's.
            "PATH": os.pathsep.join([str(opt / "bin"), str(python.parent), "/usr/local/bin", "/usr/bin", "/bin"]),
            "PYTHONPATH": os.pathsep.join(
                [str(opt / "python"), str(opt / "python" / "lib" / str(cfg.runtime) / "site-packages")]
            ),
            "LD_LIBRARY_PATH": os.pathsep.join([str(task_root / "lib"), str(opt / "lib")]),
            "LANG": "en_US.UTF-8",
            # A private HOME keeps the host's ~/.aws/config and dotfiles out of the handler.
            "HOME": str(home),
            "TMPDIR": str(tmp),
        }
        # LocalStack's standard Lambda variables (credentials from STS, AWS_ENDPOINT_URL, _HANDLER,
        # ...) and then the function's own Environment, which it already merged in last.
        env.update({key: str(value) for key, value in env_vars.items()})
        # The container paths LocalStack assumes do not exist on the host.
        env["LAMBDA_TASK_ROOT"] = str(task_root)
        env["LAMBDA_RUNTIME_DIR"] = str(RUNTIME_INIT.parent)
        return env

    def _spawn(self) -> None:
        """Start a runtime child and learn its invoke port; readiness arrives via the endpoint."""
        self.env_dir.mkdir(parents=True, exist_ok=True)
        port_r, port_w = os.pipe()
        life_r, life_w = os.pipe()
        with open(self.log_path, "ab") as log:
            proc = subprocess.Popen(
                # -I: ignore PYTHON* variables and the user site, so LocalStack's packages can never
                # leak in; runtime_init puts the task root and layer paths on sys.path itself.
                [
                    str(lambda_python()),
                    "-I",
                    str(RUNTIME_INIT),
                    "--port-fd",
                    str(port_w),
                    "--lifeline-fd",
                    str(life_r),
                ],
                env=self._env,
                cwd=self._env["LAMBDA_TASK_ROOT"],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                pass_fds=(port_w, life_r),
                # Own session = own process group, so one killpg takes the handler's children too.
                start_new_session=True,
            )
        os.close(port_w)
        os.close(life_r)
        with self._lock:
            self._proc, self._lifeline = proc, life_w
            stopped = self._stopped
        if stopped:
            # LocalStack's startup timer called stop() while we were spawning: don't leak the child.
            self._kill()
            os.close(port_r)
            raise LambdaRuntimeException(f"runtime {self.id} was stopped during startup")
        threading.Thread(target=self._watch, args=(proc,), name=f"vodpipe-host-watch-{self.id}", daemon=True).start()
        try:
            port = self._read_port(port_r)
        finally:
            os.close(port_r)
        self.executor_endpoint.container_port = port

    def _read_port(self, fd: int) -> int:
        ready, _, _ = select.select([fd], [], [], config.LAMBDA_RUNTIME_ENVIRONMENT_TIMEOUT)
        data = os.read(fd, 64) if ready else b""
        if not data.strip():
            raise LambdaRuntimeException(f"runtime child of {self.id} exited before listening; see {self.log_path}")
        return int(data.strip())

    def _watch(self, proc: subprocess.Popen[bytes]) -> None:
        """Turn an unexpected exit of the child into a startup error or a Runtime.ExitError."""
        code = proc.wait()
        with self._lock:
            if self._stopped or proc is not self._proc:
                return  # we killed it on purpose
            self._proc = None
            self._close_lifeline()
        endpoint = self.executor_endpoint
        startup = endpoint.startup_future
        if startup is not None and not startup.done():
            payload = {
                "errorType": "Runtime.ExitError",
                "errorMessage": f"Runtime exited during init with status {code}",
            }
            startup.set_exception(StatusErrorException("Environment startup failed", json.dumps(payload).encode()))
            return
        invocation = endpoint.invocation_future
        if invocation is not None and not invocation.done() and self._current_request:
            request_id = self._current_request
            message = f"RequestId: {request_id} Error: Runtime exited with error: exit status {code}"
            payload = {"errorType": "Runtime.ExitError", "errorMessage": message}
            logs = f"{self._logs_since_start(request_id)}{message}\n"
            invocation.set_result(InvocationResult(request_id, json.dumps(payload).encode(), is_error=True, logs=logs))

    def _close_lifeline(self) -> None:
        if self._lifeline is not None:
            os.close(self._lifeline)
            self._lifeline = None

    def _kill(self) -> None:
        with self._lock:
            proc, self._proc = self._proc, None
            self._close_lifeline()
        if proc is not None:
            _kill_tree(proc.pid)
            proc.wait()

    def _ensure_running(self) -> None:
        """Re-initialise after a timeout or crash, as Lambda does with a fresh sandbox."""
        with self._lock:
            if self._proc is not None and self._proc.poll() is None:
                return
        LOG.debug("Re-initialising runtime %s of %s", self.id, self.function_version.qualified_arn)
        self.executor_endpoint.startup_future = Future()
        self._spawn()
        try:
            self.executor_endpoint.startup_future.result(timeout=config.LAMBDA_RUNTIME_ENVIRONMENT_TIMEOUT)
        except FutureTimeoutError as e:
            self._kill()
            payload = {"errorType": "Runtime.InitTimeout", "errorMessage": "Runtime did not become ready"}
            raise StatusErrorException("Environment re-init timed out", json.dumps(payload).encode()) from e

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
        self._kill()
        try:
            self.executor_endpoint.shutdown()
        except Exception as e:  # already unregistered, or never started
            LOG.debug("Error shutting down executor endpoint %s: %s", self.id, e)
        # Like LAMBDA_REMOVE_CONTAINERS: the environment's TMPDIR, HOME and log go with it.
        shutil.rmtree(self.env_dir, ignore_errors=True)

    # --- invocations -------------------------------------------------------------------------

    def invoke(self, payload: dict[str, str]) -> InvocationResult:
        self._ensure_running()
        request_id = payload["invoke-id"]
        timeout = float(self.function_version.config.timeout)
        endpoint = self.executor_endpoint
        future: Future[InvocationResult] = Future()
        endpoint.invocation_future, endpoint.logs = future, None
        self._current_request = request_id
        try:
            url = f"http://127.0.0.1:{endpoint.container_port}/invoke"
            started = time.monotonic()
            response = requests.post(url, json=payload, proxies=NO_PROXIES, timeout=10)
            response.raise_for_status()
            try:
                # The clock started before the POST, so a handler never gets more than its timeout.
                return future.result(timeout=max(0.0, timeout - (time.monotonic() - started)))
            except FutureTimeoutError:
                if future.done():  # answered in the instant between the wait and this line
                    return future.result()
                return self._timed_out(request_id, timeout)
        finally:
            self._current_request = None

    def _timed_out(self, request_id: str, timeout: float) -> InvocationResult:
        # Kill before answering: once the caller sees Sandbox.Timedout, nothing of the invoke runs.
        self._kill()
        message = f"RequestId: {request_id} Error: Task timed out after {timeout:.2f} seconds"
        now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        logs = (
            self._logs_since_start(request_id)
            + f"{now} {request_id} Task timed out after {timeout:.2f} seconds\n"
            + f"END RequestId: {request_id}\n"
            + f"REPORT RequestId: {request_id}\tDuration: {timeout * 1000:.2f} ms\t"
            + f"Billed Duration: {int(timeout * 1000)} ms\t"
            + f"Memory Size: {self.function_version.config.memory_size} MB\tStatus: timeout\n"
        )
        # The same shape LocalStack's Go init posts to /error, so callers and Step Functions match it.
        body = json.dumps({"errorType": "Sandbox.Timedout", "errorMessage": message}).encode()
        return InvocationResult(request_id, body, is_error=True, logs=logs)

    def _logs_since_start(self, request_id: str) -> str:
        """What the killed child wrote for this invoke, recovered from its log file."""
        try:
            with open(self.log_path, "rb") as log:
                log.seek(0, os.SEEK_END)
                log.seek(max(0, log.tell() - LOG_TAIL_BYTES))
                text = log.read().decode(errors="replace")
        except OSError:
            return ""
        start = text.rfind(f"START RequestId: {request_id}")
        return text[start:] if start >= 0 else ""

    def get_logs(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return "Runtime environment was not started"


class HostRuntimeExecutorPlugin(RuntimeExecutorPlugin):
    """Selected with LAMBDA_RUNTIME_EXECUTOR=vodpipe-host."""

    name = "vodpipe-host"

    def load(self, *args: object, **kwargs: object) -> type[RuntimeExecutor]:
        return HostRuntimeExecutor
