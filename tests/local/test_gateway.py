"""``streamway local`` end to end: a real gateway process, real function processes, a socket.

Most tests use a test API (``api.yaml``: ``/stream/*`` STREAM, ``/buffered/*`` BUFFERED)
served by ``tests.local.apps:app``, so each API Gateway behaviour has a function that
provokes it. The client is httpx (or curl where its exit status is the point).
"""

from __future__ import annotations

import base64
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.local.apps import PID_HEADER
from tests.servers import RunningLocal, raw_http, streamway_local
from tests.streams import StreamedAnswer

pytestmark = pytest.mark.timeout(120)

API = str(Path(__file__).with_name("api.yaml"))
TEST_API = ("--definition", API, "--app", "tests.local.apps:app")
# Byte for byte: API Gateway's own gateway responses have no space after the colon, the
# integration failures do.
MISSING_TOKEN = b'{"message":"Missing Authentication Token"}'
INTERNAL = b'{"message": "Internal server error"}'
TIMED_OUT = b'{"message": "Endpoint request timed out"}'


@pytest.fixture(scope="module")
def gateway() -> Iterator[RunningLocal]:
    with streamway_local(args=TEST_API) as running:
        yield running


def read_stream(method: str, url: str, **options: Any) -> StreamedAnswer:
    """The response read chunk by chunk; a cut-off body is recorded, not raised."""
    with httpx.Client(timeout=60) as client, client.stream(method, url, **options) as response:
        answer = StreamedAnswer(response.status_code, response.headers)
        try:
            for chunk in response.iter_raw():
                answer.chunks.append(chunk)
        except httpx.HTTPError as error:
            answer.error = error
    return answer


def curl(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        ["curl", "--silent", "--show-error", *args], capture_output=True, timeout=60, check=False
    )


def echoed(response: httpx.Response) -> dict[str, Any]:
    payload: dict[str, Any] = response.json()
    return payload


# --- routing and request limits -------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/dev/nope"),  # no such resource
        ("DELETE", "/dev/stream/event"),  # resource without that method
        ("GET", "/prod/stream/event"),  # another stage
        ("GET", "/stream/event"),  # no stage at all
        ("GET", "/dev"),  # the stage root, where the test API has no resource
    ],
)
def test_unknown_routes_answer_missing_authentication_token(
    gateway: RunningLocal, method: str, path: str
) -> None:
    response = httpx.request(method, f"{gateway.root}{path}", timeout=10)
    assert response.status_code == 403
    assert response.content == MISSING_TOKEN
    assert response.headers["x-amzn-errortype"] == "MissingAuthenticationTokenException"
    assert response.headers["x-amzn-requestid"]


def test_declared_body_over_10_mb_is_413_before_it_is_sent(gateway: RunningLocal) -> None:
    head = (
        b"POST /dev/buffered/event HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n"
        b"Content-Length: 10485761\r\n\r\n"
    )
    answer = raw_http(gateway.port, head, timeout_s=5)
    assert answer.startswith(b"HTTP/1.1 413 ")
    assert answer.endswith(b'{"message":"Request Too Long"}')


def test_chunked_body_over_10_mb_is_413(gateway: RunningLocal) -> None:
    head = (
        b"POST /dev/stream/event HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n"
    )
    piece = b"a" * (1 << 20)
    chunk = f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
    answer = raw_http(gateway.port, head, [chunk] * 11 + [b"0\r\n\r\n"], timeout_s=5)
    assert answer.startswith(b"HTTP/1.1 413 ")
    assert b'{"message":"Request Too Long"}' in answer


# --- the proxy event ------------------------------------------------------------------------


