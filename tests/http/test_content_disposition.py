"""Content-Disposition for any file name: ASCII-safe, no header injection, exact round trip."""

from __future__ import annotations

from urllib.parse import unquote

from hypothesis import given
from hypothesis import strategies as st

from streamway.http.content_disposition import (
    ascii_fallback,
    content_disposition,
    filename_from_content_disposition,
)


def test_non_ascii_name_gets_a_fallback_and_an_rfc_8187_form() -> None:
    assert content_disposition("レポート 2025.pdf") == (
        'attachment; filename="____ 2025.pdf"; '
        "filename*=UTF-8''%E3%83%AC%E3%83%9D%E3%83%BC%E3%83%88%202025.pdf"
    )
    assert ascii_fallback("Café déjà vu.txt") == "Cafe deja vu.txt"


def test_quotes_and_line_breaks_cannot_escape_the_header() -> None:
    value = content_disposition('evil".txt\r\nSet-Cookie: a=b; x="')
    assert "\r" not in value
    assert "\n" not in value
    assert value.startswith('attachment; filename="evil_.txt__Set-Cookie: a=b; x=_"; filename*=')
    assert value.count('"') == 2


# Names a filesystem or S3 can hold: any code point, including the lone surrogates
# U+DC80..U+DCFF that stand for undecodable bytes in local file names (PEP 383).
_ESCAPED_BYTES = st.characters(min_codepoint=0xDC80, max_codepoint=0xDCFF)
names = st.text(st.characters(codec="utf-8") | _ESCAPED_BYTES, min_size=1, max_size=60)


@given(names)
def test_any_name_gives_a_safe_header_that_round_trips(name: str) -> None:
    value = content_disposition(name)
    assert value.isascii()
    assert value.isprintable()
    fallback = value.split('filename="', 1)[1].split('"', 1)[0]
    assert fallback
    assert "\\" not in fallback
    assert "%" not in fallback
    assert value.count('"') == 2
    encoded = value.split("filename*=UTF-8''", 1)[1]
    assert unquote(encoded, encoding="utf-8", errors="surrogateescape") == name
    if not any("\ud800" <= char <= "\udfff" for char in name):
        assert filename_from_content_disposition(value) == name  # the client side agrees


@given(st.text(st.characters(codec=None, exclude_categories=()), min_size=1, max_size=20))
def test_any_string_at_all_gives_a_safe_header(name: str) -> None:
    """Even lone surrogates no file name can hold (U+D800): a header, not an exception."""
    value = content_disposition(name)
    assert value.isascii()
    assert value.isprintable()
    assert value.count('"') == 2


def test_a_lone_surrogate_that_is_no_byte_becomes_a_replacement_character() -> None:
    assert content_disposition("a\ud800b").endswith("filename*=UTF-8''a%EF%BF%BDb")
    assert content_disposition("a\udcffb").endswith("filename*=UTF-8''a%FFb")
