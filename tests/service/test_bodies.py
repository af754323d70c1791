"""JsonBodyRoute and the body models, on a small FastAPI app with streamway's error handlers.

The app is real (FastAPI, the service's error handlers, the route class); only its endpoints
are the test's own, so each answer shows what the route class does to a body.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import APIRouter, FastAPI, Request
from fastapi.testclient import TestClient

from streamway.service.bodies import (
    InvocationRequest,
    JsonBodyRoute,
    StreamingRequest,
    check_prompt_size,
    decode_json,
    parse_body,
)
from streamway.service.errors import ApiError, install_error_handlers


@pytest.fixture(scope="module")
def client() -> TestClient:
    router = APIRouter(route_class=JsonBodyRoute)

    @router.post("/echo")
    async def echo(body: StreamingRequest, request: Request) -> dict[str, Any]:
        return {"request": body.request, "accept": request.headers.get("accept")}

    @router.get("/count")
    async def count(limit: int = 1) -> dict[str, Any]:
        return {"limit": limit}

    app = FastAPI()
    install_error_handlers(app)
    app.include_router(router)
    return TestClient(app)


@pytest.mark.parametrize(
    "content_type",
    [None, "application/json", "application/x-www-form-urlencoded", "text/plain"],
)
def test_a_body_is_json_whatever_its_content_type(
    client: TestClient, content_type: str | None
) -> None:
    headers = {"accept": "text/plain"}
    if content_type is not None:
        headers["content-type"] = content_type
    response = client.post("/echo", content=b'{"request": "  Hi  "}', headers=headers)
    assert response.status_code == 200
    # Validated by the model (stripped), and the endpoint still sees the request's headers.
    assert response.json() == {"request": "Hi", "accept": "text/plain"}


@pytest.mark.parametrize("body", [b"", b"{", b"not json", b'{"request": NaN}', b"[" * 1000])
def test_a_body_not_json_is_400_saying_what_to_send(client: TestClient, body: bytes) -> None:
    response = client.post("/echo", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_json"
    assert StreamingRequest.example in error["message"]


@pytest.mark.parametrize(
    ("body", "field", "says"),
    [
        (b"{}", "request", "is required"),
        (b'{"request": 7}', "request", "must be a string"),
        (b'{"request": " "}', "request", "must not be empty"),
        (b"[]", "body", "must be inside a JSON object"),
        (b"null", "body", "must be inside a JSON object"),
    ],
)
def test_a_bad_field_is_422_naming_it(
    client: TestClient, body: bytes, field: str, says: str
) -> None:
    response = client.post("/echo", content=body)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_field"
    assert error["field"] == field
    assert error["message"].startswith(f"`{field}` {says}; send {StreamingRequest.example}")


def test_a_route_without_a_body_keeps_the_usual_validation(client: TestClient) -> None:
    assert client.get("/count?limit=3").json() == {"limit": 3}
    response = client.get("/count?limit=x")
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "query.limit"


def test_the_openapi_document_describes_the_body(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    body = document["paths"]["/echo"]["post"]["requestBody"]
    assert body["required"] is True
    assert body["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/StreamingRequest"
    }
    assert document["components"]["schemas"]["StreamingRequest"]["required"] == ["request"]


def test_a_body_that_is_not_a_prompt_request_is_refused_when_the_route_is_built() -> None:
    router = APIRouter(route_class=JsonBodyRoute)
    with pytest.raises(TypeError, match="PromptRequest"):

        @router.post("/raw")
        async def raw(body: dict[str, str]) -> None: ...


def test_websocket_messages_are_read_with_the_same_rules() -> None:
    assert parse_body(InvocationRequest, decode_json('{"prompt": " Hi "}', InvocationRequest))
    with pytest.raises(ApiError) as invalid_json:
        decode_json('{"prompt": "\\ud800"}', InvocationRequest)
    assert (invalid_json.value.status, invalid_json.value.code) == (400, "invalid_json")
    with pytest.raises(ApiError) as invalid_field:
        parse_body(InvocationRequest, {"prompt": 7})
    assert (invalid_field.value.status, invalid_field.value.details) == (422, {"field": "prompt"})


def test_a_prompt_over_the_limit_is_413() -> None:
    check_prompt_size("a" * 10, 10)
    with pytest.raises(ApiError) as refused:
        check_prompt_size("a" * 11, 10)
    assert (refused.value.status, refused.value.code) == (413, "prompt_too_long")
    assert refused.value.details == {"limit_chars": 10}
