"""``Custom::Connector``: connectors declared in a CloudFormation/SAM template.

    MyConnector:
      Type: Custom::Connector
      Properties:
        ServiceToken: !GetAtt ConnectorResourceFunction.Arn
        Config: { name: ..., connector: ..., ... }
        DeleteOffsets: false

Create and Update apply the config (validated first: an invalid one fails the deploy with every
field error and changes nothing) and wait for the reconfigure state machine; Delete stops the
tasks and removes their schedules, keeping offsets unless ``DeleteOffsets`` is true. The physical
resource id is the connector name, so renaming a connector creates the new one and CloudFormation
then deletes the old one.

CloudFormation hands every property value over as a string; the typed config models turn
``"2"`` into ``2`` and ``"true"`` into ``True`` where the field wants it.
"""

from __future__ import annotations

import json
import logging
import urllib.request
from typing import Any, Callable, Mapping

from ..errors import ConfigError
from .controller import ConnectorController

logger = logging.getLogger("connect_core.custom_resource")

MAX_REASON = 3500  # CloudFormation truncates long reasons; keep the start, which names the fields


def _truthy(value: Any) -> bool:
    return str(value).strip().lower() in ("true", "1", "yes")


class ConnectorResource:
    def __init__(self, controller: ConnectorController, send: Callable[[str, dict[str, Any]], None] | None = None):
        self.controller = controller
        self.send = send or put_response

    def handle(self, event: Mapping[str, Any], remaining_ms: Callable[[], int]) -> dict[str, Any]:
        request = event["RequestType"]
        properties = dict(event.get("ResourceProperties") or {})
        physical_id = event.get("PhysicalResourceId")
        data: dict[str, Any] = {}
        try:
            if request in ("Create", "Update"):
                config = properties.get("Config")
                if not isinstance(config, Mapping):
                    raise ConfigError.single("Config", "the resource needs a Config property holding the "
                                                       "connector config")
                applied = self.controller.apply(config, deadline=lambda: remaining_ms() / 1000 - 20)
                physical_id = applied.name
                data = {"Name": applied.name, "Version": applied.version, "Tasks": applied.task_count,
                        "Generation": applied.generation}
            elif request == "Delete":
                if physical_id and not physical_id.startswith("failed-"):
                    self.controller.delete(physical_id, delete_offsets=_truthy(properties.get("DeleteOffsets")))
            else:
                raise ValueError(f"unknown RequestType {request!r}")
            response = self._response(event, "SUCCESS", "", physical_id, data)
        except Exception as exc:  # noqa: BLE001 - every failure must reach CloudFormation, or the stack hangs
            logger.exception("connector resource failed", extra={"request": request})
            if request == "Create" or not physical_id:
                physical_id = f"failed-{event.get('RequestId', 'create')}"
            response = self._response(event, "FAILED", _reason(exc), physical_id, {})
        self.send(event["ResponseURL"], response)
        return response

    @staticmethod
    def _response(event: Mapping[str, Any], status: str, reason: str, physical_id: str | None,
                  data: dict[str, Any]) -> dict[str, Any]:
        return {"Status": status, "Reason": reason or status, "PhysicalResourceId": physical_id or "none",
                "StackId": event.get("StackId"), "RequestId": event.get("RequestId"),
                "LogicalResourceId": event.get("LogicalResourceId"), "NoEcho": False, "Data": data}


def _reason(exc: Exception) -> str:
    text = str(exc)
    if isinstance(exc, ConfigError):
        text = "invalid connector config: " + "; ".join(str(e) for e in exc.errors)
    return text if len(text) <= MAX_REASON else text[: MAX_REASON - 3] + "..."


def put_response(url: str, response: dict[str, Any]) -> None:
    """The response CloudFormation waits for: an HTTP PUT of JSON to the pre-signed ResponseURL."""
    body = json.dumps(response).encode()
    request = urllib.request.Request(url, data=body, method="PUT",
                                     headers={"Content-Type": "", "Content-Length": str(len(body))})
    with urllib.request.urlopen(request, timeout=30) as reply:  # noqa: S310 - the URL comes from CloudFormation
        reply.read()
