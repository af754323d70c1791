"""``Content-Disposition`` for downloads (RFC 6266), safe for any file name.

``attachment; filename="<ASCII fallback>"; filename*=UTF-8''<percent-encoded name>``. The
fallback keeps printable ASCII except ``"``, ``\\`` and ``%`` (replaced by ``_``; non-ASCII
letters lose their accents first), so it needs no escaping that browsers disagree on. The
RFC 8187 form percent-encodes every byte outside ``attr-char``, including CR, LF and quotes,
so no name can end the header or start another.
"""

from __future__ import annotations

import unicodedata
from urllib.parse import quote, unquote

#: RFC 8187 attr-char, minus ALPHA / DIGIT which quote() always keeps.
_ATTR_CHAR_SAFE = "!#$&+-.^_`|~"
_FALLBACK_UNSAFE = {'"', "\\", "%"}


def ascii_fallback(filename: str) -> str:
    """A printable-ASCII stand-in for ``filename``, ``download`` if nothing is left."""
    decomposed = unicodedata.normalize("NFKD", filename)
    kept: list[str] = []
    for char in decomposed:
        if unicodedata.combining(char):
            continue
        if " " <= char <= "~" and char not in _FALLBACK_UNSAFE:
            kept.append(char)
        else:
            kept.append("_")
    fallback = "".join(kept).strip(" .")
    return fallback if fallback.strip("_") else "download"


def content_disposition(filename: str, disposition: str = "attachment") -> str:
    """The header value that saves a download as ``filename``."""
    encoded = quote(_utf8(filename), safe=_ATTR_CHAR_SAFE)
    return f"{disposition}; filename=\"{ascii_fallback(filename)}\"; filename*=UTF-8''{encoded}"


def _utf8(filename: str) -> bytes:
    """UTF-8 bytes of a name; U+DC80..U+DCFF are the undecodable bytes of a local file name
    (PEP 383) and go back to those bytes. Any other lone surrogate stands for nothing a file
    system or S3 key can hold and becomes U+FFFD rather than failing the response."""
    try:
        return filename.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        cleaned = "".join(
            "\ufffd" if "\ud800" <= char <= "\udfff" and not "\udc80" <= char <= "\udcff" else char
            for char in filename
        )
        return cleaned.encode("utf-8", "surrogateescape")


def filename_from_content_disposition(value: str) -> str | None:
    """The file name a ``Content-Disposition`` header gives, preferring ``filename*``."""
    plain: str | None = None
    for part in value.split(";")[1:]:
        name, _, raw = part.strip().partition("=")
        name = name.strip().lower()
        if name == "filename*":
            charset, _, rest = raw.partition("'")
            _, _, encoded = rest.partition("'")
            if charset.lower() == "utf-8":
                return unquote(encoded, encoding="utf-8", errors="replace")
        elif name == "filename":
            plain = raw.strip().strip('"')
    return plain
