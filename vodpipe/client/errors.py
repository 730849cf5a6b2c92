"""What can go wrong talking to a vodpipe API, as exceptions whose message the user can act on."""

from __future__ import annotations

from typing import Any


class ClientError(Exception):
    """Base of every client error; `str()` is one line for the user."""

    def document(self) -> dict[str, Any]:
        """The error as the `--json` document."""
        return {"error": type(self).__name__, "message": str(self), "field": None}


class ConfigError(ClientError):
    """No API URL or no token: the message says where to put one."""


class TransportError(ClientError):
    """The API could not be reached (after retries)."""


class ApiError(ClientError):
    """A 4xx/5xx answer, with the server's `{"error", "message", "field"}`."""

    def __init__(self, status: int, error: str, message: str, field: str | None = None) -> None:
        self.status = status
        self.error = error
        self.message = message
        self.field = field
        where = f" (field: {field})" if field else ""
        super().__init__(f"{message}{where} [HTTP {status} {error}]")

    def document(self) -> dict[str, Any]:
        return {"error": self.error, "message": self.message, "field": self.field, "status": self.status}


class PartUploadFailed(ClientError):
    """A part could not be stored after every retry; the upload stays resumable."""


class UploadInterrupted(ClientError):
    """The upload was stopped (Ctrl-C, or a stop request) with parts still missing; it can be resumed."""

    def __init__(self, job_id: str, parts_done: int, part_count: int) -> None:
        self.job_id = job_id
        self.parts_done = parts_done
        self.part_count = part_count
        super().__init__(
            f"upload of job {job_id} interrupted with {parts_done}/{part_count} parts stored: "
            "run the same command again to upload the rest"
        )

    def document(self) -> dict[str, Any]:
        return super().document() | {
            "job_id": self.job_id,
            "parts_done": self.parts_done,
            "part_count": self.part_count,
        }
