"""The request body as the gateway reads it: whole, bounded in size and in patience."""

from __future__ import annotations

import pytest

from streamway.http.disconnect import ClientGone
from streamway.local.request_body import BodyStalled, BodyTooLarge, read_body
from tests.local.asgi_driver import scripted_receive


def pieces(*bodies: bytes, last: bool = True) -> list[dict[str, object]]:
    messages: list[dict[str, object]] = [
        {"type": "http.request", "body": body, "more_body": True} for body in bodies
    ]
    if last:
        messages.append({"type": "http.request", "body": b"", "more_body": False})
    return messages


async def test_the_pieces_make_the_body() -> None:
    assert await read_body(scripted_receive(pieces(b"ab", b"cd")), 4, 1.0) == b"abcd"


async def test_one_byte_over_the_limit_is_too_large() -> None:
    with pytest.raises(BodyTooLarge):
        await read_body(scripted_receive(pieces(b"ab", b"cde")), 4, 1.0)


async def test_silence_between_pieces_is_a_stall() -> None:
    with pytest.raises(BodyStalled):
        await read_body(scripted_receive(pieces(b"ab", last=False)), 4, 0.05)


async def test_a_client_that_leaves_is_gone() -> None:
    with pytest.raises(ClientGone):
        await read_body(scripted_receive([{"type": "http.disconnect"}]), 4, 1.0)
