"""The plain email a job's owner gets when it completed, failed or was cancelled."""

from __future__ import annotations

from dataclasses import dataclass

from lambdas.jobs.model import Job, JobStatus

_SUBJECTS = {
    JobStatus.COMPLETED: "is ready",
    JobStatus.FAILED: "failed",
    JobStatus.CANCELLED: "was cancelled",
}


@dataclass(frozen=True)
class Email:
    to: str
    subject: str
    text: str


def name_of(job: Job) -> str:
    """What the owner called the file (the upload's name), else the job id."""
    return job.upload.file_name if job.upload else job.job_id


def job_email(job: Job) -> Email | None:
    """The message for a job that ended, to its owner's address; None without an address or if it has not ended."""
    if not job.notify_email or job.status not in _SUBJECTS:
        return None
    name = name_of(job)
    lines = [f"Your video {name} {_SUBJECTS[job.status]}.", "", f"Job: {job.job_id}", f"Status: {job.status}"]
    outputs = job.outputs
    if job.status is JobStatus.COMPLETED and outputs is not None:
        if outputs.playback_url:
            lines.append(f"Watch (HLS): {outputs.playback_url}")
        if outputs.dash_url:
            lines.append(f"Watch (DASH): {outputs.dash_url}")
    if job.status is JobStatus.FAILED:
        lines.append(f"Why: {job.error_message or job.error_type}")
        if job.retry_count < job.max_retries:
            lines.append("You can run it again: vodpipe retry " + job.job_id)
    if job.completed_at is not None:
        lines.append(f"At: {job.completed_at:%Y-%m-%d %H:%M} UTC")
    lines += ["", "-- vodpipe"]
    return Email(to=job.notify_email, subject=f"vodpipe: {name} {_SUBJECTS[job.status]}", text="\n".join(lines))
