"""Range, If-Range and If-None-Match evaluation against RFC 9110, checked by property."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streamway.http.ranges import (
    ByteRange,
    RangeNotSatisfiable,
    format_http_date,
    if_range_matches,
    is_not_modified,
    parse_entity_tags,
    parse_ranges,
)

ETAG = '"abc-123"'
MODIFIED = datetime(2025, 3, 1, 12, 30, 15, tzinfo=UTC)

sizes = st.integers(min_value=0, max_value=10**12)
positions = st.integers(min_value=0, max_value=2 * 10**12)


def expected_slice(spec: tuple[int | None, int | None], size: int) -> tuple[int, int] | None:
    """The reference: RFC 9110 14.1.2 written out with Python slices."""
    first, last = spec
    if first is None:  # suffix -n
        assert last is not None
        if last == 0 or size == 0:
            return None
        return (max(0, size - last), size)
    if first >= size:
        return None
    return (first, size if last is None else min(last + 1, size))


def render(spec: tuple[int | None, int | None]) -> str:
    first, last = spec
    if first is None:
        return f"-{last}"
    return f"{first}-" if last is None else f"{first}-{last}"


range_specs = st.one_of(
    st.tuples(st.none(), positions),
    st.tuples(positions, st.none()),
    st.tuples(positions, positions).map(lambda t: (min(t), max(t))),
)


@given(size=sizes, spec=range_specs)
def test_one_range_matches_the_rfc(size: int, spec: tuple[int | None, int | None]) -> None:
    expected = expected_slice(spec, size)
    if expected is None:
        with pytest.raises(RangeNotSatisfiable) as error:
            parse_ranges(f"bytes={render(spec)}", size)
        assert error.value.content_range == f"bytes */{size}"
    else:
        (got,) = parse_ranges(f"bytes={render(spec)}", size) or []
        assert (got.start, got.end) == expected
        assert 0 <= got.start < got.end <= size
        assert got.content_range(size) == f"bytes {got.start}-{got.end - 1}/{size}"


@given(size=sizes, specs=st.lists(range_specs, min_size=1, max_size=5))
def test_several_ranges_keep_the_satisfiable_ones_in_order(
    size: int, specs: list[tuple[int | None, int | None]]
) -> None:
    expected = [e for e in (expected_slice(s, size) for s in specs) if e is not None]
    header = "bytes = " + " , ".join(render(s) for s in specs)
    if not expected:
        with pytest.raises(RangeNotSatisfiable):
            parse_ranges(header, size)
    else:
        assert [(r.start, r.end) for r in parse_ranges(header, size) or []] == expected


@given(header=st.text(max_size=40), size=sizes)
def test_any_header_is_ignored_served_or_unsatisfiable_never_an_error(
    header: str, size: int
) -> None:
    try:
        ranges = parse_ranges(header, size)
    except RangeNotSatisfiable:
        return
    for byte_range in ranges or []:
        assert 0 <= byte_range.start < byte_range.end <= size


@pytest.mark.parametrize(
    "header",
    [
        "bytes=5-1",  # last < first: invalid, ignored
        "items=0-1",  # unknown unit
        "bytes=abc",
        "bytes=",
        "bytes=1-2-3",
        "bytes=--5",
        "bytes 0-1",
        "bytes=0-1,5-2",  # one invalid spec spoils the header
        "bytes=+1-2",
    ],
)
def test_headers_that_do_not_parse_are_ignored(header: str) -> None:
    assert parse_ranges(header, 100) is None


def test_unit_is_case_insensitive_and_empty_elements_are_tolerated() -> None:
    assert parse_ranges("Bytes=0-0,,-1", 10) == [ByteRange(0, 1), ByteRange(9, 10)]


def test_if_range_with_a_strong_etag_must_match_exactly() -> None:
    assert if_range_matches(None, ETAG, MODIFIED)
    assert if_range_matches(ETAG, ETAG, MODIFIED)
    assert not if_range_matches('"other"', ETAG, MODIFIED)
    assert not if_range_matches(f"W/{ETAG}", ETAG, MODIFIED)  # weak never matches
    assert not if_range_matches(f"{ETAG}, {ETAG}", ETAG, MODIFIED)


def test_if_range_with_a_date_must_equal_last_modified() -> None:
    assert if_range_matches(format_http_date(MODIFIED), ETAG, MODIFIED)
    assert if_range_matches("Saturday, 01-Mar-25 12:30:15 GMT", ETAG, MODIFIED)  # RFC 850
    assert if_range_matches("Sat Mar  1 12:30:15 2025", ETAG, MODIFIED)  # asctime
    later = format_http_date(MODIFIED + timedelta(seconds=1))
    assert not if_range_matches(later, ETAG, MODIFIED)
    assert not if_range_matches("not a date", ETAG, MODIFIED)


def test_if_none_match_uses_weak_comparison_and_wins_over_if_modified_since() -> None:
    assert is_not_modified(ETAG, None, ETAG, MODIFIED)
    assert is_not_modified(f'"x", W/{ETAG}', None, ETAG, MODIFIED)
    assert is_not_modified("*", None, ETAG, MODIFIED)
    assert not is_not_modified('"x"', None, ETAG, MODIFIED)
    assert not is_not_modified('"x"', format_http_date(MODIFIED), ETAG, MODIFIED)
    assert is_not_modified(None, format_http_date(MODIFIED), ETAG, MODIFIED)
    earlier = format_http_date(MODIFIED - timedelta(seconds=1))
    assert not is_not_modified(None, earlier, ETAG, MODIFIED)
    assert not is_not_modified(None, "garbage", ETAG, MODIFIED)


@given(st.lists(st.tuples(st.booleans(), st.from_regex(r"[!#-~]{0,12}", fullmatch=True))))
def test_entity_tag_lists_round_trip(tags: list[tuple[bool, str]]) -> None:
    header = ", ".join(("W/" if weak else "") + f'"{opaque}"' for weak, opaque in tags)
    assert parse_entity_tags(header) == [(weak, f'"{opaque}"') for weak, opaque in tags]


# --- hostile headers: sizes and lengths that must not cost more than a pass over them -----

#: The grammar of an entity-tag list, as a reference: `1#entity-tag` with empty elements.
_REFERENCE_TAG = r'(W/)?("[\x21\x23-\x7e\x80-\xff]*")'
_REFERENCE_LIST = re.compile(rf"[ \t,]*(?:{_REFERENCE_TAG}[ \t]*(?:,[ \t,]*|\Z))*")


def reference_entity_tags(header: str) -> list[tuple[bool, str]] | None:
    if _REFERENCE_LIST.fullmatch(header) is None:
        return None
    return [(weak == "W/", tag) for weak, tag in re.findall(_REFERENCE_TAG, header)]


list_pieces = st.sampled_from(['"a"', 'W/"b"', '"c,d"', '""', ",", " ", "\t", "W/", '"', "x"])


@given(st.lists(list_pieces, max_size=12).map("".join))
def test_entity_tag_lists_parse_as_the_grammar_says(header: str) -> None:
    assert parse_entity_tags(header) == reference_entity_tags(header)


@pytest.mark.timeout(60)
def test_a_huge_if_none_match_is_parsed_in_one_pass() -> None:
    # 4 MiB: one pass takes about a second; the former parser re-sliced the rest of the
    # header for every tag and took minutes here (6 s for 0.625 MiB, growing with the square).
    count = 4 * 1024 * 1024 // 14
    header = '"abcdefghij", ' * count
    tags = parse_entity_tags(header)
    assert tags is not None
    assert len(tags) == count
    assert not is_not_modified(header, None, ETAG, MODIFIED)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        # Positions too long for int() (Python stops at 4300 digits) mean "past any object".
        ("bytes=0-" + "9" * 4400, [ByteRange(0, 100)]),
        ("bytes=-" + "9" * 4400, [ByteRange(0, 100)]),
        ("bytes=" + "0" * 4400 + "5-9", [ByteRange(5, 10)]),
        ("bytes=" + "9" * 4400 + "-" + "8" * 4400, None),  # last < first: ignored
    ],
)
def test_range_positions_of_any_length_parse(header: str, expected: list[ByteRange] | None) -> None:
    assert parse_ranges(header, 100) == expected


def test_a_first_position_of_thousands_of_digits_is_unsatisfiable() -> None:
    with pytest.raises(RangeNotSatisfiable):
        parse_ranges("bytes=" + "9" * 4400 + "-", 100)


def test_a_range_knows_its_length_and_is_a_value() -> None:
    assert ByteRange(3, 10).length == 7
    assert len({ByteRange(3, 10), ByteRange(3, 10)}) == 1  # frozen: hashable, equal by value


def test_a_line_break_inside_the_range_list_is_whitespace() -> None:
    assert parse_ranges("bytes=0-1\n,2-3", 10) == [ByteRange(0, 2), ByteRange(2, 4)]


@pytest.mark.parametrize(
    ("header", "size", "expected"),
    [
        ("bytes=-1", 1, [ByteRange(0, 1)]),
        ("bytes=-5", 0, None),  # None: unsatisfiable
        # 18 significant digits are read as they are; more mean 10**18, past any object.
        ("bytes=500000000000000000-", 10**18, [ByteRange(5 * 10**17, 10**18)]),
        ("bytes=1000000000000000005-", 2 * 10**18, [ByteRange(10**18, 2 * 10**18)]),
        ("bytes=" + "9" * 19 + "-", 10**18 - 1, None),
    ],
)
def test_suffixes_and_far_positions_at_their_edges(
    header: str, size: int, expected: list[ByteRange] | None
) -> None:
    if expected is None:
        with pytest.raises(RangeNotSatisfiable):
            parse_ranges(header, size)
    else:
        assert parse_ranges(header, size) == expected


def test_if_range_matches_only_its_own_tag_and_date() -> None:
    # An equal tag that is another string object: matched by value, not identity.
    assert if_range_matches('"abc-123"', "".join(['"abc', '-123"']), MODIFIED)
    assert not if_range_matches('"abc-122"', ETAG, MODIFIED)
    assert not if_range_matches(format_http_date(MODIFIED - timedelta(seconds=1)), ETAG, MODIFIED)


def test_if_none_match_and_if_modified_since_at_their_edges() -> None:
    assert not is_not_modified('W/"other"', None, ETAG, MODIFIED)
    assert not is_not_modified("not a tag list", None, ETAG, MODIFIED)
    assert not is_not_modified('"abc-122"', None, ETAG, MODIFIED)
    later = format_http_date(MODIFIED + timedelta(days=1))
    assert is_not_modified(None, later, ETAG, MODIFIED)
    assert not is_not_modified(None, None, ETAG, MODIFIED)


def test_an_http_date_is_written_in_gmt() -> None:
    assert format_http_date(datetime(1994, 11, 6, 8, 49, 37, tzinfo=UTC)) == (
        "Sun, 06 Nov 1994 08:49:37 GMT"
    )
