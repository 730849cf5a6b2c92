"""What CloudWatch's Embedded Metric Format specification asks of a log line, checked (shared with the integration
test that reads the lines back out of CloudWatch Logs)."""

from __future__ import annotations

import json
from typing import Any

# The units CloudWatch accepts (MetricDatum.Unit).
UNITS = frozenset(
    [
        "Seconds",
        "Microseconds",
        "Milliseconds",
        "Bytes",
        "Kilobytes",
        "Megabytes",
        "Gigabytes",
        "Terabytes",
        "Bits",
        "Kilobits",
        "Megabits",
        "Gigabits",
        "Terabits",
        "Percent",
        "Count",
        "Bytes/Second",
        "Kilobytes/Second",
        "Megabytes/Second",
        "Gigabytes/Second",
        "Terabytes/Second",
        "Bits/Second",
        "Kilobits/Second",
        "Megabits/Second",
        "Gigabits/Second",
        "Terabits/Second",
        "Count/Second",
        "None",
    ]
)
MAX_DIMENSIONS = 30
MAX_METRICS = 100


def emf_problems(document: dict[str, Any]) -> list[str]:
    """Why `document` is not a valid EMF document (empty: it is)."""
    problems: list[str] = []
    aws = document.get("_aws")
    if not isinstance(aws, dict):
        return ["no _aws object"]
    if not isinstance(aws.get("Timestamp"), int) or aws["Timestamp"] <= 0:
        problems.append("_aws.Timestamp is not epoch milliseconds")
    directives = aws.get("CloudWatchMetrics")
    if not isinstance(directives, list) or not directives:
        return [*problems, "_aws.CloudWatchMetrics is not a non-empty list"]
    for directive in directives:
        namespace = directive.get("Namespace")
        if not isinstance(namespace, str) or not 1 <= len(namespace) <= 1024:
            problems.append(f"bad Namespace {namespace!r}")
        for dimension_set in directive.get("Dimensions", []):
            if not isinstance(dimension_set, list) or len(dimension_set) > MAX_DIMENSIONS:
                problems.append(f"bad dimension set {dimension_set!r}")
                continue
            for name in dimension_set:
                value = document.get(name)
                if not isinstance(value, str) or not value:
                    problems.append(f"dimension {name!r} has no string value in the root")
        metrics = directive.get("Metrics")
        if not isinstance(metrics, list) or not 1 <= len(metrics) <= MAX_METRICS:
            problems.append("Metrics is not a list of 1-100 definitions")
            continue
        for metric in metrics:
            name, unit = metric.get("Name"), metric.get("Unit", "None")
            if not isinstance(name, str) or not 1 <= len(name) <= 1024:
                problems.append(f"bad metric name {name!r}")
                continue
            if unit not in UNITS:
                problems.append(f"{name}: unit {unit!r} is not a CloudWatch unit")
            value = document.get(name)
            values = value if isinstance(value, list) else [value]
            if not values or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
                problems.append(f"{name}: no numeric value in the root")
    return problems


def emf_documents(text: str) -> list[dict[str, Any]]:
    """The EMF documents among `text`'s lines (one JSON object per line; other lines skipped)."""
    documents = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line.startswith("{"):
            continue
        try:
            document = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(document, dict) and "_aws" in document:
            documents.append(document)
    return documents


def metrics_of(document: dict[str, Any]) -> dict[str, tuple[str, float]]:
    """Each metric of the document: its unit and (first) value."""
    found = {}
    for directive in document["_aws"]["CloudWatchMetrics"]:
        for metric in directive["Metrics"]:
            value = document[metric["Name"]]
            found[metric["Name"]] = (metric.get("Unit", "None"), float(value[0] if isinstance(value, list) else value))
    return found


def dimension_sets(document: dict[str, Any]) -> list[dict[str, str]]:
    return [
        {name: document[name] for name in names}
        for directive in document["_aws"]["CloudWatchMetrics"]
        for names in directive["Dimensions"]
    ]
