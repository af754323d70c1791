"""Which object keys streamway will look up: the same rules for every store.

A key is a relative, ``/``-separated name. It is refused (400) when it is empty, is not
valid Unicode (lone surrogates), contains a NUL, starts with ``/`` or ``\\`` (absolute),
looks like a Windows drive (``C:``), or has a ``..`` segment (``\\`` counts as a separator
too, so ``..\\x`` is refused on every platform).
Each store also checks that the name it resolves stays under its root or prefix
(symlinks in a local directory, for instance).

An object has one key: :func:`check_object_key` also refuses, as no such object (404), the
other spellings a file system would resolve to the same file: an empty segment (``a//b``,
a trailing ``/``) or a ``.`` segment (``./a``). Listings never produce them.
"""

from __future__ import annotations

import re

from streamway.storage.store import InvalidKey, ObjectNotFound

MAX_KEY_BYTES = 1024
"""S3's own limit on key length."""

_SEGMENT_SEPARATORS = re.compile(r"[/\\]")
_DRIVE = re.compile(r"^[A-Za-z]:")


def check_key(key: str) -> str:
    """Return ``key`` unchanged if it is a safe relative name, else raise :class:`InvalidKey`."""
    if not key:
        raise InvalidKey("the key is empty")
    if "\x00" in key:
        raise InvalidKey("the key contains a NUL character")
    if key.startswith(("/", "\\")) or _DRIVE.match(key):
        raise InvalidKey("the key is an absolute path")
    if ".." in _SEGMENT_SEPARATORS.split(key):
        raise InvalidKey("the key has a '..' segment")
    try:
        encoded = key.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidKey("the key is not valid Unicode text") from None
    if len(encoded) > MAX_KEY_BYTES:
        raise InvalidKey(f"the key is longer than {MAX_KEY_BYTES} bytes")
    return key


def is_canonical(key: str) -> bool:
    """Whether ``key`` is the one spelling of its object's name: no ``""`` or ``.`` segment.

    A directory resolves ``./a``, ``a/`` and ``a//b`` to the files ``a`` and ``a/b``; without
    this rule one object would answer to many URLs. S3 keys are exact strings, but the same
    rule holds for them, so objects keep their URLs when a store moves between a directory
    and a bucket (S3 keys with such segments are neither listed nor served).
    """
    return all(segment not in ("", ".") for segment in key.split("/"))


def check_object_key(key: str) -> str:
    """:func:`check_key`, then :class:`ObjectNotFound` for a key that is not canonical."""
    check_key(key)
    if not is_canonical(key):
        raise ObjectNotFound(key)
    return key
