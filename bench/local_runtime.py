"""Local runtime numbers: LocalStack start-up, Lambda cold/warm invoke latency, memory per environment.

Prints, asserts nothing. Runs its own LocalStack instance on a free port, then stops it.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import socket
import statistics
import time
import zipfile

import boto3
import psutil

from vodpipe.local.runtime import LocalRuntime, repo_root

HANDLER = "import os\ndef handler(event, context):\n    return {'pid': os.getpid()}\n"
HANDLER_BOTO = "import boto3\ns3 = boto3.client('s3')\ndef handler(event, context):\n    return {}\n"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def make_zip(code: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("app.py", code)
    return buf.getvalue()


def main() -> None:
    runtime = LocalRuntime(root=repo_root(), port=free_port(), name="localstack-bench")
    try:
        took = runtime.up()
        print(f"LocalStack start-up (to healthy, DynamoDB Local eager): {took:.2f} s")
        session = boto3.Session(aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1")
        lam = session.client("lambda", endpoint_url=runtime.endpoint)
        for name, code in (("plain", HANDLER), ("boto3-client-at-import", HANDLER_BOTO)):
            lam.create_function(
                FunctionName=name,
                Runtime="python3.13",
                Role="arn:aws:iam::000000000000:role/lambda",
                Handler="app.handler",
                Code={"ZipFile": make_zip(code)},
            )
            lam.get_waiter("function_active_v2").wait(FunctionName=name)
            t = time.perf_counter()
            lam.invoke(FunctionName=name, Payload=b"{}")
            cold = time.perf_counter() - t
            warm = []
            for _ in range(30):
                t = time.perf_counter()
                lam.invoke(FunctionName=name, Payload=b"{}")
                warm.append(time.perf_counter() - t)
            warm.sort()
            print(
                f"Lambda '{name}': cold {cold * 1000:.0f} ms, warm median {statistics.median(warm) * 1000:.0f} ms, "
                f"p90 {warm[int(len(warm) * 0.9)] * 1000:.0f} ms"
            )
        procs = runtime.processes()
        envs = [p for p in procs if "runtime_init" in " ".join(p.cmdline())]
        for proc in envs:
            print(f"  runtime environment pid {proc.pid}: {proc.memory_info().rss / 2**20:.0f} MB RSS")
        by_name: dict[str, float] = {}
        for proc in procs:
            with contextlib.suppress(psutil.Error):
                by_name[proc.name()] = by_name.get(proc.name(), 0) + proc.memory_info().rss / 2**20
        print("memory by process name (MB RSS): " + ", ".join(f"{k} {v:.0f}" for k, v in sorted(by_name.items())))
        t = time.perf_counter()
    finally:
        runtime.down()
        shutil.rmtree(runtime.home, ignore_errors=True)
    print(f"LocalStack stop (all processes): {time.perf_counter() - t:.2f} s")


if __name__ == "__main__":
    os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")
    main()