def test_the_function_gets_api_gateways_proxy_event(gateway: RunningLocal) -> None:
    response = httpx.get(
        f"{gateway.url}/stream/event?tag=a&tag=b&q=hello%20world&empty",
        headers=[("x-multi", "one"), ("x-multi", "two"), ("user-agent", "tester/1")],
        timeout=30,
    )
    assert response.status_code == 200
    payload = echoed(response)
    event = payload["event"]
    context = event["requestContext"]

    assert event["resource"] == "/stream/{proxy+}"
    assert event["path"] == "/stream/event"
    assert event["httpMethod"] == "GET"
    assert event["headers"]["x-multi"] == "two"  # the last value
    assert event["multiValueHeaders"]["x-multi"] == ["one", "two"]
    assert event["headers"]["X-Forwarded-For"] == "127.0.0.1"
    assert event["headers"]["X-Forwarded-Proto"] == "http"
    assert event["headers"]["X-Forwarded-Port"] == str(gateway.port)
    assert event["headers"]["X-Amzn-Trace-Id"].startswith("Root=1-")
    assert event["queryStringParameters"] == {"tag": "b", "q": "hello world", "empty": ""}
    assert event["multiValueQueryStringParameters"] == {
        "tag": ["a", "b"],
        "q": ["hello world"],
        "empty": [""],
    }
    assert event["pathParameters"] == {"proxy": "event"}
    assert event["stageVariables"] is None
    assert (event["body"], event["isBase64Encoded"]) == (None, False)
    assert context["stage"] == "dev"
    assert context["path"] == "/dev/stream/event"
    assert context["resourcePath"] == "/stream/{proxy+}"
    assert context["httpMethod"] == "GET"
    assert context["protocol"] == "HTTP/1.1"
    assert context["requestId"] == response.headers["x-amzn-requestid"]
    assert context["extendedRequestId"] == response.headers["x-amz-apigw-id"]
    assert context["identity"]["sourceIp"] == "127.0.0.1"
    assert context["identity"]["userAgent"] == "tester/1"
    assert context["accountId"] == "123456789012"
    assert len(context["apiId"]) == 10
    assert isinstance(context["requestTimeEpoch"], int)
    assert context["requestTime"].endswith(" +0000")
    # The runtime made the stage the app's root path.
    assert (payload["scope_path"], payload["scope_root_path"]) == ("/dev/stream/event", "/dev")


def test_percent_encoded_paths_and_the_most_specific_resource(gateway: RunningLocal) -> None:
    param = echoed(httpx.get(f"{gateway.url}/items/a%20b%2Fc", timeout=30))
    literal = echoed(httpx.get(f"{gateway.url}/items/special", timeout=30))

    # REST APIs keep the encoding in `path` and decode path parameters.
    assert param["event"]["path"] == "/items/a%20b%2Fc"
    assert param["event"]["resource"] == "/items/{id}"
    assert param["event"]["pathParameters"] == {"id": "a b/c"}
    assert param["scope_path"] == "/dev/items/a b/c"
    assert literal["event"]["resource"] == "/items/special"
    assert literal["event"]["pathParameters"] is None


@pytest.mark.parametrize(
    ("content_type", "base64_encoded"),
    [("application/octet-stream", True), ("image/png", True), ("text/plain", False)],
)
def test_binary_media_types_decide_a_base64_request_body(
    gateway: RunningLocal, content_type: str, base64_encoded: bool
) -> None:
    body = b"hello \x00\x01"
    response = httpx.post(
        f"{gateway.url}/buffered/event",
        content=body,
        headers={"content-type": content_type},
        timeout=30,
    )
    event = echoed(response)["event"]
    assert event["isBase64Encoded"] is base64_encoded
    expected = base64.b64encode(body).decode() if base64_encoded else body.decode()
    assert event["body"] == expected


# --- STREAM ---------------------------------------------------------------------------------


def test_stream_prelude_becomes_status_headers_and_cookies(gateway: RunningLocal) -> None:
    response = httpx.get(f"{gateway.url}/stream/headers", timeout=30)
    assert response.status_code == 201
    assert response.headers.get_list("x-repeated") == ["one", "two"]
    assert response.headers.get_list("set-cookie") == ["a=1; Path=/", "b=2; HttpOnly"]
    assert response.headers["transfer-encoding"] == "chunked"
    assert "content-length" not in response.headers
    assert response.text == "hello"


def test_stream_body_arrives_before_the_function_finishes(gateway: RunningLocal) -> None:
    answer = read_stream("GET", f"{gateway.url}/stream/slow?pause=1")
    assert answer.status == 200
    assert answer.error is None
    # Relayed chunk by chunk: the first piece came out on its own, before the pause.
    assert answer.chunks[0] == b"first"
    assert answer.body == b"firstlast"


def test_error_trailers_after_streaming_began_cut_the_client(gateway: RunningLocal) -> None:
    answer = read_stream("GET", f"{gateway.url}/stream/abort")
    assert answer.status == 200
    assert answer.body == b"partial answer"
    assert isinstance(answer.error, httpx.RemoteProtocolError)

    result = curl(f"{gateway.url}/stream/abort")
    assert result.returncode == 18, result.stderr
    assert result.stdout == b"partial answer"
    # The gateway's failure line points at the function's own log lines.
    failed = gateway.wait_for_log(
        lambda e: e.get("message", "").startswith("request failed: the function failed")
    )
    gateway.wait_for_log(
        lambda e: (
            # The function logs in Lambda's JSON fields: requestId is the invocation's.
            e.get("requestId") == failed["lambda_request_id"]
            and e.get("logger") == "streamway.aws_lambda"
        )
    )


