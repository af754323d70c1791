from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from tests.servers import RunningServer, streamway_server

if TYPE_CHECKING:
    from tests.service.downloads_server import MotoS3


@pytest.fixture(scope="session")
def server() -> Iterator[RunningServer]:
    """streamway on its embedded defaults (the real local model), shared by read-only tests."""
    with streamway_server() as running:
        yield running


@pytest.fixture(scope="module")
def moto() -> Iterator[MotoS3]:
    """A moto server with the test bucket, empty, for the tests of one module (a module that
    seeds objects defines its own ``moto``, which takes precedence)."""
    # Imported here: downloads_server imports the whole app, which most tests never need.
    from tests.service.downloads_server import moto_s3

    with moto_s3() as server:
        yield server
