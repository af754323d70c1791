"""The Lambda API on ``streamway local``'s port, through the real boto3 ``lambda`` client.

The function is tests/aws_lambda/handlers.py's ``async_generator`` (StreamFunction): it sends
``first ``, waits at a *gate* when the event names one (a loopback port the test opens after
the first chunk arrived), then ``second``; ``fail`` makes it fail before or after ``first``.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.servers import RunningLocal, streamway_local

pytestmark = pytest.mark.timeout(120)

FUNCTION = "StreamFunction"
#: An API with STREAM and BUFFERED routes: both functions run.
TWO_FUNCTIONS = str(Path(__file__).with_name("api.yaml"))


@pytest.fixture(scope="module")
def local() -> Iterator[RunningLocal]:
    with streamway_local(
        args=("--handler", "tests.aws_lambda.handlers.async_generator")
    ) as running:
        yield running


def lambda_client(running: RunningLocal) -> Any:
    """boto3's client, pointed at ``streamway local``, with no retries (a 429 is seen)."""
    return lambda_client_at(running.root)


def lambda_client_at(endpoint_url: str) -> Any:
    """boto3's ``lambda`` client for the Lambda API at ``endpoint_url``."""
    return boto3.client(
        "lambda",
        endpoint_url=endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
        config=Config(retries={"max_attempts": 1}, read_timeout=60),
    )


@pytest.fixture(scope="module")
def client(local: RunningLocal) -> Any:
    return lambda_client(local)


def _body(payload: bytes) -> bytes:
    """The body after the streaming function's prelude (its HTTP status and headers)."""
    return payload.split(b"\x00" * 8, 1)[-1]


def test_invoke_answers_the_whole_payload(client: Any) -> None:
    response = client.invoke(FunctionName=FUNCTION, Payload=b"{}")
    assert response["StatusCode"] == 200
    assert "FunctionError" not in response
    assert response["ExecutedVersion"] == "$LATEST"
    assert _body(response["Payload"].read()) == b"first second"


@pytest.mark.parametrize(
    ("name", "qualifier"),
    [
        (f"arn:aws:lambda:us-east-1:123456789012:function:{FUNCTION}", None),
        (f"arn:aws:lambda:us-east-1:123456789012:function:{FUNCTION}:$LATEST", None),
        (f"123456789012:function:{FUNCTION}", None),
        (f"{FUNCTION}:live", "live"),
        (FUNCTION, "live"),
    ],
)
def test_a_function_is_named_by_arn_and_qualifier(
    client: Any, name: str, qualifier: str | None
) -> None:
    extra = {"Qualifier": qualifier} if qualifier else {}
    response = client.invoke(FunctionName=name, Payload=b"{}", **extra)
    assert response["StatusCode"] == 200
    assert _body(response["Payload"].read()) == b"first second"


def test_a_function_error_is_unhandled_with_the_error_object(client: Any) -> None:
    response = client.invoke(FunctionName=FUNCTION, Payload=json.dumps({"fail": "early"}))
    assert response["StatusCode"] == 200
    assert response["FunctionError"] == "Unhandled"
    error = json.loads(response["Payload"].read())
    assert error["errorType"] == "ValueError"
    assert error["errorMessage"] == "no answer for this one"


def test_dry_run_is_204_without_running(client: Any) -> None:
    response = client.invoke(FunctionName=FUNCTION, InvocationType="DryRun", Payload=b"{}")
    assert response["StatusCode"] == 204
    assert response["Payload"].read() == b""


def test_event_is_202_then_runs(client: Any) -> None:
    with socket.create_server(("127.0.0.1", 0)) as gate:
        gate.settimeout(60)
        event = {"gate": gate.getsockname()[1]}
        response = client.invoke(
            FunctionName=FUNCTION, InvocationType="Event", Payload=json.dumps(event)
        )
        assert response["StatusCode"] == 202
        connection, _ = gate.accept()  # the function reached its gate: it ran after the 202
        with connection:
            connection.sendall(b"x")


