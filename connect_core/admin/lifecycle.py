"""What pausing, resuming and restarting do beyond the stored target state.

- A paused or stopped sink must not be handed batches: its runner would return each one failed,
  SQS would count every return as a delivery and, after the redrive policy's ``maxReceiveCount``,
  move the backlog to the dead-letter queue. So pausing disables the event source mappings of the
  sink's queue (the records wait in the queue) and resuming enables them again.
- A restarted source task does not wait for its schedule: it gets a tick at once (an asynchronous
  invocation of the source poller, exactly what its schedule sends).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from .. import aws

logger = logging.getLogger("connect_core.admin")

_ON = {"Enabled", "Enabling", "Updating", "Creating"}


def _function_name(arn_or_name: str) -> str:
    """``arn:aws:lambda:r:a:function:name[:qualifier]`` or ``name`` -> ``name``."""
    parts = arn_or_name.split(":")
    return parts[6] if len(parts) >= 7 and parts[5] == "function" else arn_or_name


class SinkMappings:
    """The SQS event source mappings that feed sink connectors (those of ``function_arn``, or every
    mapping of the queue when it is not known)."""

    def __init__(self, function_arn: str | None = None) -> None:
        self.function_arn = function_arn

    def set_enabled(self, queue_arn: str, enabled: bool) -> int:
        """Enable or disable the mappings of ``queue_arn``; returns how many changed."""
        client = aws.client("lambda")
        changed = 0
        for mapping in self._mappings(client, queue_arn):
            if (mapping.get("State") in _ON) == enabled:
                continue
            client.update_event_source_mapping(UUID=mapping["UUID"], Enabled=enabled)
            changed += 1
        if changed:
            logger.info("event source mappings %s", "enabled" if enabled else "disabled",
                        extra={"queue": queue_arn, "mappings": changed})
        return changed

    def _mappings(self, client: Any, queue_arn: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        marker = None
        while True:
            kwargs: dict[str, Any] = {"EventSourceArn": queue_arn}
            if marker:
                kwargs["Marker"] = marker
            page = client.list_event_source_mappings(**kwargs)
            for mapping in page.get("EventSourceMappings", []):
                if mapping.get("EventSourceArn") != queue_arn:
                    continue
                if self.function_arn and _function_name(mapping.get("FunctionArn", "")) != \
                        _function_name(self.function_arn):
                    continue
                found.append(mapping)
            marker = page.get("NextMarker")
            if not marker:
                return found


class SourceTicks:
    """Ticks of source tasks outside their schedules."""

    def __init__(self, poller_arn: str | None) -> None:
        self.poller_arn = poller_arn

    def tick_now(self, connector: str, task: int) -> bool:
        """Start a tick of ``task`` now (asynchronously); False when the poller is not known."""
        if not self.poller_arn:
            return False
        aws.client("lambda").invoke(FunctionName=self.poller_arn, InvocationType="Event",
                                    Payload=json.dumps({"connector": connector, "task": task}).encode())
        return True
