from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from lambdas.playback.tokens import PlayTokens, TokenExpired, TokenRejected

KEY = b"k" * 32
JOB = "01JBX7Q8K9M2N3P4R5S6T7V8W9"
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
LATER = NOW + timedelta(minutes=15)


def test_a_token_opens_exactly_its_file_until_it_expires() -> None:
    tokens = PlayTokens(KEY)
    token = tokens.issue(JOB, "cmaf/master.m3u8", LATER)
    assert token.expires == int(LATER.timestamp())
    tokens.verify(JOB, "cmaf/master.m3u8", str(token.expires), token.signature, NOW)
    with pytest.raises(TokenRejected):
        tokens.verify(JOB, "cmaf/720p/index.m3u8", str(token.expires), token.signature, NOW)
    with pytest.raises(TokenRejected):
        tokens.verify("01JBX7Q8K9M2N3P4R5S6T7V8WA", "cmaf/master.m3u8", str(token.expires), token.signature, NOW)
    with pytest.raises(TokenExpired):
        tokens.verify(JOB, "cmaf/master.m3u8", str(token.expires), token.signature, LATER)


def test_a_longer_expiry_or_a_changed_signature_is_refused() -> None:
    tokens = PlayTokens(KEY)
    token = tokens.issue(JOB, "cmaf/master.m3u8", LATER)
    with pytest.raises(TokenRejected) as extended:
        tokens.verify(JOB, "cmaf/master.m3u8", str(token.expires + 3600), token.signature, NOW)
    assert not isinstance(extended.value, TokenExpired)
    flipped = ("A" if token.signature[0] != "A" else "B") + token.signature[1:]
    with pytest.raises(TokenRejected):
        tokens.verify(JOB, "cmaf/master.m3u8", str(token.expires), flipped, NOW)
    with pytest.raises(TokenRejected):  # another deployment's key
        PlayTokens(b"x" * 32).verify(JOB, "cmaf/master.m3u8", str(token.expires), token.signature, NOW)


@pytest.mark.parametrize(
    ("file", "exp", "sig"),
    [
        ("cmaf/master.m3u8", None, "a" * 43),
        ("cmaf/master.m3u8", "123", None),
        ("cmaf/master.m3u8", "-5", "a" * 43),
        ("cmaf/master.m3u8", "1e9", "a" * 43),
        ("cmaf/master.m3u8", "123", "a" * 42),
        ("cmaf/master.m3u8", "123", "a" * 42 + "="),
        ("cmaf/../../x.m3u8", "123", "a" * 43),
        ("cmaf/720p/seg_00000.m4s", "123", "a" * 43),  # media files are never served here
        ("/cmaf/master.m3u8", "123", "a" * 43),
    ],
)
def test_malformed_requests_are_refused_before_any_mac(file: str, exp: str | None, sig: str | None) -> None:
    with pytest.raises(TokenRejected):
        PlayTokens(KEY).verify(JOB, file, exp, sig, NOW)


def test_a_short_key_is_refused() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        PlayTokens(b"short")
