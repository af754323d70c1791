from __future__ import annotations

import json
from pathlib import Path
from typing import Any

EVENTS = Path(__file__).parent / "events"


def load_event(name: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS / f"{name}.json").read_text())
    return event


def http_event(
    path: str, *, method: str = "GET", query: str = "", body: str = ""
) -> dict[str, Any]:
    """A function URL event (payload 2.0) for ``path``, built from the documented example."""
    event = load_event("function_url")
    event.update(rawPath=path, rawQueryString=query, body=body, cookies=[])
    event["requestContext"]["http"].update(method=method, path=path)
    return event


def rest_event(path: str, *, method: str = "GET", stage: str = "Prod") -> dict[str, Any]:
    """A REST API proxy event (payload 1.0) for ``path``, built from the documented example."""
    event = load_event("rest_v1_get")
    event.update(path=path, resource=path, httpMethod=method)
    event["requestContext"].update(path=f"/{stage}{path}", stage=stage, httpMethod=method)
    return event


def log_records(output: str) -> list[dict[str, Any]]:
    """The JSON log records in a function process's output (other lines left out)."""
    records = []
    for line in output.splitlines():
        try:
            records.append(json.loads(line))
        except ValueError:
            continue
    return records
