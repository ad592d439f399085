"""The event source mapping, played by hand: SQS messages into the sink function's event and back.

Receive, hand the Lambda-shaped event to the sink runner, delete what it did not report as failed
(the local runtime does the same, with batching windows and a clock).
"""

from __future__ import annotations

from typing import Any

from connect_core import testing
from connect_core.runtime.sink_runner import SinkRunner
from connect_core.storage import Stores


def deploy(stores: Stores, config: dict[str, Any], task_configs: list[dict[str, Any]]) -> None:
    """What the reconfigure flow leaves in the stores for a running connector."""
    testing.deploy(stores, config, task_configs)


def receive_event(queues: dict[str, str]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """One ReceiveMessage as the SQS event a Lambda function gets, plus the received messages."""
    return testing.receive_event(queues["url"], queues["arn"])


def deliver(queues: dict[str, str], runner: SinkRunner, rounds: int = 30) -> list[dict[str, Any]]:
    """Play the event source mapping until the queue is empty; returns the events handed over."""
    return [event for event, _ in
            testing.play_queue(queues["url"], queues["arn"], lambda e: runner.handle(e).response(), rounds=rounds)]


def dead_letters(queues: dict[str, str]) -> list[dict[str, Any]]:
    return testing.dead_letters(queues["dlq_url"])
