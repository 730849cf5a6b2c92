"""Play tokens: `exp` and `sig` on GET /play/{job_id}/{file}, an HMAC-SHA256 over the job, the file and the expiry.

The API hands them out (GET /jobs/{id} of a private job) and the play endpoint checks them without a database
read or a credential: a valid `sig` proves the API signed exactly this job, this file and this expiry. The key is
the deployment's own Secrets Manager secret (random, made by the CDK app). Tokens are per file, so a token for
the master playlist opens nothing else; the playlists the endpoint serves carry their own tokens.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import datetime

from lambdas.jobs.model import JOB_ID_PATTERN

VERSION = b"vodpipe-play-v1"
MIN_KEY_BYTES = 32
# Only manifests are served through the endpoint; every media file goes to the signer's URLs.
PLAYABLE_FILE = re.compile(r"^(?:[A-Za-z0-9_-]+/)*[A-Za-z0-9_-]+\.(?:m3u8|mpd)$")
_JOB_ID = re.compile(JOB_ID_PATTERN)
_SIG = re.compile(r"^[A-Za-z0-9_-]{43}$")  # 32 bytes, unpadded base64url


class TokenRejected(Exception):
    """The request carries no valid token for this file (tampered, for another file or job, or malformed)."""


class TokenExpired(TokenRejected):
    pass


@dataclass(frozen=True)
class PlayToken:
    expires: int  # Unix seconds
    signature: str

    def query(self) -> str:
        return f"exp={self.expires}&sig={self.signature}"


class PlayTokens:
    def __init__(self, key: bytes) -> None:
        if len(key) < MIN_KEY_BYTES:
            raise ValueError(f"a play-token key needs at least {MIN_KEY_BYTES} bytes")
        self._key = key

    def _mac(self, job_id: str, file: str, expires: int) -> str:
        message = b"\n".join((VERSION, job_id.encode(), file.encode(), str(expires).encode()))
        digest = hmac.new(self._key, message, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def issue(self, job_id: str, file: str, expires_at: datetime) -> PlayToken:
        check_file(job_id, file)
        expires = int(expires_at.timestamp())
        return PlayToken(expires=expires, signature=self._mac(job_id, file, expires))

    def verify(self, job_id: str, file: str, exp: str | None, sig: str | None, now: datetime) -> None:
        """Returns only for an untampered token of exactly this job and file that has not expired."""
        check_file(job_id, file)
        if exp is None or sig is None or not exp.isdigit() or len(exp) > 12 or not _SIG.match(sig):
            raise TokenRejected("missing or malformed exp/sig")
        if not hmac.compare_digest(self._mac(job_id, file, int(exp)), sig):
            raise TokenRejected("the signature does not match")
        if int(exp) <= now.timestamp():  # checked after the signature: an expiry is only news if it is genuine
            raise TokenExpired("the link has expired")


def check_file(job_id: str, file: str) -> None:
    if not _JOB_ID.match(job_id) or not PLAYABLE_FILE.match(file):
        raise TokenRejected("not a playable file of a job")