def test_function_error_before_the_prelude_is_502(gateway: RunningLocal) -> None:
    response = httpx.get(f"{gateway.url}/stream/fail-early", timeout=30)
    assert response.status_code == 502
    assert response.content == INTERNAL


def test_prelude_without_delimiter_in_16_kb_is_500(gateway: RunningLocal) -> None:
    response = httpx.get(f"{gateway.url}/stream/big-header", timeout=30)
    assert response.status_code == 500
    assert response.content == INTERNAL


def test_head_is_not_mapped_onto_get(gateway: RunningLocal) -> None:
    assert httpx.get(f"{gateway.url}/stream/pid", timeout=30).status_code == 200
    # The test API lists no `head`: API Gateway does not serve HEAD from a GET method.
    head = httpx.head(f"{gateway.url}/stream/pid", timeout=30)
    assert head.status_code == 403


# --- BUFFERED -------------------------------------------------------------------------------


def test_buffered_response_over_the_limit_is_502(gateway: RunningLocal) -> None:
    response = httpx.get(f"{gateway.url}/buffered/large?mib=11", timeout=60)
    assert response.status_code == 502
    assert response.content == INTERNAL


def test_buffered_single_and_multi_value_headers(gateway: RunningLocal) -> None:
    response = httpx.get(f"{gateway.url}/buffered/multi", timeout=30)
    assert response.status_code == 200
    assert response.headers["x-one"] == "1"
    assert response.headers.get_list("x-two") == ["a", "b"]
    assert response.headers.get_list("set-cookie") == ["a=1", "b=2"]
    assert response.headers["content-length"] == "5"
    assert response.text == "multi"


def test_buffered_base64_body_is_decoded_for_a_binary_accept(gateway: RunningLocal) -> None:
    binary = httpx.get(f"{gateway.url}/buffered/base64", headers={"accept": "image/png"})
    text = httpx.get(f"{gateway.url}/buffered/base64", headers={"accept": "text/html, */*"})

    assert binary.content == bytes(range(256))
    # API Gateway decides on the first Accept type: the client gets the base64 text.
    assert base64.b64decode(text.content) == bytes(range(256))


def test_buffered_function_error_is_502(gateway: RunningLocal) -> None:
    response = httpx.get(f"{gateway.url}/buffered/fail-early", timeout=30)
    assert response.status_code == 502
    assert response.content == INTERNAL


# --- function processes ---------------------------------------------------------------------


def _pid(gateway: RunningLocal, section: str) -> int:
    response = httpx.get(f"{gateway.url}/{section}/pid", timeout=30)
    assert response.status_code == 200
    return int(response.headers[PID_HEADER.decode()])


def test_cold_start_then_warm_reuse(gateway: RunningLocal) -> None:
    first = _pid(gateway, "buffered")
    before = gateway.functions()["BufferedFunction"]
    second = _pid(gateway, "buffered")
    after = gateway.functions()["BufferedFunction"]

    assert second == first
    assert after["cold_starts"] == before["cold_starts"] >= 1
    [sandbox] = [s for s in after["sandboxes"] if s["pid"] == first]
    assert sandbox["state"] == "warm"
    assert sandbox["init_ms"] > 0
    assert after["invocations"] == before["invocations"] + 1
    # Said when it begins (a first request that waits seconds must not look like a hang),
    # and when it is done, with the init time.
    begun = gateway.wait_for_log(lambda e: str(e.get("message")).startswith("cold start:"))
    done = gateway.wait_for_log(lambda e: e.get("message") == "cold start done")
    assert begun["function"] in {"BufferedFunction", "StreamFunction"}
    assert done["init_ms"] > 0


def test_a_dead_process_answers_502_and_is_replaced(gateway: RunningLocal) -> None:
    before = _pid(gateway, "buffered")
    response = httpx.get(f"{gateway.url}/buffered/exit", timeout=30)
    assert response.status_code == 502
    assert response.content == INTERNAL
    after = _pid(gateway, "buffered")

    assert after != before
    pids = [s["pid"] for s in gateway.functions()["BufferedFunction"]["sandboxes"]]
    assert before not in pids


def test_a_process_dying_mid_stream_cuts_the_client(gateway: RunningLocal) -> None:
    answer = read_stream("GET", f"{gateway.url}/stream/exit-mid-stream")
    assert answer.status == 200
    assert answer.body == b"first"
    assert isinstance(answer.error, httpx.RemoteProtocolError)
    assert _pid(gateway, "stream") > 0  # a new process serves the next request


