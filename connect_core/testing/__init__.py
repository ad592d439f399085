"""The connector SDK's test kit: Lambda event factories, a Lambda context, harnesses that run a
connector through the real runners on in-memory stores, and standard pytest suites.

    from connect_core.testing import SourceConnectorSuite

    class TestTicker(SourceConnectorSuite):
        connector = TickerConnector
        config = {"count": 25}

``queues`` plays an SQS event source mapping by hand against a real or emulated queue.

Names load on first use: the event factories never import pytest, the suites do.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

if TYPE_CHECKING:
    from .capture import Capture, CaptureSinkConnector
    from .context import lambda_context
    from .events import (connector_create_event, connector_delete_event, connector_update_event,
                         custom_resource_event, md5_of_message_attributes, reconfigure_abort_event,
                         reconfigure_commit_event, reconfigure_prepare_event, redelivered, scheduler_event,
                         sqs_event, sqs_record)
    from .queues import dead_letters, deploy, drain, lambda_event, play_queue, receive_event
    from .harness import (CommitFailsOnce, FixedQueuePolicies, HarnessError, PollBudget, PolledTasks,
                          SinkHarness, SourceHarness, record_identity)
    from .suites import ConnectorSuite, InvalidCase, SinkConnectorSuite, SourceConnectorSuite

_EXPORTS = {
    "Capture": "capture", "CaptureSinkConnector": "capture",
    "lambda_context": "context",
    **{name: "events" for name in (
        "connector_create_event", "connector_delete_event", "connector_update_event", "custom_resource_event",
        "md5_of_message_attributes", "reconfigure_abort_event", "reconfigure_commit_event",
        "reconfigure_prepare_event", "redelivered", "scheduler_event", "sqs_event", "sqs_record")},
    **{name: "harness" for name in (
        "CommitFailsOnce", "FixedQueuePolicies", "HarnessError", "PollBudget", "PolledTasks", "SinkHarness",
        "SourceHarness", "record_identity")},
    **{name: "queues" for name in (
        "dead_letters", "deploy", "drain", "lambda_event", "play_queue", "receive_event")},
    **{name: "suites" for name in ("ConnectorSuite", "InvalidCase", "SinkConnectorSuite", "SourceConnectorSuite")},
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, globals(), _EXPORTS)