def _events(response: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    for event in response["EventStream"]:
        ((kind, value),) = event.items()
        yield kind, value


def test_invoke_with_response_stream_sends_chunks_as_they_come(client: Any) -> None:
    with socket.create_server(("127.0.0.1", 0)) as gate:
        gate.settimeout(60)
        payload = json.dumps({"gate": gate.getsockname()[1]})
        response = client.invoke_with_response_stream(FunctionName=FUNCTION, Payload=payload)
        assert response["StatusCode"] == 200
        assert response["ExecutedVersion"] == "$LATEST"
        events = _events(response)
        received = b""
        while not received.endswith(b"first "):
            kind, value = next(events)
            assert kind == "PayloadChunk"
            received += value["Payload"]
        connection, _ = gate.accept()  # the function waits there: "second" is not sent yet
        with connection:
            connection.sendall(b"x")
        rest = list(events)
    assert rest[-1] == ("InvokeComplete", {})
    received += b"".join(value["Payload"] for kind, value in rest[:-1])
    assert _body(received) == b"first second"


def test_a_failure_mid_stream_is_invoke_complete_with_the_error(client: Any) -> None:
    payload = json.dumps({"fail": "late"})
    response = client.invoke_with_response_stream(FunctionName=FUNCTION, Payload=payload)
    events = list(_events(response))
    kind, complete = events[-1]
    assert kind == "InvokeComplete"
    assert complete["ErrorCode"] == "RuntimeError"
    assert complete["ErrorDetails"] == "broke after the first chunk"
    chunks = b"".join(value["Payload"] for kind, value in events[:-1])
    assert _body(chunks) == b"first "


def test_an_unknown_function_is_resource_not_found(client: Any) -> None:
    with pytest.raises(client.exceptions.ResourceNotFoundException) as raised:
        client.invoke(FunctionName="NoSuchFunction", Payload=b"{}")
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    assert "function:NoSuchFunction" in raised.value.response["Error"]["Message"]
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.invoke_with_response_stream(FunctionName="NoSuchFunction", Payload=b"{}")


def test_a_payload_that_is_not_json_is_invalid_request_content(client: Any) -> None:
    with pytest.raises(client.exceptions.InvalidRequestContentException) as raised:
        client.invoke(FunctionName=FUNCTION, Payload=b"not json")
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def _refusal(raised: pytest.ExceptionInfo[ClientError]) -> tuple[int, str, str]:
    """Status, error code and message of a refusal as boto3 parsed it."""
    response = raised.value.response
    error = response["Error"]
    return response["ResponseMetadata"]["HTTPStatusCode"], error["Code"], error["Message"]


@pytest.mark.parametrize("operation", ["invoke", "invoke_with_response_stream"])
def test_a_payload_over_6_mb_is_request_entity_too_large(client: Any, operation: str) -> None:
    """As Lambda's front end answers: a code boto3 has no class for, so a ClientError."""
    payload = json.dumps({"pad": "x" * (6 * 1024 * 1024)})
    with pytest.raises(ClientError) as raised:
        getattr(client, operation)(FunctionName=FUNCTION, Payload=payload)
    assert _refusal(raised) == (
        413,
        "RequestEntityTooLargeException",
        "Request must be smaller than 6291456 bytes for the InvokeFunction operation",
    )


def test_an_event_payload_over_1_mb_is_request_entity_too_large(client: Any) -> None:
    payload = json.dumps({"pad": "x" * (1024 * 1024)})
    with pytest.raises(ClientError) as raised:
        client.invoke(FunctionName=FUNCTION, InvocationType="Event", Payload=payload)
    assert _refusal(raised) == (
        413,
        "RequestEntityTooLargeException",
        f"{len(payload)} byte payload is too large for the Event invocation type "
        "(limit 1048576 bytes)",
    )


def test_disagreeing_qualifiers_are_invalid_parameter_value(client: Any) -> None:
    with pytest.raises(client.exceptions.InvalidParameterValueException) as raised:
        client.invoke(FunctionName=f"{FUNCTION}:one", Qualifier="two", Payload=b"{}")
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


@pytest.mark.parametrize(
    ("call", "parameter", "allowed"),
    [
        ({"InvocationType": "Sometimes"}, "invocationType", "Event, RequestResponse, DryRun"),
        ({"LogType": "Everything"}, "logType", "None, Tail"),
    ],
)
def test_a_value_outside_its_enum_is_a_validation_exception(
    client: Any, call: dict[str, str], parameter: str, allowed: str
) -> None:
    """The service's input validation: 400 ValidationException (a ClientError in boto3)."""
    with pytest.raises(ClientError) as raised:
        client.invoke(**{"FunctionName": FUNCTION, "Payload": b"{}", **call})
    value = next(iter(call.values()))
    assert _refusal(raised) == (
        400,
        "ValidationException",
        f"1 validation error detected: Value '{value}' at '{parameter}' failed to satisfy "
        f"constraint: Member must satisfy enum value set: [{allowed}]",
    )


def test_event_is_not_a_streaming_invocation_type(client: Any) -> None:
    with pytest.raises(ClientError) as raised:
        client.invoke_with_response_stream(
            FunctionName=FUNCTION, InvocationType="Event", Payload=b"{}"
        )
    status, code, message = _refusal(raised)
    assert (status, code) == (400, "ValidationException")
    assert message.endswith("enum value set: [RequestResponse, DryRun]")


@pytest.mark.parametrize(
    ("name", "qualifier"),
    [
        (f"arn:aws:lambda:us-east-1:123456789012:function:{FUNCTION}:live", None),
        (f"123456789012:function:{FUNCTION}", "$LATEST"),
    ],
)
def test_a_stream_names_its_function_by_arn_and_qualifier(
    client: Any, name: str, qualifier: str | None
) -> None:
    extra = {"Qualifier": qualifier} if qualifier else {}
    response = client.invoke_with_response_stream(FunctionName=name, Payload=b"{}", **extra)
    events = list(_events(response))
    assert events[-1] == ("InvokeComplete", {})
    assert _body(b"".join(value["Payload"] for _, value in events[:-1])) == b"first second"


def test_the_lambda_api_is_off_when_the_api_needs_credentials() -> None:
    """Otherwise it would invoke the functions past --api-key (it cannot check the key)."""
    args = ("--handler", "tests.aws_lambda.handlers.async_generator", "--api-key", "k" * 20)
    with streamway_local(args=args) as running:
        guarded = lambda_client(running)
        with pytest.raises(ClientError) as raised:
            guarded.invoke(FunctionName=FUNCTION, Payload=b"{}")
    assert raised.value.response["Error"]["Code"] == "AccessDeniedException"
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_every_sandbox_busy_is_too_many_requests(client: Any) -> None:
    """Two streams held at their gates fill the default --concurrency of 2."""
    with (
        socket.create_server(("127.0.0.1", 0)) as first_gate,
        socket.create_server(("127.0.0.1", 0)) as second_gate,
    ):
        held = []
        for gate in (first_gate, second_gate):
            gate.settimeout(60)
            payload = json.dumps({"gate": gate.getsockname()[1]})
            response = client.invoke_with_response_stream(FunctionName=FUNCTION, Payload=payload)
            events = _events(response)
            next(events)  # the first chunk: the function now waits at its gate
            held.append(events)
        with pytest.raises(client.exceptions.TooManyRequestsException) as raised:
            client.invoke(FunctionName=FUNCTION, Payload=b"{}")
        assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429
        for gate, events in zip((first_gate, second_gate), held, strict=True):
            connection, _ = gate.accept()
            with connection:
                connection.sendall(b"x")
            assert list(events)[-1] == ("InvokeComplete", {})


def test_both_functions_of_a_definition_answer_invoke() -> None:
    """BufferedFunction answers its proxy response; StreamFunction its prelude and body."""
    event = {"httpMethod": "GET", "path": "/x/multi", "headers": {}, "requestContext": {}}
    with streamway_local(
        args=("--definition", TWO_FUNCTIONS, "--app", "tests.local.apps:app")
    ) as running:
        both = lambda_client(running)
        buffered = both.invoke(FunctionName="BufferedFunction", Payload=json.dumps(event))
        streamed = both.invoke(FunctionName="StreamFunction", Payload=json.dumps(event))
    assert json.loads(buffered["Payload"].read())["body"] == "multi"
    prelude, body = streamed["Payload"].read().split(b"\x00" * 8, 1)
    assert json.loads(prelude)["statusCode"] == 200
    assert body == b"multi"


def test_a_failure_before_any_chunk_is_invoke_complete_alone(client: Any) -> None:
    payload = json.dumps({"fail": "early"})
    response = client.invoke_with_response_stream(FunctionName=FUNCTION, Payload=payload)
    assert response["StatusCode"] == 200
    events = list(_events(response))
    assert [kind for kind, _ in events if kind == "InvokeComplete"] == ["InvokeComplete"]
    assert events[-1][1]["ErrorCode"] == "ValueError"


def test_dry_run_of_a_stream_is_empty(client: Any) -> None:
    response = client.invoke_with_response_stream(
        FunctionName=FUNCTION, InvocationType="DryRun", Payload=b"{}"
    )
    assert response["StatusCode"] == 204
    assert list(_events(response)) == []


def test_a_caller_that_leaves_a_stream_cancels_the_invocation(local: RunningLocal) -> None:
    """As for the gateway's clients (docs/local.md): the function's next write fails."""
    client = lambda_client(local)
    with socket.create_server(("127.0.0.1", 0)) as gate:
        gate.settimeout(60)
        payload = json.dumps({"gate": gate.getsockname()[1]})
        response = client.invoke_with_response_stream(FunctionName=FUNCTION, Payload=payload)
        request_id = response["ResponseMetadata"]["RequestId"]
        next(_events(response))
        response["EventStream"].close()
        local.wait_for_log(
            lambda entry: (
                entry.get("lambda_request_id") == request_id
                and entry["message"].startswith("invocation abandoned")
            ),
            timeout_s=30,
        )
        connection, _ = gate.accept()
        with connection:
            connection.sendall(b"x")  # the function now writes "second", and fails
    local.wait_for_log(
        lambda entry: entry["message"].startswith("the Runtime API ended the invocation"),
        timeout_s=30,
    )


def test_a_response_over_6_mb_is_the_function_s_size_error() -> None:
    """Invoke holds at most Lambda's 6 MB of response; the function is stopped past it."""
    with streamway_local(args=("--handler", "tests.aws_lambda.handlers.endless_async")) as running:
        client = lambda_client(running)
        fits = client.invoke(FunctionName=FUNCTION, Payload=json.dumps({"count": 5}))
        assert "FunctionError" not in fits
        assert len(_body(fits["Payload"].read())) == 5 * 1024 * 1024
        too_large = client.invoke(FunctionName=FUNCTION, Payload=json.dumps({"count": 7}))
        assert too_large["FunctionError"] == "Unhandled"
        error = json.loads(too_large["Payload"].read())
        assert error["errorType"] == "Function.ResponseSizeTooLarge"
        request_id = too_large["ResponseMetadata"]["RequestId"]
        running.wait_for_log(  # cancelled: the function stops at its next write
            lambda entry: (
                entry.get("lambda_request_id") == request_id
                and entry["message"].startswith("invocation abandoned")
            )
        )


def test_a_stream_past_200_mb_ends_with_the_size_error() -> None:
    """InvokeWithResponseStream passes on at most Lambda's 200 MB, then ends the stream with
    ``Function.ResponseSizeTooLarge`` in ``InvokeComplete``; the function is stopped."""
    with streamway_local(args=("--handler", "tests.aws_lambda.handlers.endless_async")) as running:
        client = lambda_client(running)
        response = client.invoke_with_response_stream(FunctionName=FUNCTION, Payload=b"{}")
        received = 0
        for kind, value in _events(response):
            if kind == "PayloadChunk":
                received += len(value["Payload"])
            else:
                complete = value
        assert 199 * 1024 * 1024 < received <= 200 * 1024 * 1024
        assert complete["ErrorCode"] == "Function.ResponseSizeTooLarge"
        assert "209715200 bytes" in complete["ErrorDetails"]
        # Cut off: the function's next write fails and its generator is closed.
        running.wait_for_log(lambda entry: entry["message"] == "endless_async closed", 30)
