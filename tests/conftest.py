from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.servers import RunningServer, streamway_server


@pytest.fixture(scope="session")
def server() -> Iterator[RunningServer]:
    """streamway on its embedded defaults (the real local model), shared by read-only tests."""
    with streamway_server() as running:
        yield running
