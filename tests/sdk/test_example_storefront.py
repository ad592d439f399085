"""The example in examples/storefront deployed from its own template by the local runtime and run
end to end: schedules fire ticks of orders-source, the queue's event source mapping feeds
webhook-sink, both read their bearer tokens from SSM. Time is a virtual clock."""

from __future__ import annotations

import importlib.util
import uuid
from pathlib import Path

import pytest

from connect_core import aws, registry
from connect_core.local.clock import VirtualClock
from connect_core.local.deploy import DeploymentError
from connect_core.local.runtime import LocalRuntime
from connect_core.runtime.wire import from_lambda_record
from connect_core.storage import State, Stores
from connect_core.testing import (connector_create_event, dead_letters, reconfigure_commit_event,
                                  reconfigure_prepare_event, scheduler_event, sqs_record)
from functions_support import shape

pytestmark = pytest.mark.integration

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "storefront"
TOKEN = "s3cret-token"
SHOPS = {"berlin": 5, "lisbon": 4, "oslo": 3}


def load_local_api():
    spec = importlib.util.spec_from_file_location("storefront_local_api", EXAMPLE / "local_api.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def api():
    with load_local_api().StorefrontAPI(token=TOKEN) as api:
        for shop, count in SHOPS.items():
            for n in range(count):
                api.add_order(shop, total=10.0 + n)
        api.refused = api.add_order("lisbon", total=-1.0)  # the webhook refuses a negative total
        yield api


@pytest.fixture
def token_parameter(embedded_aws):
    name = f"/storefront-{uuid.uuid4().hex[:8]}/token"
    ssm = aws.client("ssm")
    ssm.put_parameter(Name=name, Value=TOKEN, Type="SecureString")
    yield name
    ssm.delete_parameter(Name=name)


@pytest.fixture
def runtime(embedded_aws, api, token_parameter):
    parameters = {"StorefrontApiUrl": api.url, "WebhookUrl": f"{api.url}/hooks/orders",
                  "ApiTokenParameter": token_parameter, "WebhookTokenParameter": token_parameter,
                  "PollSchedule": "rate(1 minute)"}
    registered = dict(registry._registered)
    with LocalRuntime(EXAMPLE / "template.yaml", parameters, clock=VirtualClock(), endpoint=embedded_aws,
                      stack_name=f"storefront{uuid.uuid4().hex[:8]}") as rt:
        yield rt
    # The stack's handlers registered the example's short names in this process, for modules only
    # its functions can import: the process is not a Lambda instance that ends with them.
    registry._registered.clear()
    registry._registered.update(registered)


@pytest.fixture
def stores(runtime):
    return Stores.dynamodb(runtime.outputs["ConfigsTableName"], runtime.outputs["OffsetsTableName"])


def next_minute(runtime) -> None:
    """One schedule period, and the second the sink's batching window waits for a partial batch."""
    runtime.advance(61)


def delivered(api) -> list[tuple[str, str]]:
    return sorted((body["id"], body["status"]) for body in api.received.values())


def accepted_orders(api) -> list[tuple[str, str]]:
    return sorted((o["id"], o["status"]) for orders in api.orders.values() for o in orders.values() if o["total"] >= 0)


def test_the_deploy_creates_the_connectors_from_the_template(runtime, stores):
    assert stores.configs.list_connectors() == ["storefront-orders", "storefront-webhook"]
    assert stores.configs.get_task_configs("storefront-orders") == [{"shops": ["berlin", "oslo"]},
                                                                    {"shops": ["lisbon"]}]
    assert stores.configs.connector_for_queue(
        stores.configs.get_connector("storefront-webhook").config["source_queue"]) == "storefront-webhook"
    assert stores.status.get_status("storefront-orders").connector.state is State.RUNNING


def test_every_order_reaches_the_webhook_once_and_the_refused_one_is_dead_lettered(runtime, api):
    next_minute(runtime)

    assert delivered(api) == accepted_orders(api)
    assert api.deliveries == len(api.received) + 1  # nothing posted twice; the refused one once
    [letter] = dead_letters(runtime.outputs["OrdersDeadLetterQueueUrl"])
    assert (letter["connector"], letter["stage"], letter["error"]["type"]) == ("storefront-webhook", "put",
                                                                                "WebhookRejected")
    assert "HTTP 422" in letter["error"]["message"]
    assert letter["record"]["offset"]["id"] == api.refused["id"]


def test_new_and_changed_orders_follow_on_later_ticks_and_nothing_is_sent_twice(runtime, api, stores):
    next_minute(runtime)
    first = api.orders["berlin"]["o-00001"]
    api.update_order("berlin", first["id"], status="refunded")
    added = api.add_order("oslo", total=99.0)

    next_minute(runtime)

    assert (first["id"], "refunded") in delivered(api) and (first["id"], "paid") in delivered(api)
    assert (added["id"], "paid") in delivered(api)
    assert api.deliveries == len(api.received) + 1
    committed = {p["shop"]: o["id"] for p, o in stores.offsets.read_all("storefront-orders").pairs()}
    assert committed == {"berlin": first["id"], "lisbon": api.refused["id"], "oslo": added["id"]}


def test_a_throttled_api_fails_a_tick_and_the_next_one_catches_up(runtime, api, stores):
    api.fail_next(429)

    fired = runtime.advance(61)  # the schedules' first ticks, then the ticks a minute later

    # the scheduler invokes asynchronously, as in AWS: each firing names its invocation
    ticks = {i.request_id: i.result for i in runtime.lambdas.history(runtime.physical_id("SourcePollerFunction"))}
    first = ticks[fired[0].result]
    assert (first["task"], first["outcome"]) == (0, "failed") and "HTTP 429" in first["error"]
    assert [ticks[f.result]["outcome"] for f in fired[1:]] == ["ran"] * (len(fired) - 1)
    assert delivered(api) == accepted_orders(api)
    assert [t.state for t in stores.status.get_status("storefront-orders").tasks] == [State.RUNNING] * 2


def test_an_invalid_config_in_the_template_fails_the_deploy_naming_the_field(runtime, stores):
    with pytest.raises(DeploymentError, match="shops listed more than once"):
        runtime.redeploy(parameters={"Shops": "berlin,berlin"})

    assert stores.configs.get_task_configs("storefront-orders") == [{"shops": ["berlin", "oslo"]},
                                                                    {"shops": ["lisbon"]}]


def test_the_event_factories_build_what_the_runtime_delivers(runtime):
    next_minute(runtime)
    history = {name: runtime.lambdas.history(runtime.physical_id(name)) for name in (
        "SourcePollerFunction", "SinkConsumerFunction", "ReconfigureFunction", "ConnectorResourceFunction")}

    ticks = [i.event for i in history["SourcePollerFunction"]]
    expected_ticks = [scheduler_event("storefront-orders", t) for t in (0, 1)]
    assert ticks and all(tick in expected_ticks for tick in ticks)
    assert all(tick in ticks for tick in expected_ticks)

    batches = [i.event for i in history["SinkConsumerFunction"]]
    delivered_record = batches[0]["Records"][0]
    made = sqs_record(from_lambda_record(delivered_record), queue_arn=delivered_record["eventSourceARN"])
    assert shape(made) == shape(delivered_record)
    assert made["body"] == delivered_record["body"]
    assert made["messageAttributes"] == delivered_record["messageAttributes"]
    assert made["md5OfBody"] == delivered_record["md5OfBody"]
    assert made["md5OfMessageAttributes"] == delivered_record["md5OfMessageAttributes"]

    steps = [(i.event, i.result) for i in history["ReconfigureFunction"]]
    prepares = [(event, result) for event, result in steps if event["step"] == "prepare"]
    commits = [event for event, _ in steps if event["step"] == "commit"]
    assert [event for event, _ in prepares] == [reconfigure_prepare_event(result["connector"])
                                                for _, result in prepares]
    assert sorted(commits, key=lambda e: e["connector"]) == sorted(
        (reconfigure_commit_event(result) for _, result in prepares), key=lambda e: e["connector"])

    [create, *_] = [i.event for i in history["ConnectorResourceFunction"] if i.event["RequestType"] == "Create"]
    made_create = connector_create_event(create["ResourceProperties"]["Config"],
                                         logical_id=create["LogicalResourceId"],
                                         service_token=create["ServiceToken"])
    assert shape(made_create) == shape(create)
    assert made_create["ResourceProperties"] == create["ResourceProperties"]
