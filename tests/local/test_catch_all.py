"""The catch-all proxy's definition and the events API Gateway builds from it."""

from __future__ import annotations

import pytest

from streamway.api.definition import HTTP_METHODS
from streamway.aws_contract import STREAM_MAX_TIMEOUT_MS
from streamway.local.catch_all import catch_all_definition
from streamway.local.rest_event import ClientRequest, RequestIds, StageContext, build_event


def _event(path: str, method: str = "GET") -> dict[str, object]:
    definition = catch_all_definition("STREAM")
    found = definition.find(method, path)
    assert found is not None
    route, params = found
    request = ClientRequest(method, f"/dev{path}", "", [], b"", "127.0.0.1", 3000)
    return build_event(request, route, path, params, StageContext("dev", "a1"), RequestIds.new())


@pytest.mark.parametrize("mode", ["STREAM", "BUFFERED"])
def test_every_method_on_the_root_and_the_greedy_proxy(mode: str) -> None:
    definition = catch_all_definition(mode)  # type: ignore[arg-type]
    routes = {(route.method, route.resource) for route in definition.routes}
    assert routes == {
        (method.upper(), resource) for method in HTTP_METHODS for resource in ("/", "/{proxy+}")
    }
    assert {route.transfer_mode for route in definition.routes} == {mode}
    assert definition.binary_media_types == ("*/*",)


def test_stream_routes_may_last_fifteen_minutes() -> None:
    assert {r.timeout_ms for r in catch_all_definition("STREAM").routes} == {STREAM_MAX_TIMEOUT_MS}


def test_the_root_event_has_no_path_parameters() -> None:
    event = _event("/")
    assert event["resource"] == "/"
    assert event["pathParameters"] is None


def test_a_deep_path_is_the_proxy_parameter_decoded() -> None:
    event = _event("/a/b%20c/d", "PATCH")
    assert event["resource"] == "/{proxy+}"
    assert event["path"] == "/a/b%20c/d"
    assert event["pathParameters"] == {"proxy": "a/b c/d"}
    assert event["httpMethod"] == "PATCH"
