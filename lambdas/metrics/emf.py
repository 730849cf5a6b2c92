"""Metrics as CloudWatch Embedded Metric Format log lines, written by Powertools `Metrics` to stdout: Lambda sends
them to the function's log group and CloudWatch Logs turns each into metrics (no PutMetricData, no extra grant)."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING

from aws_lambda_powertools import Logger, Metrics

from lambdas.metrics.model import SERVICE_DIMENSION, MetricRecord

if TYPE_CHECKING:
    from lambdas.metrics.ports import MetricsSink

logger = Logger(child=True)


class EmfMetrics:
    """One EMF line per record, in the deployment's namespace, every dimension set led by `service`."""

    def __init__(self, namespace: str, service: str) -> None:
        self._service = service
        # Powertools' Metrics instances share one metric set per process: each record is added, then flushed.
        self._metrics = Metrics(namespace=namespace, service=service)

    def emit(self, records: Sequence[MetricRecord]) -> None:
        for record in records:
            try:
                self._write(record)
            except Exception:  # a metric must never fail the batch whose events are already put
                logger.exception("metric record not written", extra={"key": list(record.key)})
                self._metrics.clear_metrics()

    def _write(self, record: MetricRecord) -> None:
        metrics = self._metrics
        first, *others = record.dimension_sets or ((),)
        for name, value in first:
            metrics.add_dimension(name=name, value=value)
        for dimensions in others:
            metrics.add_dimensions(**{SERVICE_DIMENSION: self._service, **dict(dimensions)})
        for measurement in record.measurements:
            metrics.add_metric(name=measurement.name, unit=measurement.unit.value, value=measurement.value)
        for key, data in record.metadata:
            metrics.add_metadata(key=key, value=data)
        with warnings.catch_warnings():
            # A redelivered record older than EMF's 14 days is skipped by CloudWatch: said once per line, not here.
            warnings.simplefilter("ignore")
            metrics.set_timestamp(record.timestamp)
        metrics.flush_metrics()


if TYPE_CHECKING:

    def _implements_port(sink: EmfMetrics) -> MetricsSink:
        return sink
