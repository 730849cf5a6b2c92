"""Resume records: which job an unfinished upload of this file to this API belongs to."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

HEAD_BYTES = 1 << 20


@dataclass(frozen=True)
class Fingerprint:
    """Enough to tell that a file is still the one we started uploading (without reading all of it)."""

    size: int
    mtime_ns: int
    head_sha256: str

    @classmethod
    def of(cls, path: Path) -> Fingerprint:
        stat = path.stat()
        with path.open("rb") as fh:
            head = fh.read(HEAD_BYTES)
        return cls(size=stat.st_size, mtime_ns=stat.st_mtime_ns, head_sha256=hashlib.sha256(head).hexdigest())


@dataclass(frozen=True)
class ResumeRecord:
    path: str
    api_url: str
    job_id: str
    fingerprint: Fingerprint
    part_size: int
    part_count: int
    # The upload request: the same command resumes, a different one starts a new job.
    request: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ResumeRecord:
        return cls(**(data | {"fingerprint": Fingerprint(**data["fingerprint"])}))


class ResumeStore:
    """One small JSON file per (API, file) under `<config dir>/uploads/`."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def _file(self, path: Path, api_url: str) -> Path:
        digest = hashlib.sha256(f"{api_url}\n{path.resolve()}".encode()).hexdigest()[:32]
        return self.directory / f"{digest}.json"

    def load(self, path: Path, api_url: str) -> ResumeRecord | None:
        try:
            return ResumeRecord.from_json(json.loads(self._file(path, api_url).read_text()))
        except FileNotFoundError:
            return None
        except (ValueError, TypeError, KeyError):
            # A record we cannot read only costs a fresh upload.
            self._file(path, api_url).unlink(missing_ok=True)
            return None

    def save(self, record: ResumeRecord) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        target = self._file(Path(record.path), record.api_url)
        tmp = target.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(asdict(record), indent=2, sort_keys=True) + "\n")
        tmp.replace(target)

    def delete(self, path: Path, api_url: str) -> None:
        self._file(path, api_url).unlink(missing_ok=True)

    def records(self) -> list[ResumeRecord]:
        found = []
        for file in sorted(self.directory.glob("*.json")):
            with contextlib.suppress(ValueError, TypeError, KeyError, OSError):
                found.append(ResumeRecord.from_json(json.loads(file.read_text())))
        return found

    def forget_job(self, job_id: str) -> None:
        """Drop the record of a job that was cancelled, so its file starts afresh next time."""
        for record in self.records():
            if record.job_id == job_id:
                self.delete(Path(record.path), record.api_url)