def test_functions_endpoint_lists_both_functions(gateway: RunningLocal) -> None:
    functions = gateway.functions()
    assert functions["StreamFunction"]["invoke_mode"] == "response_stream"
    assert functions["BufferedFunction"]["invoke_mode"] == "buffered"
    for entry in functions.values():
        assert entry["concurrency"] == 2
        assert {s["state"] for s in entry["sandboxes"]} <= {"warm", "busy", "settling"}


# --- concurrency limit ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def single() -> Iterator[RunningLocal]:
    with streamway_local(args=(*TEST_API, "--concurrency", "1")) as running:
        yield running


def test_at_the_concurrency_limit_lambda_throttles_and_api_gateway_answers_500(
    single: RunningLocal,
) -> None:
    started = threading.Event()
    results: list[StreamedAnswer] = []

    def slow() -> None:
        with (
            httpx.Client(timeout=60) as client,
            client.stream("GET", f"{single.url}/stream/slow?pause=3") as response,
        ):
            answer = StreamedAnswer(response.status_code, response.headers)
            for chunk in response.iter_raw():
                answer.chunks.append(chunk)
                started.set()
            results.append(answer)

    thread = threading.Thread(target=slow)
    thread.start()
    assert started.wait(30)
    throttled = httpx.get(f"{single.url}/stream/pid", timeout=30)
    other_function = httpx.get(f"{single.url}/buffered/pid", timeout=30)
    thread.join(30)
    after = httpx.get(f"{single.url}/stream/pid", timeout=30)

    assert throttled.status_code == 500
    assert throttled.content == INTERNAL
    assert other_function.status_code == 200  # each function has its own limit
    assert results[0].body == b"firstlast"
    assert after.status_code == 200
    assert single.functions()["StreamFunction"]["throttles"] == 1


# --- timeouts -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def impatient() -> Iterator[RunningLocal]:
    args = (
        *TEST_API,
        "--buffered-timeout",
        "1",
        "--stream-timeout",
        "2",
        "--stream-idle-timeout",
        "1",
    )
    with streamway_local(args=args) as running:
        # Cold starts count against the integration timeout; start both functions first.
        for section in ("stream", "buffered"):
            httpx.get(f"{running.url}/{section}/pid", timeout=30)
        yield running


def test_buffered_integration_timeout_is_504(impatient: RunningLocal) -> None:
    response = httpx.get(f"{impatient.url}/buffered/slow?pause=3", timeout=30)
    assert response.status_code == 504
    assert response.content == TIMED_OUT


def test_stream_idle_timeout_cuts_the_stream(impatient: RunningLocal) -> None:
    answer = read_stream("GET", f"{impatient.url}/stream/slow?pause=3")
    assert answer.status == 200
    assert answer.body == b"first"
    assert isinstance(answer.error, httpx.RemoteProtocolError)


def test_stream_integration_timeout_cuts_a_busy_stream() -> None:
    # Its own gateway, so that nothing here depends on how fast a busy machine runs: an idle
    # timeout no pause of a piece every 0.2 s can reach, and a function that would go on
    # for a minute, far past the integration timeout. (With a 1 s idle timeout and a 5 s
    # trickle, a starved function could be cut as idle, or finish, or not start in time.)
    args = (*TEST_API, "--stream-timeout", "4", "--stream-idle-timeout", "120")
    with streamway_local(args=args) as running:
        httpx.get(f"{running.url}/stream/pid", timeout=30)  # the cold start, outside the 4 s
        answer = read_stream("GET", f"{running.url}/stream/trickle?seconds=60")
        running.wait_for_log(
            lambda e: "the stream timed out" in str(e.get("message")), timeout_s=30
        )
    assert answer.status == 200
    assert answer.body.startswith(b".")
    assert set(answer.body) == {ord(".")}  # cut before the end
    assert isinstance(answer.error, httpx.RemoteProtocolError)


def test_a_timed_out_invocation_runs_on_and_its_sandbox_is_reused(
    impatient: RunningLocal,
) -> None:
    pid = _pid(impatient, "buffered")
    timed_out = httpx.get(f"{impatient.url}/buffered/slow?pause=2", timeout=30)
    assert timed_out.status_code == 504

    def state() -> str:
        sandboxes = impatient.functions()["BufferedFunction"]["sandboxes"]
        return str(next(s["state"] for s in sandboxes if s["pid"] == pid))

    # As on AWS, the function goes on after API Gateway gave up: its sandbox stays busy
    # until the function finishes, then is warm again.
    assert state() == "busy"
    deadline = time.monotonic() + 20
    while state() != "warm" and time.monotonic() < deadline:
        time.sleep(0.1)
    assert state() == "warm"
    assert _pid(impatient, "buffered") == pid


