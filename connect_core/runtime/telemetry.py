"""Metrics the runners emit, through whatever the handler hands in (Powertools' EMF ``Metrics``)."""

from __future__ import annotations

from typing import Any, Protocol


class MetricsSink(Protocol):
    def add_metric(self, name: str, unit: Any, value: float) -> None: ...


class Telemetry:
    """A thin front: the runtime stays free of Powertools imports; handlers pass their ``Metrics``."""

    def __init__(self, metrics: MetricsSink | None = None) -> None:
        self._metrics = metrics
        self.totals: dict[str, float] = {}
        self.connector: str | None = None

    def for_connector(self, name: str) -> None:
        """Give this invocation's metrics the ``Connector`` dimension (once: one invocation serves
        one connector, a source task's schedule or a sink's queue)."""
        if self.connector is None:
            self.connector = name
            add_dimension = getattr(self._metrics, "add_dimension", None)
            if add_dimension is not None:
                add_dimension(name="Connector", value=name)

    def count(self, name: str, value: float, unit: str = "Count") -> None:
        self.totals[name] = self.totals.get(name, 0) + value
        if self._metrics is not None:
            self._metrics.add_metric(name=name, unit=unit, value=value)

    def timing_ms(self, name: str, value: float) -> None:
        self.count(name, value, unit="Milliseconds")

    def flush(self) -> None:
        """Emit what was counted so far now (a long tick reports as it goes, not only at its end);
        the ``Connector`` dimension stays for what follows."""
        flush = getattr(self._metrics, "flush_metrics", None)
        if flush is None or not getattr(self._metrics, "metric_set", None):
            return
        flush(raise_on_empty_metrics=False)
        add_dimension = getattr(self._metrics, "add_dimension", None)
        if self.connector is not None and add_dimension is not None:
            add_dimension(name="Connector", value=self.connector)


# Metric names, one place for dashboards and alarms to agree on.
RECORDS_POLLED = "RecordsPolled"
RECORDS_PUBLISHED = "RecordsPublished"
RECORDS_WRITTEN = "RecordsWritten"
RECORDS_FAILED = "RecordsFailed"
RECORDS_DEAD_LETTERED = "RecordsDeadLettered"
RECORDS_DROPPED = "RecordsDropped"
BATCH_LATENCY = "BatchLatency"
SOURCE_LAG = "SourceLagRecords"
TICKS_SKIPPED = "TicksSkipped"
#: How long a task went unpolled when a tick took it over from another (handover or crash).
HANDOVER_GAP = "HandoverGapMs"
# the Replicator's
RECORDS_REPLICATED = "RecordsReplicated"
REPLICATION_LAG_SECONDS = "ReplicationLagSeconds"
REPLICATION_LATENCY = "ReplicationLatencyMs"
#: What losing the source cluster now would lose: messages not verified on the target, and the
#: store-time span they cover (connectors/at_risk.py).
DATA_AT_RISK_MESSAGES = "DataAtRiskMessages"
DATA_AT_RISK_SECONDS = "DataAtRiskSeconds"
#: +1 when a replicator tick starts work, -1 when it first emits its data at risk: summed over a
#: stack, above 0 minute after minute means a link that runs without reporting (template.yaml).
DATA_AT_RISK_UNREPORTED = "DataAtRiskUnreported"
