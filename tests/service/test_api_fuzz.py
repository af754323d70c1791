"""A property-based fuzzer over the service's own OpenAPI document, against a real server.

schemathesis reads ``/openapi.json`` from ``streamway serve`` on loopback (the real embedded
model, answers cut to a few tokens), generates requests for every operation from the
documented parameters and bodies, valid and invalid, and checks each answer: never a 5xx,
and every documented response matches its schema (errors are ``{"error": {...}}``).
The examples per operation are bounded so the whole run stays within about a minute.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.schemas import APIOperation
from schemathesis.specs.openapi.checks import response_schema_conformance

from tests.servers import RunningServer, streamway_server

#: Examples per operation and generation mode; fewer where each one runs the model.
EXAMPLES = 30
EXAMPLES_RUNNING_THE_MODEL = 8
MODEL_OPERATIONS = {"POST /streaming", "POST /invocations"}


@pytest.fixture(scope="module")
def fuzzed_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    store = tmp_path_factory.mktemp("store")
    (store / "hello.txt").write_text("hello\n")
    (store / "sub").mkdir()
    (store / "sub" / "data.bin").write_bytes(bytes(range(256)) * 64)
    (store / "sub" / "data.bin.sha256").write_text("0" * 64 + "  data.bin\n")
    env = {
        "STREAMWAY_STORE_URL": f"file://{store}",
        "STREAMWAY_SESSIONS_DIR": str(tmp_path_factory.mktemp("sessions")),
        # Answers of a few tokens to prompts of a few words (longer ones are a quick 413):
        # the fuzzer checks the exchange, not the prose.
        "STREAMWAY_MAX_TOKENS": "4",
        "STREAMWAY_MAX_PROMPT_CHARS": "64",
        # One llama.cpp thread: on a busy 2-core machine a second one mostly waits.
        "STREAMWAY_THREADS": "1",
        # /uploads on, so its routes answer for themselves rather than all with 404.
        "STREAMWAY_UPLOADS": "true",
    }
    with streamway_server(env) as running:
        yield running


def operations(server: RunningServer) -> list[APIOperation]:
    schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
    return [result.ok() for result in schema.get_all_operations()]


# Run by hand rather than through schemathesis' pytest plugin (its lazy fixture schema does
# not work with pytest 9): one Hypothesis run per operation and generation mode.
@pytest.mark.timeout(600)
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_every_operation_answers_as_documented(
    fuzzed_server: RunningServer, mode: GenerationMode
) -> None:
    for operation in operations(fuzzed_server):
        if mode is GenerationMode.NEGATIVE and not (len(operation.query) or len(operation.body)):
            continue  # nothing to make invalid: no query and no body (a path is any string)

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=(
                EXAMPLES_RUNNING_THE_MODEL if operation.label in MODEL_OPERATIONS else EXAMPLES
            ),
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        )
        def answers_as_documented(case: Case) -> None:
            case.call_and_validate(
                checks=[not_a_server_error, response_schema_conformance], timeout=60
            )

        answers_as_documented()


def test_the_document_covers_the_api(fuzzed_server: RunningServer) -> None:
    document = httpx.get(f"{fuzzed_server.url}/openapi.json", timeout=10).json()
    operations = {(path, method) for path, item in document["paths"].items() for method in item}
    assert operations >= {
        ("/streaming", "post"),
        ("/invocations", "post"),
        ("/download/{key}", "get"),
        ("/download/{key}", "head"),
        ("/api/objects", "get"),
        ("/ping", "get"),
    }
    for path in ("/streaming", "/invocations"):
        assert document["paths"][path]["post"]["requestBody"]["required"] is True
    assert "HTTPValidationError" not in document["components"]["schemas"]