# --- the control plane, timeouts, caps and metering bounds (issue 15, items 9 and 10) ----

KEY = "local-control-key-0123456789"


@pytest.fixture(scope="module")
def guarded() -> Iterator[RunningLocal]:
    env = {"STREAMWAY_REQUEST_HEAD_TIMEOUT_S": "0.5", "STREAMWAY_REQUEST_BODY_TIMEOUT_S": "0.5"}
    with streamway_local(env, args=(*TEST_API, "--api-key", KEY)) as running:
        yield running


@pytest.mark.parametrize(
    "path", ["/_local/functions", "/%5Flocal/functions", "/%5flocal/metering", "/_local%2Fmetering"]
)
def test_local_endpoints_need_the_api_key_in_every_spelling(
    guarded: RunningLocal, path: str
) -> None:
    refused = httpx.get(f"{guarded.root}{path}", timeout=30)
    assert refused.status_code == 403
    assert refused.content == b'{"message":"Forbidden"}'
    request_id = refused.headers["x-amzn-requestid"]
    guarded.wait_for_log(lambda e: e.get("request_id") == request_id and e.get("status") == 403)
    wrong = httpx.get(f"{guarded.root}{path}", headers={"x-api-key": "nope"}, timeout=30)
    assert wrong.status_code == 403
    allowed = httpx.get(f"{guarded.root}{path}", headers={"x-api-key": KEY}, timeout=30)
    assert allowed.status_code == 200
    assert "functions" in allowed.json() or "requests" in allowed.json()


def test_another_case_is_not_the_local_endpoint(guarded: RunningLocal) -> None:
    response = httpx.get(f"{guarded.root}/_LOCAL/functions", headers={"x-api-key": KEY})
    assert response.status_code == 403
    assert response.content == MISSING_TOKEN  # routed as an API path, outside the stage


def test_local_head_timeout_closes_the_connection(guarded: RunningLocal) -> None:
    from tests.http.test_limits import send_and_wait_for_close

    answer = send_and_wait_for_close(guarded.port, b"GET /dev/stream/event HTTP/1.1\r\nHost: x\r\n")
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert answer.endswith(b'{"message":"Request Timeout"}')


def test_local_body_that_stalls_is_408_with_the_request_id(guarded: RunningLocal) -> None:
    from tests.http.test_limits import send_and_wait_for_close

    head = (
        b"POST /dev/buffered/event HTTP/1.1\r\nHost: x\r\nx-api-key: " + KEY.encode() + b"\r\n"
        b"Content-Type: text/plain\r\nContent-Length: 100\r\n\r\n"
    )
    answer = send_and_wait_for_close(guarded.port, head + b"only part of it")
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert b"connection: close" in answer.lower()
    assert answer.endswith(b'{"message":"Request Timeout"}')
    request_id = answer.split(b"x-amzn-requestid: ", 1)[1].split(b"\r\n", 1)[0].decode()
    logged = guarded.wait_for_log(lambda e: e.get("request_id") == request_id)
    assert "request body" in logged["message"]


def test_metering_keeps_totals_and_only_the_latest_requests(guarded: RunningLocal) -> None:
    from streamway.local.metering import RECENT_REQUESTS

    key = {"x-api-key": KEY}
    before = httpx.get(f"{guarded.root}/_local/metering", headers=key, timeout=30).json()
    sent = RECENT_REQUESTS + 30
    with httpx.Client(timeout=30) as client:
        for n in range(sent):
            assert client.get(f"{guarded.url}/nope/{n}").status_code == 403
    summary = httpx.get(f"{guarded.root}/_local/metering", headers=key, timeout=30).json()
    assert summary["requests"] == before["requests"] + sent
    assert len(summary["recent"]) == RECENT_REQUESTS
    assert summary["recent"][-1]["streamway.path"] == f"/dev/nope/{sent - 1}"


def test_local_connections_over_the_cap_are_answered_503() -> None:
    from tests.http.test_limits import PATIENCE_S

    env = {
        "STREAMWAY_MAX_CONNECTIONS": "2",
        "STREAMWAY_KEEP_ALIVE_TIMEOUT_S": "120",
        "STREAMWAY_REQUEST_HEAD_TIMEOUT_S": "120",
    }
    with streamway_local(env, args=TEST_API) as running, ExitStack() as held:
        for _ in range(2):
            client = held.enter_context(httpx.Client(timeout=PATIENCE_S))
            assert client.get(f"{running.root}/_local/functions").status_code == 200  # kept alive
        over = httpx.get(f"{running.root}/_local/functions", timeout=PATIENCE_S)
        assert over.status_code == 503
