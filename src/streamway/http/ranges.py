"""Range requests and conditional requests (RFC 9110 sections 13 and 14), without I/O.

* :func:`parse_ranges` reads ``Range: bytes=...``: ``a-b``, ``a-`` and ``-n``, several
  separated by commas. A header it cannot use (another unit, bad syntax, ``b < a``) is
  ignored, as RFC 9110 allows, and the whole object is served. A header whose ranges are all
  unsatisfiable raises :class:`RangeNotSatisfiable` (416).
* :func:`if_range_matches` evaluates ``If-Range`` with a strong ETag or an HTTP date.
* :func:`is_not_modified` evaluates ``If-None-Match`` (weak comparison), else
  ``If-Modified-Since``, for a 304.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime

_BYTES_UNIT = re.compile(r"^\s*bytes\s*=\s*(.*)$", re.IGNORECASE | re.DOTALL)
_RANGE_SPEC = re.compile(r"^(?:([0-9]+)-([0-9]*)|-([0-9]+))$")
#: One entity tag and what may follow it: optional whitespace, then a comma or the end.
_ENTITY_TAG = re.compile(r'(W/)?("[\x21\x23-\x7e\x80-\xff]*")[ \t]*(?:,|\Z)')
#: What may stand between list elements: whitespace and empty elements (RFC 9110 5.6.1).
_LIST_GAP = re.compile(r"[ \t,]*")

#: Digits beyond this many are "further than any object": S3's largest object has 13.
_MAX_POSITION_DIGITS = 18
_FAR = 10**_MAX_POSITION_DIGITS


@dataclass(frozen=True)
class ByteRange:
    """Bytes ``[start, end)`` of an object; ``end`` is exclusive, unlike the header's."""

    start: int
    end: int

    @property
    def length(self) -> int:
        return self.end - self.start

    def content_range(self, size: int) -> str:
        return f"bytes {self.start}-{self.end - 1}/{size}"


class RangeNotSatisfiable(Exception):
    """No range in the header overlaps the object: answer 416 with ``bytes */size``."""

    def __init__(self, size: int) -> None:
        super().__init__(f"no requested range is within the object's {size} bytes")
        self.size = size

    @property
    def content_range(self) -> str:
        return f"bytes */{self.size}"


def parse_ranges(header: str | None, size: int) -> list[ByteRange] | None:
    """The satisfiable ranges ``header`` asks for in an object of ``size`` bytes.

    None means "serve the whole object": no header, a unit other than bytes, or a header that
    does not parse. Unsatisfiable ranges are dropped; if none is left, raises
    :class:`RangeNotSatisfiable`. Ranges are clipped to the object and kept in request order.
    """
    if header is None:
        return None
    unit = _BYTES_UNIT.match(header)
    if unit is None:
        return None
    specs = [spec.strip() for spec in unit.group(1).split(",")]
    parsed: list[tuple[int | None, int | None]] = []
    for spec in specs:
        if not spec:
            continue  # RFC 9110 list syntax tolerates empty elements: "bytes=0-1,,2-3"
        match = _RANGE_SPEC.match(spec)
        if match is None:
            return None
        first, last, suffix = match.groups()
        if suffix is not None:
            parsed.append((None, _position(suffix)))
        else:
            if last and _digits_less(last, first):
                return None  # invalid syntax per RFC 9110 14.1.1: the header is ignored
            parsed.append((_position(first), _position(last) if last else None))
    if not parsed:
        return None

    satisfiable: list[ByteRange] = []
    for start, last_or_suffix in parsed:
        if start is None:  # suffix: the last n bytes
            assert last_or_suffix is not None
            if last_or_suffix > 0 and size > 0:
                satisfiable.append(ByteRange(max(0, size - last_or_suffix), size))
        elif start < size:
            end = size if last_or_suffix is None else min(last_or_suffix + 1, size)
            satisfiable.append(ByteRange(start, end))
    if not satisfiable:
        raise RangeNotSatisfiable(size)
    return satisfiable


def _significant(digits: str) -> str:
    return digits.lstrip("0") or "0"


def _digits_less(a: str, b: str) -> bool:
    """``int(a) < int(b)`` for digit strings of any length, without converting them."""
    a, b = _significant(a), _significant(b)
    return (len(a), a) < (len(b), b)


def _position(digits: str) -> int:
    """A byte position; one too long for ``int()`` (Python refuses over 4300 digits) is
    clamped to :data:`_FAR`, past any object, which is what its value means here."""
    significant = _significant(digits)
    return _FAR if len(significant) > _MAX_POSITION_DIGITS else int(significant)


def parse_entity_tags(header: str) -> list[tuple[bool, str]] | None:
    """``[(weak, '"tag"'), ...]`` from an ETag list, or None if the list does not parse.

    One pass from left to right: each step matches at the current position and moves past
    what it matched, so the work is linear in the header's length (no re-scanning or
    slicing of the rest, which made a 1 MiB ``If-None-Match`` cost seconds).
    """
    tags: list[tuple[bool, str]] = []
    end = len(header)
    position = _after_gap(header, 0)
    while position < end:
        match = _ENTITY_TAG.match(header, position)
        if match is None:
            return None
        tags.append((match.group(1) is not None, match.group(2)))
        position = _after_gap(header, match.end())
    return tags


def _after_gap(header: str, position: int) -> int:
    gap = _LIST_GAP.match(header, position)
    assert gap is not None  # the pattern matches the empty string
    return gap.end()


def parse_http_date(value: str) -> datetime | None:
    """An HTTP date (IMF-fixdate, RFC 850 or asctime) as an aware UTC datetime, or None."""
    try:
        parsed = parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError):
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def format_http_date(moment: datetime) -> str:
    """``Sun, 06 Nov 1994 08:49:37 GMT``."""
    return format_datetime(moment.astimezone(UTC).replace(microsecond=0), usegmt=True)


def if_range_matches(header: str | None, etag: str, last_modified: datetime) -> bool:
    """True when a ``Range`` may be honoured: no ``If-Range``, or it names this version.

    An ETag must match strongly (a weak one never does); a date must equal ``Last-Modified``
    to the second. Anything else means the client holds another version: send it all.
    """
    if header is None:
        return True
    value = header.strip()
    if value.startswith(('"', "W/")):
        tags = parse_entity_tags(value)
        if tags is None or len(tags) != 1:
            return False
        weak, tag = tags[0]
        return not weak and not etag.startswith("W/") and tag == etag
    date = parse_http_date(value)
    return date is not None and date == last_modified.replace(microsecond=0)


def is_not_modified(
    if_none_match: str | None,
    if_modified_since: str | None,
    etag: str,
    last_modified: datetime,
) -> bool:
    """True when a GET or HEAD should be answered 304 (RFC 9110 13.1.2 and 13.1.3)."""
    if if_none_match is not None:
        if if_none_match.strip() == "*":
            return True
        tags = parse_entity_tags(if_none_match)
        if not tags:
            return False
        opaque = etag.removeprefix("W/")
        return any(tag == opaque for _, tag in tags)  # weak comparison
    if if_modified_since is not None:
        since = parse_http_date(if_modified_since)
        return since is not None and last_modified.replace(microsecond=0) <= since
    return False
