"""BCP 47 tags: well-formed ones of every shape are accepted in their conventional case, others refused."""

from __future__ import annotations

import pytest

from lambdas.captions.language import InvalidLanguageTag, language_tag


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("en", "en"),
        ("EN-us", "en-US"),
        ("pt_br", "pt-BR"),
        ("zh-hant-tw", "zh-Hant-TW"),
        ("sr-Latn", "sr-Latn"),
        ("es-419", "es-419"),
        ("yue-HK", "yue-HK"),
        ("sgn-ase", "sgn-ase"),  # extlang
        ("de-CH-1996", "de-CH-1996"),  # variant
        ("sl-rozaj-biske", "sl-rozaj-biske"),
        ("en-US-u-ca-gregory", "en-US-u-ca-gregory"),  # extension: nothing after a singleton is re-cased
        ("x-klingon", "x-klingon"),
        ("en-x-us", "en-x-us"),
        ("i-klingon", "i-klingon"),
        ("und", "und"),
    ],
)
def test_well_formed_tags(given: str, expected: str) -> None:
    assert language_tag(given) == expected


@pytest.mark.parametrize(
    "given",
    ["", "e", "english language", "en-", "en--us", "123", "de-1996-1996", "en-a-bb-a-cc", "en\nUS", "ö", "a" * 40,
     'en"', "en-US-"],
)  # fmt: skip
def test_malformed_tags(given: str) -> None:
    with pytest.raises(InvalidLanguageTag):
        language_tag(given)
