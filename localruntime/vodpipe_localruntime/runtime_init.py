"""Stdlib-only stand-in for LocalStack's Go runtime-init: serves one Python handler to LocalStack."""

from __future__ import annotations

import argparse
import importlib
import json
import os
import queue
import signal
import sys
import threading
import time
import traceback
import urllib.request
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast

# Written through stdout/stderr and stripped by the pump: when the pump sees it, every byte written
# before it has been collected, so an invoke's logs are complete before they are posted.
DRAIN_MARK = b"\x1e\x1fvodpipe-drain\x1f\x1e"
# Talk to LocalStack directly even if the function's environment sets HTTP(S)_PROXY.
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))

Handler = Callable[[Any, Any], Any]


class InitError(Exception):
    """A failure to load the handler, reported with Lambda's Runtime.* error types."""

    def __init__(self, error_type: str, message: str, stack: list[str] | None = None) -> None:
        super().__init__(message)
        self.payload = {"errorType": error_type, "errorMessage": message, "stackTrace": stack or []}


class LogCapture:
    """Collects everything written to fd 1 and 2 (handler prints, logging, subprocesses) per invoke."""

    def __init__(self) -> None:
        # fd 1 is the environment's log file opened by the executor; keep writing a copy there so
        # the executor can read back what a killed invoke printed.
        self._sink = os.dup(1)
        read_fd, write_fd = os.pipe()
        os.dup2(write_fd, 1)
        os.dup2(write_fd, 2)
        os.close(write_fd)
        self._read_fd = read_fd
        self._buffer = bytearray()
        self._lock = threading.Lock()
        self._drained = threading.Semaphore(0)
        for stream in (sys.stdout, sys.stderr):
            stream.reconfigure(line_buffering=True)  # type: ignore[union-attr]
        threading.Thread(target=self._pump, name="log-pump", daemon=True).start()

    def _pump(self) -> None:
        pending = b""
        while chunk := os.read(self._read_fd, 65536):
            data = pending + chunk
            while (index := data.find(DRAIN_MARK)) >= 0:
                self.emit(data[:index])
                data = data[index + len(DRAIN_MARK) :]
                self._drained.release()
            # Hold back a tail that could be the start of a mark split across two reads.
            keep = next((n for n in range(len(DRAIN_MARK) - 1, 0, -1) if data.endswith(DRAIN_MARK[:n])), 0)
            self.emit(data[: len(data) - keep])
            pending = data[len(data) - keep :]

    def emit(self, data: bytes | str) -> None:
        raw = data.encode() if isinstance(data, str) else data
        if raw:
            with self._lock:
                self._buffer += raw
            os.write(self._sink, raw)

    def drain(self, timeout: float = 2.0) -> None:
        sys.stdout.flush()
        sys.stderr.flush()
        os.write(1, DRAIN_MARK)
        self._drained.acquire(timeout=timeout)

    def take(self) -> str:
        with self._lock:
            text = self._buffer.decode(errors="replace")
            self._buffer.clear()
        return text


class LambdaContext:
    """The subset of the AWS Python runtime's context object that handlers use."""

    def __init__(self, request_id: str, invoked_arn: str, deadline: float) -> None:
        self.aws_request_id = request_id
        self.invoked_function_arn = invoked_arn
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME", "")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME", "")
        self.identity = None
        self.client_context = None
        self.tenant_id = None
        self._deadline = deadline

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.time()) * 1000))


def post(path: str, body: bytes) -> None:
    # An http:// URL the executor built; never user input.
    url = os.environ["LOCALSTACK_RUNTIME_ENDPOINT"] + path
    request = urllib.request.Request(  # noqa: S310
        url, data=body, method="POST", headers={"Content-Type": "application/json"}
    )
    with OPENER.open(request, timeout=30) as response:
        response.read()


def error_payload(exc: BaseException, request_id: str | None = None) -> dict[str, Any]:
    # Drop our own frame so the stack starts in user code, as in the AWS runtime.
    tb = exc.__traceback__.tb_next if exc.__traceback__ else None
    payload: dict[str, Any] = {
        "errorMessage": str(exc),
        "errorType": type(exc).__name__,
        "stackTrace": traceback.format_list(traceback.extract_tb(tb)),
    }
    if request_id:
        payload["requestId"] = request_id
    return payload


def setup_sys_path() -> None:
    # The child runs with -I (PYTHONPATH ignored, so LocalStack's packages can't leak in); put the
    # task root and the layer paths in front of the runtime's own site-packages, in AWS's order.
    runtime = f"python{sys.version_info.major}.{sys.version_info.minor}"
    opt_paths = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    site = [p for p in opt_paths if p.endswith(f"{runtime}/site-packages")]
    others = [p for p in opt_paths if p not in site]
    sys.path[:0] = [os.environ["LAMBDA_TASK_ROOT"], *site, *others]


def load_handler(spec: str) -> Handler:
    module_path, _, function_name = spec.rpartition(".")
    if not module_path:
        raise InitError("Runtime.MalformedHandlerName", f"Bad handler '{spec}': not enough values to unpack")
    module_name = module_path.replace("/", ".")
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        raise InitError("Runtime.ImportModuleError", f"Unable to import module '{module_name}': {e}") from e
    except SyntaxError as e:
        raise InitError("Runtime.UserCodeSyntaxError", f"Syntax error in module '{module_name}': {e}") from e
    except Exception as e:
        payload = error_payload(e)
        raise InitError(payload["errorType"], payload["errorMessage"], payload["stackTrace"]) from e
    handler = getattr(module, function_name, None)
    if not callable(handler):
        raise InitError("Runtime.HandlerNotFound", f"Handler '{function_name}' missing on module '{module_name}'")
    return cast(Handler, handler)


