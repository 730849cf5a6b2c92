"""BCP 47 language tags (RFC 5646): well-formedness and the conventional letter case."""

from __future__ import annotations

import re

# RFC 5646 section 2.1, the langtag production (plus private use and the irregular grandfathered tags).
_LANGTAG = re.compile(
    r"""
    ^(?P<language>[a-z]{2,3}(?:-[a-z]{3}){0,3}|[a-z]{4}|[a-z]{5,8})
    (?:-(?P<script>[a-z]{4}))?
    (?:-(?P<region>[a-z]{2}|[0-9]{3}))?
    (?P<variants>(?:-(?:[a-z0-9]{5,8}|[0-9][a-z0-9]{3}))*)
    (?P<extensions>(?:-[0-9a-wy-z](?:-[a-z0-9]{2,8})+)*)
    (?:-x(?:-[a-z0-9]{1,8})+)?$
    """,
    re.VERBOSE,
)
_PRIVATE = re.compile(r"^x(?:-[a-z0-9]{1,8})+$")
_GRANDFATHERED = frozenset(
    {
        "en-gb-oed", "i-ami", "i-bnn", "i-default", "i-enochian", "i-hak", "i-klingon", "i-lux", "i-mingo",
        "i-navajo", "i-pwn", "i-tao", "i-tay", "i-tsu", "sgn-be-fr", "sgn-be-nl", "sgn-ch-de",
    }
)  # fmt: skip
MAX_TAG_LENGTH = 35  # RFC 5646 4.4.1: the longest tag a conformant implementation must store


class InvalidLanguageTag(ValueError):
    pass


def language_tag(value: str) -> str:
    """`value` as a well-formed BCP 47 tag in its conventional case ("en-us" -> "en-US", "zh-hant" ->
    "zh-Hant"); InvalidLanguageTag otherwise. Well-formed, not registered: any tag a player may see."""
    lowered = value.strip().lower().replace("_", "-")
    if not lowered or len(lowered) > MAX_TAG_LENGTH or not lowered.isascii():
        raise InvalidLanguageTag(f"{value!r} is not a BCP 47 language tag (such as en, pt-BR, zh-Hant)")
    if lowered in _GRANDFATHERED or _PRIVATE.match(lowered):
        return lowered
    match = _LANGTAG.match(lowered)
    if match is None or _repeats(match["variants"]) or _repeats_singleton(match["extensions"]):
        raise InvalidLanguageTag(f"{value!r} is not a BCP 47 language tag (such as en, pt-BR, zh-Hant)")
    return _cased(lowered)


def _repeats(variants: str) -> bool:
    names = [v for v in variants.split("-") if v]
    return len(set(names)) != len(names)


def _repeats_singleton(extensions: str) -> bool:
    singletons = [s for s in extensions.split("-") if len(s) == 1]
    return len(set(singletons)) != len(singletons)


def _cased(tag: str) -> str:
    """Region upper case, script title case, the rest lower case (RFC 5646 2.1.1); nothing after a singleton."""
    parts = tag.split("-")
    out = [parts[0]]
    singleton = False
    for part in parts[1:]:
        if singleton or len(part) == 1:
            singleton = True
            out.append(part)
        elif len(part) == 2:
            out.append(part.upper())
        elif len(part) == 4 and part.isalpha():
            out.append(part.title())
        else:
            out.append(part)
    return "-".join(out)


def primary_language(tag: str) -> str:
    return tag.split("-", 1)[0]
