"""``LogType=Tail`` on the Lambda API: the last 4 KB of the invocation's log, base64, in
``X-Amz-Log-Result`` (boto3's ``LogResult``) and in ``InvokeComplete``, through the real boto3
client. The function is tests/local/log_handlers.py's ``noisy``.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.local.test_lambda_api import FUNCTION, lambda_client
from tests.servers import RunningLocal, streamway_local

pytestmark = pytest.mark.timeout(120)

REPORT = re.compile(
    r"REPORT RequestId: (?P<id>[0-9a-f-]+)\tDuration: [0-9.]+ ms\tBilled Duration: \d+ ms"
    r"\tMemory Size: \d+ MB\tMax Memory Used: \d+ MB\t(Init Duration: [0-9.]+ ms\t)?\n"
)


@pytest.fixture(scope="module")
def local() -> Iterator[RunningLocal]:
    with streamway_local(args=("--handler", "tests.local.log_handlers.noisy")) as running:
        yield running


@pytest.fixture(scope="module")
def client(local: RunningLocal) -> Any:
    return lambda_client(local)


def _log(log_result: str) -> str:
    return base64.b64decode(log_result).decode()


def _lines_of(log: str) -> list[str]:
    return log.splitlines(keepends=True)


def test_invoke_tail_is_the_invocation_s_log_between_start_and_report(client: Any) -> None:
    response = client.invoke(FunctionName=FUNCTION, Payload=b'{"lines": 2}', LogType="Tail")
    request_id = response["ResponseMetadata"]["RequestId"]
    log = _log(response["LogResult"])
    lines = _lines_of(log)
    assert lines[0] == f"START RequestId: {request_id} Version: $LATEST\n"
    function_lines = lines[1:-2]
    # stdout and stderr are two pipes: their lines' order between them is not kept.
    assert f"to stderr from {request_id}\n" in function_lines
    # The handler's prints (the runtime logs its own JSON lines in between).
    stdout_lines = [line for line in function_lines if line.startswith(("line ", "last "))]
    assert stdout_lines[:2] == [
        f"line 0 of {request_id} {'.' * 100}\n",
        f"line 1 of {request_id} {'.' * 100}\n",
    ]
    # Written just before the answer ended: read before END all the same.
    assert stdout_lines[-1] == f"last line of {request_id}\n"
    assert lines[-2] == f"END RequestId: {request_id}\n"
    report = REPORT.fullmatch(lines[-1])
    assert report is not None, lines[-1]
    assert report["id"] == request_id


def test_without_tail_there_is_no_log_result(client: Any) -> None:
    response = client.invoke(FunctionName=FUNCTION, Payload=b"{}")
    assert "LogResult" not in response
    response = client.invoke(FunctionName=FUNCTION, Payload=b"{}", LogType="None")
    assert "LogResult" not in response


def test_the_tail_is_the_last_4_kb(client: Any) -> None:
    response = client.invoke(FunctionName=FUNCTION, Payload=b'{"lines": 60}', LogType="Tail")
    request_id = response["ResponseMetadata"]["RequestId"]
    tail = base64.b64decode(response["LogResult"])
    assert len(tail) == 4096
    assert b"START" not in tail  # 60 lines of 100+ bytes pushed it out
    assert tail.endswith(b"\t\n")
    assert f"line 59 of {request_id}".encode() in tail
    assert f"END RequestId: {request_id}\n".encode() in tail


def test_each_invocation_s_tail_is_its_own(client: Any) -> None:
    first = client.invoke(FunctionName=FUNCTION, Payload=b"{}", LogType="Tail")
    second = client.invoke(FunctionName=FUNCTION, Payload=b"{}", LogType="Tail")
    first_id = first["ResponseMetadata"]["RequestId"]
    second_log = _log(second["LogResult"])
    assert first_id not in second_log
    assert second["ResponseMetadata"]["RequestId"] in second_log


def test_a_failed_invocation_s_tail_has_its_lines(client: Any) -> None:
    payload = json.dumps({"fail": True})
    response = client.invoke(FunctionName=FUNCTION, Payload=payload, LogType="Tail")
    assert response["FunctionError"] == "Unhandled"
    log = _log(response["LogResult"])
    assert "about to fail\n" in _lines_of(log)
    assert _lines_of(log)[-2].startswith("END RequestId: ")


def _events(response: dict[str, Any]) -> list[tuple[str, Any]]:
    return [next(iter(event.items())) for event in response["EventStream"]]


def test_invoke_complete_carries_the_log_result(client: Any) -> None:
    response = client.invoke_with_response_stream(
        FunctionName=FUNCTION, Payload=b'{"lines": 1}', LogType="Tail"
    )
    request_id = response["ResponseMetadata"]["RequestId"]
    events = _events(response)
    kind, complete = events[-1]
    assert kind == "InvokeComplete"
    lines = _lines_of(_log(complete["LogResult"]))
    assert lines[0] == f"START RequestId: {request_id} Version: $LATEST\n"
    assert f"last line of {request_id}\n" in lines
    assert REPORT.fullmatch(lines[-1])


def test_invoke_complete_of_a_failure_has_the_error_and_the_log(client: Any) -> None:
    response = client.invoke_with_response_stream(
        FunctionName=FUNCTION, Payload=json.dumps({"fail": True}), LogType="Tail"
    )
    kind, complete = _events(response)[-1]
    assert kind == "InvokeComplete"
    assert complete["ErrorCode"] == "RuntimeError"
    assert "about to fail\n" in _lines_of(_log(complete["LogResult"]))


def test_without_tail_invoke_complete_has_no_log_result(client: Any) -> None:
    response = client.invoke_with_response_stream(FunctionName=FUNCTION, Payload=b"{}")
    assert _events(response)[-1] == ("InvokeComplete", {})


def test_the_function_s_output_still_reaches_local_s_own(client: Any, local: RunningLocal) -> None:
    """Passed on as it is read: by the time the tail is cut, local has written it out."""
    response = client.invoke(FunctionName=FUNCTION, Payload=b"{}", LogType="Tail")
    request_id = response["ResponseMetadata"]["RequestId"]
    output = local.log_path.read_text(encoding="utf-8")
    assert f"last line of {request_id}\n" in output
    assert f"to stderr from {request_id}\n" in output
    assert f"END RequestId: {request_id}" not in output  # the platform's lines: tail only
