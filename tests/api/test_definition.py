"""The shipped API definition and the rules API Gateway applies to one."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from streamway.api.definition import (
    DefinitionError,
    load_definition,
    parse_definition,
    render_openapi,
)
from streamway.service.bodies import InvocationRequest, StreamingRequest

FUNCTION_ARN = "arn:aws:lambda:eu-west-1:123456789012:function:streamway"


def test_shipped_definition_streams_the_streaming_routes() -> None:
    definition = load_definition()
    modes = {(r.method, r.resource): r.transfer_mode for r in definition.routes}
    assert modes == {
        ("GET", "/"): "BUFFERED",
        ("GET", "/ping"): "BUFFERED",
        ("GET", "/api/objects"): "BUFFERED",
        ("POST", "/streaming"): "STREAM",
        ("GET", "/streaming/{stream_id}"): "STREAM",
        ("DELETE", "/streaming/{stream_id}"): "STREAM",
        ("POST", "/invocations"): "STREAM",
        ("GET", "/download/{proxy+}"): "STREAM",
        ("HEAD", "/download/{proxy+}"): "STREAM",
        ("OPTIONS", "/uploads"): "BUFFERED",
        ("POST", "/uploads"): "BUFFERED",
        ("OPTIONS", "/uploads/{id}"): "BUFFERED",
        ("HEAD", "/uploads/{id}"): "BUFFERED",
        ("PATCH", "/uploads/{id}"): "BUFFERED",
        ("DELETE", "/uploads/{id}"): "BUFFERED",
    }
    for route in definition.routes:
        assert route.timeout_ms == (900_000 if route.streams else 29_000)


@pytest.mark.parametrize(
    ("resource", "model"),
    [("/streaming", StreamingRequest), ("/invocations", InvocationRequest)],
)
def test_request_bodies_are_the_ones_the_service_reads(resource: str, model: Any) -> None:
    document = load_definition().document
    body = document["paths"][resource]["post"]["requestBody"]
    assert body["required"] is True
    reference = body["content"]["application/json"]["schema"]["$ref"]
    name = reference.removeprefix("#/components/schemas/")
    declared = document["components"]["schemas"][name]
    served = model.model_json_schema()  # what the service's own OpenAPI document says
    assert name == served["title"]
    assert declared["required"] == served["required"]
    for field, schema in declared["properties"].items():
        assert schema == {k: v for k, v in served["properties"][field].items() if k != "title"}
    # Rendering for API Gateway keeps them (they become the API's models).
    rendered = render_openapi(load_definition(), function_arn=FUNCTION_ARN, region="eu-west-1")
    assert rendered["components"]["schemas"][name] == declared


@pytest.mark.parametrize(
    ("method", "path", "resource", "params"),
    [
        ("GET", "/", "/", {}),
        ("POST", "/streaming", "/streaming", {}),
        ("GET", "/download/a/b c.bin", "/download/{proxy+}", {"proxy": "a/b c.bin"}),
        ("head", "/download/x", "/download/{proxy+}", {"proxy": "x"}),
    ],
)
def test_find_matches_resource_and_parameters(
    method: str, path: str, resource: str, params: dict[str, str]
) -> None:
    found = load_definition().find(method, path)
    assert found is not None
    assert found[0].resource == resource
    assert found[1] == params


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/nope"), ("DELETE", "/streaming"), ("GET", "/download"), ("GET", "/download/")],
)
def test_find_refuses_unknown_routes(method: str, path: str) -> None:
    assert load_definition().find(method, path) is None


def _document(resource_paths: dict[str, Any]) -> dict[str, Any]:
    return {"openapi": "3.0.1", "paths": resource_paths}


def _operation(mode: str = "BUFFERED", timeout: int = 29_000) -> dict[str, Any]:
    uri = "2021-11-15/response-streaming-invocations" if mode == "STREAM" else "invocations"
    return {
        "x-amazon-apigateway-integration": {
            "type": "aws_proxy",
            "uri": uri,
            "responseTransferMode": mode,
            "timeoutInMillis": timeout,
        }
    }


def test_literal_beats_parameter_beats_greedy() -> None:
    definition = parse_definition(
        _document(
            {
                "/files/{proxy+}": {"get": _operation()},
                "/files/{name}": {"get": _operation()},
                "/files/latest": {"get": _operation()},
            }
        )
    )
    assert definition.find("GET", "/files/latest")[0].resource == "/files/latest"  # type: ignore[index]
    assert definition.find("GET", "/files/x")[0].resource == "/files/{name}"  # type: ignore[index]
    assert definition.find("GET", "/files/x/y")[0].resource == "/files/{proxy+}"  # type: ignore[index]


@pytest.mark.parametrize(
    ("paths", "message"),
    [
        ({}, "no paths"),
        ({"/a": {"get": {}}}, "no x-amazon-apigateway-integration"),
        ({"/a": {"get": _operation(timeout=900_001)}}, "between 50 ms and 900000 ms"),
        ({"/a": {"get": _operation(timeout=49)}}, "between 50 ms and 900000 ms"),
        ({"/a/{p+}/b": {"get": _operation()}}, "must be the last segment"),
        ({"/a/x{p}": {"get": _operation()}}, "whole segment"),
    ],
)
def test_bad_definitions_are_refused(paths: dict[str, Any], message: str) -> None:
    with pytest.raises(DefinitionError, match=message):
        parse_definition(_document(paths))


def test_stream_needs_the_streaming_uri() -> None:
    operation = _operation("STREAM", 900_000)
    operation["x-amazon-apigateway-integration"]["uri"] = "2015-03-31/invocations"
    with pytest.raises(DefinitionError, match="streaming URI"):
        parse_definition(_document({"/a": {"post": operation}}))


def test_with_auth_protects_all_but_public_routes() -> None:
    definition = load_definition().with_auth(api_key=True, authorizer=True)
    for route in definition.routes:
        expected = () if route.resource in ("/", "/ping") else ("api_key", "jwt")
        assert route.security == expected, route


def test_render_fills_arns_and_applies_auth() -> None:
    definition = load_definition()
    pristine = copy.deepcopy(dict(definition.document))
    document = render_openapi(
        definition,
        function_arn=FUNCTION_ARN,
        region="eu-west-1",
        api_key=True,
        authorizer_arns=["arn:aws:cognito-idp:eu-west-1:123456789012:userpool/x"],
    )
    streaming = document["paths"]["/streaming"]["post"]
    assert streaming["x-amazon-apigateway-integration"]["uri"] == (
        "arn:aws:apigateway:eu-west-1:lambda:path/2021-11-15/functions/"
        f"{FUNCTION_ARN}/response-streaming-invocations"
    )
    assert streaming["security"] == [{"api_key": []}, {"jwt": []}]
    assert "security" not in document["paths"]["/ping"]["get"]
    assert "x-streamway-public" not in document["paths"]["/ping"]["get"]
    schemes = document["components"]["securitySchemes"]
    assert schemes["jwt"]["x-amazon-apigateway-authorizer"]["providerARNs"] == [
        "arn:aws:cognito-idp:eu-west-1:123456789012:userpool/x"
    ]
    assert definition.document == pristine  # rendering never edits the loaded definition


def test_render_without_auth_drops_unused_schemes() -> None:
    document = render_openapi(load_definition(), function_arn=FUNCTION_ARN, region="us-east-1")
    assert document["components"]["securitySchemes"] == {}
    assert all(
        "security" not in operation
        for item in document["paths"].values()
        for operation in item.values()
        if isinstance(operation, dict) and "x-amazon-apigateway-integration" in operation
    )


def test_render_sends_each_transfer_mode_to_its_own_function() -> None:
    stream_arn = FUNCTION_ARN + "-stream"
    document = render_openapi(
        load_definition(),
        function_arn=FUNCTION_ARN,
        stream_function_arn=stream_arn,
        region="eu-west-1",
    )
    for resource, item in document["paths"].items():
        for method, operation in item.items():
            if method not in ("get", "head", "post"):
                continue
            integration = operation["x-amazon-apigateway-integration"]
            if integration["responseTransferMode"] == "STREAM":
                expected = (
                    "arn:aws:apigateway:eu-west-1:lambda:path/2021-11-15/functions/"
                    f"{stream_arn}/response-streaming-invocations"
                )
            else:
                expected = (
                    "arn:aws:apigateway:eu-west-1:lambda:path/2015-03-31/functions/"
                    f"{FUNCTION_ARN}/invocations"
                )
            assert integration["uri"] == expected, (method, resource)
