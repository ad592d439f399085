"""The http-sink inside the real runtime: the sink consumer handler with a captured SQS event, dead
letters on the embedded SQS, redelivery with the same idempotency keys, and the dedupe ledger."""

from __future__ import annotations

import base64
import json
import uuid

import pytest

from connect_core.runtime.sink_runner import SinkRunner
from connect_core.storage import State, Stores
from connect_core.testing import dead_letters, deploy, lambda_context
from functions_support import function_environment, load_event, load_handler
from http_support import FOREVER, Reply, lambda_event, order

pytestmark = pytest.mark.integration


def context():
    """A Lambda context with 55_000 ms left, whatever the test's speed."""
    return lambda_context("sink-consumer", remaining_ms=55_000)


@pytest.fixture
def stores(tables):
    return Stores.dynamodb(*tables)


def sink_config(webhook, queues, **overrides) -> dict:
    return {"name": f"orders-hook-{uuid.uuid4().hex[:6]}", "connector": "http-sink",
            "url": f"{webhook.url}/hooks/orders", "source_queue": queues["arn"], **overrides}


@pytest.fixture
def handler_env(tables, monkeypatch):
    """The environment template.yaml gives the sink consumer function."""
    with function_environment(monkeypatch, tables):
        yield


def test_the_sink_consumer_handler_posts_a_captured_batch_and_dead_letters_the_rejected_record(
        webhook, queues, stores, token_secret, handler_env):
    webhook.responder = lambda r: Reply(400, '{"error":"qty must be positive"}') if r.json["qty"] < 0 else Reply(201)
    config = sink_config(webhook, queues, auth_secret=token_secret["ref"], auth_prefix="Bearer ",
                         errors={"tolerance": "all", "dead_letter_queue": queues["dlq_arn"], "retry_timeout_ms": 30_000})
    deploy(stores, config)
    event = load_event("sqs_http_sink_orders", source_arn=queues["arn"])

    response = load_handler("sink_consumer")(event, context())

    assert response == {"batchItemFailures": []}
    assert [r.json for r in webhook.requests] == [{"order": 1, "sku": "A-1", "qty": 2},
                                                  {"order": 2, "sku": "A-2", "qty": -1},
                                                  {"order": 3, "sku": "A-3", "qty": 1}]
    assert {r.headers["Authorization"] for r in webhook.requests} == {f"Bearer {token_secret['token']}"}
    assert len(webhook.connections) == 1
    [letter] = dead_letters(queues["dlq_url"])
    assert (letter["connector"], letter["stage"], letter["error"]["type"]) == (config["name"], "put", "HttpStatusError")
    assert letter["error"]["message"] == (f"HTTP 400 Bad Request from POST {webhook.url}/hooks/orders: "
                                          '{"error":"qty must be positive"}')
    assert letter["record"]["id"] == event["Records"][1]["messageId"]
    assert letter["record"]["offset"] == {"seq": 2}
    assert json.loads(base64.b64decode(letter["record"]["value_base64"])) == {"order": 2, "sku": "A-2", "qty": -1}
    assert stores.status.get_status(config["name"]).tasks[0].state is State.RUNNING


def test_a_warm_function_reuses_its_connection_across_invocations(webhook, queues, stores, handler_env):
    deploy(stores, sink_config(webhook, queues))
    handler = load_handler("sink_consumer")

    handler(lambda_event(queues["arn"], [order(1), order(2)]), context())
    handler(lambda_event(queues["arn"], [order(3)]), context())

    assert [r.json["order"] for r in webhook.requests] == [1, 2, 3]
    assert len(webhook.connections) == 1


def test_an_unavailable_endpoint_returns_the_records_for_redelivery_and_nothing_is_dead_lettered(
        webhook, queues, stores):
    webhook.responder = lambda request: Reply(503)
    deploy(stores, sink_config(webhook, queues, errors={"retry_timeout_ms": 2_000}))

    result = SinkRunner(stores).handle(lambda_event(queues["arn"], [order(1), order(2)]), FOREVER)

    assert result.response() == {"batchItemFailures": [{"itemIdentifier": "m1"}, {"itemIdentifier": "m2"}]}
    assert {r.json["order"] for r in webhook.requests} == {1}  # order 2 waited for the endpoint to recover
    assert dead_letters(queues["dlq_url"]) == []


def test_on_the_last_allowed_delivery_the_runtime_dead_letters_with_the_http_error(webhook, queues, stores):
    webhook.responder = lambda request: Reply(503, "maintenance")
    deploy(stores, sink_config(webhook, queues))

    result = SinkRunner(stores).handle(lambda_event(queues["arn"], [order(1)], receive_count=3), FOREVER)

    assert result.response() == {"batchItemFailures": []}
    [letter] = dead_letters(queues["dlq_url"])  # the queue's redrive DLQ, maxReceiveCount 3
    assert (letter["error"]["type"], letter["deliveries"]) == ("HttpRetriableStatusError", 3)
    assert "HTTP 503 Service Unavailable" in letter["error"]["message"] and "maintenance" in letter["error"]["message"]


def test_a_redelivered_batch_carries_the_same_idempotency_keys(webhook, queues, stores):
    deploy(stores, sink_config(webhook, queues, batch_max_records=10))
    runner = SinkRunner(stores)
    event = lambda_event(queues["arn"], [order(1), order(2)])

    runner.handle(event, FOREVER)
    runner.handle(event, FOREVER)  # SQS delivered it again (a visibility timeout ran out)

    first, again = webhook.requests
    assert first.body == again.body
    assert first.headers["Idempotency-Key"] == again.headers["Idempotency-Key"]


def test_with_deduplicate_a_redelivered_record_is_not_sent_again(webhook, queues, stores):
    deploy(stores, sink_config(webhook, queues, deduplicate=True))
    runner = SinkRunner(stores)

    runner.handle(lambda_event(queues["arn"], [order(1), order(2)]), FOREVER)
    again = runner.handle(lambda_event(queues["arn"], [order(2), order(3)]), FOREVER)

    assert [r.json["order"] for r in webhook.requests] == [1, 2, 3]
    assert (again.duplicates, again.written) == (1, 1)


def test_a_task_whose_secret_is_missing_returns_the_batch_and_reports_failed(webhook, queues, stores, fresh_secrets):
    config = sink_config(webhook, queues,
                         auth_secret="arn:aws:secretsmanager:us-east-1:123456789012:secret:gone-AbCdEf#token")
    deploy(stores, config)

    result = SinkRunner(stores).handle(lambda_event(queues["arn"], [order(1)]), FOREVER)

    assert result.failures == ["m1"] and webhook.requests == []
    status = stores.status.get_status(config["name"]).tasks[0]
    assert status.state is State.FAILED and "cannot read auth_secret" in status.trace
