"""``webhook-sink``: POST each record as JSON to a webhook, once.

Every request carries an ``Idempotency-Key`` derived from the record's source position (the
convention of payment and commerce APIs), so a receiver that honours it stores a redelivered
record once: the sink is idempotent. A record the receiver refuses (4xx) fails alone and goes
to the dead-letter queue; throttling and server errors (429, 5xx) fail the batch to be retried.
"""

from __future__ import annotations

import hashlib
import json
import urllib.error
import urllib.request

from pydantic import Field

from connect_core import (ConnectRecord, RetriableError, SecretRef, SinkConnector, SinkConnectorConfig,
                          SinkRecordErrors, SinkTask, partition_key)


class WebhookSinkConfig(SinkConnectorConfig):
    url: str = Field(pattern=r"^https?://[^\s/]+(/\S*)?$", description="Where each record is POSTed.")
    auth_token: SecretRef | None = Field(None, description="Bearer token sent with every request, as a secret "
                                                           "reference (an SSM parameter or a Secrets Manager secret).")
    timeout_s: float = Field(10.0, gt=0, le=60, description="Timeout of one request, in seconds.")


class WebhookRejected(Exception):
    """The receiver refused the record (HTTP 4xx): sending it again will not help."""


class WebhookSinkTask(SinkTask[WebhookSinkConfig]):
    idempotent = True  # see idempotency_key: a redelivered record is stored once

    def start(self) -> None:
        self.headers = {"Content-Type": "application/json"}
        if self.config.auth_token is not None:
            self.headers["Authorization"] = f"Bearer {self.config.auth_token.resolve().get_secret_value()}"

    def put(self, records: list[ConnectRecord]) -> None:
        rejected: dict[int, BaseException] = {}
        for index, record in enumerate(records):
            status, detail = self._post(record)
            if status in (408, 429) or status >= 500:
                raise RetriableError(f"the webhook answered HTTP {status}: {detail}")
            if status >= 400:
                rejected[index] = WebhookRejected(f"HTTP {status}: {detail}")
        if rejected:
            raise SinkRecordErrors(rejected)

    def _post(self, record: ConnectRecord) -> tuple[int, str]:
        headers = dict(self.headers)
        key = idempotency_key(record)
        if key is not None:
            headers["Idempotency-Key"] = key
        body = json.dumps(record.value, separators=(",", ":"), default=str).encode()
        request = urllib.request.Request(self.config.url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.config.timeout_s) as response:  # noqa: S310
                return response.status, ""
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read(300).decode("utf-8", "replace")
        except (urllib.error.URLError, TimeoutError) as exc:
            raise RetriableError(f"the webhook at {self.config.url} is unreachable: {exc}") from exc


def idempotency_key(record: ConnectRecord) -> str | None:
    """The same for every delivery of one record: a hash of its topic and source position.
    Records without a position (sent by a producer of your own) get none: set ``deduplicate``."""
    if not record.partition:
        return None
    position = f"{record.topic}|{partition_key(record.partition)}|{partition_key(record.offset)}"
    return hashlib.sha256(position.encode()).hexdigest()


class WebhookSinkConnector(SinkConnector[WebhookSinkConfig]):
    config_model = WebhookSinkConfig
    task_class = WebhookSinkTask
    description = "POSTs each record as JSON to a webhook, with an Idempotency-Key."
