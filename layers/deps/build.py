"""Build the Python dependency layer (<out>/python) from the lock file's `lambda` group, without Docker."""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent

PLATFORM = "manylinux2014_x86_64"
PYTHON_VERSION = "3.13"
GROUP = "lambda"
STAMP = "BUILD.json"


def log(msg: str) -> None:
    print(f"[deps-layer] {msg}", file=sys.stderr, flush=True)


def export_requirements(uv: Path) -> str:
    """The `lambda` group pinned by uv.lock, without the project itself or the dev tools."""
    if not uv.is_file():
        raise SystemExit(f"uv not found at {uv}: pass --uv")
    result = subprocess.run(
        [
            str(uv),
            "export",
            "--frozen",
            "--only-group",
            GROUP,
            "--no-dev",
            "--no-emit-project",
            "--no-hashes",
            "--no-header",
            "--no-annotate",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise SystemExit(f"uv export failed:\n{result.stderr}")
    return result.stdout


def pip_command(explicit: str | None) -> list[str]:
    """A pip to install with: --pip, else this interpreter's, else the repo's tools venv."""
    candidates = [explicit] if explicit else [sys.executable, str(REPO / ".state" / "tools" / "bin" / "python")]
    for python in candidates:
        probe = subprocess.run([python, "-m", "pip", "--version"], capture_output=True, check=False)
        if probe.returncode == 0:
            return [python, "-m", "pip"]
    raise SystemExit("no usable pip found: pass --pip /path/to/python-with-pip")


def tree_size(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file() and not p.is_symlink())


def build(out: Path, uv: Path, pip: str | None, force: bool) -> dict[str, object]:
    requirements = export_requirements(uv)
    key = hashlib.sha256(f"{PLATFORM}\n{PYTHON_VERSION}\n{requirements}".encode()).hexdigest()
    stamp = out / STAMP
    if not force and stamp.is_file() and (out / "python").is_dir():
        meta: dict[str, object] = json.loads(stamp.read_text())
        if meta.get("requirements_sha256") == key:
            log(f"{out} is current (requirements sha256 {key[:12]}); nothing to do")
            return meta

    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        staging.chmod(0o755)
        req_file = staging / "requirements.txt"
        req_file.write_text(requirements)
        log(f"installing {len([r for r in requirements.splitlines() if r and not r.startswith('#')])} pins")
        subprocess.run(
            [
                *pip_command(pip),
                "install",
                "--quiet",
                "--no-compile",
                "--no-deps",  # uv export already resolved the full closure; pip must not re-resolve
                "--platform",
                PLATFORM,
                "--implementation",
                "cp",
                "--python-version",
                PYTHON_VERSION,
                "--only-binary=:all:",
                "--target",
                str(staging / "python"),
                "-r",
                str(req_file),
            ],
            check=True,
        )
        # Tools' scripts are useless in a layer and __pycache__ would be stale on Lambda's path.
        shutil.rmtree(staging / "python" / "bin", ignore_errors=True)
        for cache in list((staging / "python").rglob("__pycache__")):
            shutil.rmtree(cache, ignore_errors=True)
        meta = {
            "requirements_sha256": key,
            "platform": PLATFORM,
            "python_version": PYTHON_VERSION,
            "group": GROUP,
            "unzipped_bytes": tree_size(staging / "python"),
        }
        stamp_path = staging / STAMP
        stamp_path.write_text(json.dumps(meta, indent=2) + "\n")
        if out.exists():
            shutil.rmtree(out)
        staging.rename(out)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    log(f"built {out}/python: {int(str(meta['unzipped_bytes'])) / 1e6:.1f} MB unzipped")
    return meta


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=HERE / "build", help="layer directory (default: %(default)s)")
    parser.add_argument("--uv", type=Path, default=REPO / ".state" / "tools" / "bin" / "uv", help="uv executable")
    parser.add_argument("--pip", help="python interpreter whose pip installs the packages")
    parser.add_argument("--force", action="store_true", help="rebuild even if the requirements are unchanged")
    args = parser.parse_args(argv)
    build(args.out.resolve(), args.uv, args.pip, args.force)
    return 0


if __name__ == "__main__":
    sys.exit(main())
