"""Which audio streams become renditions, in which order, under which names."""

from __future__ import annotations

from typing import Any

import pytest

from lambdas.media.audio_tracks import MAX_AUDIO_TRACKS, choose_audio
from lambdas.media.probe import AudioStream


def stream(index: int, **fields: Any) -> AudioStream:
    return AudioStream(index=index, codec="aac", channels=2, sample_rate=48000, **fields)


def test_no_audio_no_tracks() -> None:
    assert choose_audio(()) == ()


def test_the_default_stream_first_then_stream_order() -> None:
    streams = [
        stream(1, language="eng"),
        stream(2, language="fra", default=True),
        stream(3, language="deu", start_time=1.5),
    ]
    chosen = choose_audio(streams)
    assert [(c.track, c.stream, c.name, c.language) for c in chosen] == [
        ("audio", 2, "fr", "fr"),
        ("audio-1", 1, "en", "en"),
        ("audio-2", 3, "de", "de"),
    ]
    assert [c.default for c in chosen] == [True, False, False]
    assert chosen[2].start_time == 1.5


def test_without_a_default_flag_the_first_stream_is_the_default() -> None:
    chosen = choose_audio([stream(1), stream(4, language="spa")])
    assert [(c.track, c.stream, c.name, c.language) for c in chosen] == [
        ("audio", 1, "audio", None),
        ("audio-1", 4, "es", "es"),
    ]


def test_several_default_flags_the_first_wins() -> None:
    chosen = choose_audio([stream(1), stream(2, default=True), stream(3, default=True)])
    assert [c.stream for c in chosen] == [2, 1, 3]


def test_names_from_language_and_title_made_unique() -> None:
    chosen = choose_audio(
        [
            stream(1, language="eng", default=True),
            stream(2, language="eng"),
            stream(3, language="eng", title="Director's commentary"),
            stream(4),
            stream(5, title="Music only"),
            stream(6),
            stream(7, language="eng"),
        ]
    )
    assert [c.name for c in chosen] == [
        "en",
        "en 2",
        "en - Director's commentary",
        "audio",
        "Music only",
        "audio 2",
        "en 3",
    ]
    assert len({c.name for c in chosen}) == len(chosen)


def test_a_name_taken_literally_is_skipped_when_numbering() -> None:
    chosen = choose_audio([stream(1, title="en 2"), stream(2, language="eng"), stream(3, language="eng")])
    assert [c.name for c in chosen] == ["en 2", "en", "en 3"]


def test_untrusted_tags_cannot_break_a_manifest() -> None:
    chosen = choose_audio(
        [
            stream(1, language='en",URI="http://evil', title='Evil"\nURI=x\r\n#EXT-X-ENDLIST'),
            stream(2, language="pt-BR", title="  Português \t (Brasil)  "),
            stream(3, language="english", title="x" * 200),
        ]
    )
    assert chosen[0].language is None  # not a language tag: dropped
    assert chosen[0].name == "Evil' URI=x #EXT-X-ENDLIST"  # one line, no quote
    assert (chosen[1].language, chosen[1].name) == ("pt-BR", "pt-BR - Português (Brasil)")
    assert chosen[2].language is None
    assert chosen[2].name == "x" * 64


def test_at_most_eight_tracks_the_default_among_them() -> None:
    streams = [stream(i) for i in range(1, 12)] + [stream(12, language="fin", default=True)]
    chosen = choose_audio(streams)
    assert len(chosen) == MAX_AUDIO_TRACKS == 8
    assert [c.stream for c in chosen] == [12, 1, 2, 3, 4, 5, 6, 7]
    assert [c.track for c in chosen] == ["audio", *(f"audio-{n}" for n in range(1, 8))]


@pytest.mark.parametrize(
    ("tagged", "announced"),
    [
        ("eng", "en"),
        ("ger", "de"),
        ("deu", "de"),
        ("chi", "zh"),
        ("pt-br", "pt-BR"),
        ("yue", "yue"),
        ("en-US", "en-US"),
    ],
)
def test_languages_are_announced_as_bcp47(tagged: str, announced: str) -> None:
    """Sources carry ISO 639-2 (bibliographic or terminological); HLS LANGUAGE and DASH @lang want BCP 47."""
    (chosen,) = choose_audio([stream(1, language=tagged)])
    assert chosen.language == announced


@pytest.mark.parametrize("tagged", ["english", "und", "zxx", "mul", "12", "en--x"])
def test_what_is_not_a_language_is_no_language(tagged: str) -> None:
    (chosen,) = choose_audio([stream(1, language=tagged)])
    assert chosen.language is None
    assert chosen.name == "audio"