def run_invoke(handler: Handler, request: dict[str, Any], logs: LogCapture) -> tuple[bool, bytes]:
    request_id = request["invoke-id"]
    timeout = float(os.environ.get("AWS_LAMBDA_FUNCTION_TIMEOUT", "3"))
    os.environ["_X_AMZN_TRACE_ID"] = request.get("trace-id") or ""
    context = LambdaContext(request_id, request["invoked-function-arn"], time.time() + timeout)
    try:
        raw = request.get("payload") or ""
        event = json.loads(raw) if raw else {}
    except ValueError as e:
        return True, json.dumps(
            {"errorType": "Runtime.UnmarshalError", "errorMessage": f"Unable to unmarshal input: {e}"}
        ).encode()
    try:
        result = handler(event, context)
    except Exception as e:
        payload = error_payload(e, request_id)
        # The AWS runtime logs unhandled errors in this form; people grep CloudWatch for "[ERROR]".
        print(f"[ERROR] {payload['errorType']}: {payload['errorMessage']}", file=sys.stderr)
        print("Traceback (most recent call last):\n" + "".join(payload["stackTrace"]), file=sys.stderr, end="")
        return True, json.dumps(payload).encode()
    try:
        return False, json.dumps(result).encode()
    except (TypeError, ValueError) as e:
        return True, json.dumps(
            {"errorType": "Runtime.MarshalError", "errorMessage": f"Unable to marshal response: {e}"}
        ).encode()


def peak_rss_mb() -> int:
    # Not getrusage(): Linux carries ru_maxrss across fork+exec, so it would report LocalStack's peak.
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) // 1024
    return 0


def serve(handler: Handler, invokes: queue.Queue[dict[str, Any]], logs: LogCapture) -> None:
    """Run invokes one at a time on the main thread, so handlers may use signals."""
    version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
    memory = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
    while True:
        request = invokes.get()
        request_id = request["invoke-id"]
        logs.drain()
        logs.emit(f"START RequestId: {request_id} Version: {version}\n")
        started = time.monotonic()
        is_error, body = run_invoke(handler, request, logs)
        duration_ms = (time.monotonic() - started) * 1000
        logs.drain()
        max_rss_mb = peak_rss_mb()
        logs.emit(
            f"END RequestId: {request_id}\n"
            f"REPORT RequestId: {request_id}\tDuration: {duration_ms:.2f} ms\t"
            f"Billed Duration: {int(duration_ms) + 1} ms\tMemory Size: {memory} MB\t"
            f"Max Memory Used: {max_rss_mb} MB\t\n"
        )
        # The executor endpoint attaches the logs it holds to the response: logs must go first.
        post(f"/invocations/{request_id}/logs", json.dumps({"logs": logs.take()}).encode())
        post(f"/invocations/{request_id}/{'error' if is_error else 'response'}", body)


def make_server(invokes: queue.Queue[dict[str, Any]]) -> ThreadingHTTPServer:
    class InvokeHandler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            if self.path != "/invoke":
                self.send_error(404)
                return
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            invokes.put(json.loads(body))
            # Like the Go init: acknowledge at once, the result is posted back separately.
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"OK")

        def log_message(self, format: str, *args: Any) -> None:
            pass  # access logs would end up in the function's logs

    return ThreadingHTTPServer(("127.0.0.1", 0), InvokeHandler)


def watch_parent(lifeline_fd: int) -> None:
    """Die with LocalStack, even on SIGKILL: the pipe's write end closes when its process dies."""
    try:
        os.read(lifeline_fd, 1)
    finally:
        os.killpg(os.getpgrp(), signal.SIGKILL)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port-fd", type=int, required=True)
    parser.add_argument("--lifeline-fd", type=int, required=True)
    args = parser.parse_args()

    threading.Thread(target=watch_parent, args=(args.lifeline_fd,), name="parent-watchdog", daemon=True).start()
    logs = LogCapture()
    invokes: queue.Queue[dict[str, Any]] = queue.Queue()
    server = make_server(invokes)
    # Bind before importing user code, so the executor learns the port even if the import hangs.
    os.write(args.port_fd, f"{server.server_address[1]}\n".encode())
    os.close(args.port_fd)
    threading.Thread(target=server.serve_forever, name="invoke-server", daemon=True).start()

    runtime_id = os.environ["LOCALSTACK_RUNTIME_ID"]
    setup_sys_path()
    try:
        handler = load_handler(os.environ["_HANDLER"])
    except InitError as e:
        print(f"[ERROR] {e.payload['errorType']}: {e.payload['errorMessage']}", file=sys.stderr)
        logs.drain()
        post(f"/status/{runtime_id}/error", json.dumps(e.payload).encode())
        sys.exit(1)
    post(f"/status/{runtime_id}/ready", b"{}")
    serve(handler, invokes, logs)


if __name__ == "__main__":
    main()
