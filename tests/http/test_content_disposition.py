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


def test_only_u_dc80_to_u_dcff_go_back_to_bytes_every_other_surrogate_is_replaced() -> None:
    # Each bound of both ranges, and the code points just outside the inner one.
    value = content_disposition("\ud800\udc7f\udc80\udcff\udd00\udfff")
    replaced = "%EF%BF%BD"
    assert value.endswith(f"filename*=UTF-8''{replaced * 2}%80%FF{replaced * 2}")


def test_the_fallback_keeps_printable_ascii_up_to_the_tilde() -> None:
    assert ascii_fallback(" ~a b~") == "~a b~"
    assert ascii_fallback("\x7f") == "download"


def test_the_client_reads_only_the_filename_parameters() -> None:
    # Parameters that sort before and after `filename` and `filename*`, after the name.
    value = (
        'attachment; filename="a.txt"; creation-date="Wed, 12 Feb 1997 16:29:51 -0500"; '
        "size=5; title*=UTF-8''b.txt"
    )
    assert filename_from_content_disposition(value) == "a.txt"


def test_the_disposition_type_is_not_a_parameter() -> None:
    assert filename_from_content_disposition('filename="typo.txt"') is None
    assert filename_from_content_disposition('attachment; filename="a.txt"') == "a.txt"


def test_a_filename_star_in_another_charset_than_utf_8_gives_way_to_filename() -> None:
    # Charsets that sort before and after "utf-8".
    for charset in ("iso-8859-1", "windows-1252"):
        value = f"attachment; filename=\"a.txt\"; filename*={charset}''b.txt"
        assert filename_from_content_disposition(value) == "a.txt"
    assert filename_from_content_disposition("attachment; filename*=UTF-8''b.txt") == "b.txt"
