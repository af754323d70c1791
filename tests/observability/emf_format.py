"""The CloudWatch embedded metric format's rules, as the specification states them, to read
lines back with: a test helper, independent of streamway's writer.

https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html
"""

from __future__ import annotations

import json
from typing import Any

#: CloudWatch's StandardUnit values.
UNITS = frozenset(
    {
        "Seconds", "Microseconds", "Milliseconds", "Bytes", "Kilobytes", "Megabytes",
        "Gigabytes", "Terabytes", "Bits", "Kilobits", "Megabits", "Gigabits", "Terabits",
        "Percent", "Count", "Bytes/Second", "Kilobytes/Second", "Megabytes/Second",
        "Gigabytes/Second", "Terabytes/Second", "Bits/Second", "Kilobits/Second",
        "Megabits/Second", "Gigabits/Second", "Terabits/Second", "Count/Second", "None",
    }
)  # fmt: skip


def emf_lines(text: str) -> list[dict[str, Any]]:
    """The log lines that are EMF documents (a JSON object with an ``_aws`` member)."""
    found = []
    for line in text.splitlines():
        if not line.startswith("{"):
            continue
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(entry, dict) and "_aws" in entry:
            found.append(entry)
    return found


def metrics_of(document: dict[str, Any]) -> dict[str, tuple[float, str]]:
    """Validates ``document`` by the specification's rules; returns {name: (value, unit)}."""
    metadata = document["_aws"]
    assert isinstance(metadata["Timestamp"], int)
    assert metadata["Timestamp"] > 1_500_000_000_000  # milliseconds since the epoch
    directives = metadata["CloudWatchMetrics"]
    assert isinstance(directives, list)
    assert directives
    result: dict[str, tuple[float, str]] = {}
    for directive in directives:
        assert isinstance(directive["Namespace"], str)
        assert 1 <= len(directive["Namespace"]) <= 255
        for dimension_set in directive["Dimensions"]:
            assert len(dimension_set) <= 30
            for name in dimension_set:
                # A dimension names a root member with a string value.
                assert isinstance(document[name], str), name
                assert 1 <= len(document[name]) <= 1024
        metrics = directive["Metrics"]
        assert 1 <= len(metrics) <= 100
        for metric in metrics:
            name = metric["Name"]
            assert 1 <= len(name) <= 1024
            unit = metric.get("Unit", "None")
            assert unit in UNITS, unit
            # A metric names a root member with a number (or up to 100 numbers).
            value = document[name]
            assert isinstance(value, int | float), (name, value)
            assert not isinstance(value, bool)
            result[name] = (float(value), unit)
    return result
