"""The storefront's connectors: the standard suites, plus what is particular to them."""

from __future__ import annotations

import pytest

from connect_core import ConnectRecord
from connect_core.testing import SinkConnectorSuite, SinkHarness, SourceConnectorSuite, SourceHarness
from local_api import StorefrontAPI
from storefront.orders_source import OrdersSourceConnector
from storefront.webhook_sink import WebhookSinkConnector, idempotency_key

SHOPS = ["berlin", "lisbon", "oslo"]


@pytest.fixture
def api():
    with StorefrontAPI() as api:
        for shop in SHOPS:
            api.add_shop(shop)
        yield api


class TestOrdersSource(SourceConnectorSuite):
    connector = OrdersSourceConnector
    invalid_configs = {"base_url": {"base_url": "ftp://example.com"}, "shops": {"shops": ["a", "a"]},
                       "page_size": {"page_size": 0}, "api_token": {"api_token": "hunter2"}}

    @pytest.fixture
    def connector_config(self, api):
        for n in range(30):
            # Each shop's orders change two in the same millisecond: the (updated_at, id) cursor
            # tells them apart, also where a page ends between them.
            api.add_order(SHOPS[n % 3], total=float(n), updated_at=1_700_000_000_000 + n // 6)
        return self.complete_config({"base_url": api.url, "shops": SHOPS, "max_tasks": 2, "page_size": 4})


class TestWebhookSink(SinkConnectorSuite):
    connector = WebhookSinkConnector
    invalid_configs = {"url": {"url": "not a url"}, "auth_token": {"auth_token": "plain-text-token"}}

    @pytest.fixture
    def connector_config(self, api):
        self.api = api
        return self.complete_config({"url": f"{api.url}/hooks/orders"})

    def target_state(self, config):
        return dict(self.api.received)

    def rejected_records(self):
        return [ConnectRecord(topic="orders", key="o-bad", value={"id": "o-bad", "total": -5.0},
                              partition={"shop": "berlin"}, offset={"updated_at": 1, "id": "o-bad"})]


def test_a_changed_order_is_read_again_as_its_new_version(api):
    order = api.add_order("berlin", total=10.0)
    with SourceHarness({"name": "orders", "connector": "storefront.orders_source:OrdersSourceConnector",
                        "base_url": api.url, "shops": ["berlin"]}) as source:
        source.deploy()
        source.drain()
        api.update_order("berlin", order["id"], status="refunded")
        source.drain()

        assert [(r.key, r.value["status"]) for r in source.records] == [(order["id"], "paid"),
                                                                          (order["id"], "refunded")]


def test_a_throttled_api_fails_the_tick_retriably_and_the_next_tick_catches_up(api):
    api.add_order("oslo", total=1.0)
    with SourceHarness({"name": "orders", "connector": "storefront.orders_source:OrdersSourceConnector",
                        "base_url": api.url, "shops": ["oslo"]}) as source:
        source.deploy()
        api.fail_next(429)

        throttled = source.tick(0)

        assert throttled.outcome == "failed" and "RetriableError" in throttled.error and "429" in throttled.error
        assert source.records == [] and len(source.committed()) == 0
        assert source.tick(0).records == 1


def test_a_webhook_that_is_down_fails_the_whole_batch_for_redelivery(api):
    config = {"name": "hooks", "connector": "storefront.webhook_sink:WebhookSinkConnector",
              "url": f"{api.url}/hooks/orders"}
    records = [ConnectRecord(topic="orders", key=str(n), value={"id": n, "total": 1.0},
                             partition={"shop": "berlin"}, offset={"updated_at": n, "id": str(n)})
               for n in range(3)]
    with SinkHarness(config) as sink:
        event = sink.event(records)
        api.fail_next(503, after=1)  # the second record's request, after the first was stored

        down = sink.deliver(event)
        assert len(down.failures) == 3  # the whole batch comes back; the first is stored already

        assert sink.deliver(event).failures == []
    assert sorted(body["id"] for body in api.received.values()) == [0, 1, 2]
    assert api.deliveries == 2 + 3  # the first record twice, stored once thanks to its key


def test_the_idempotency_key_is_the_records_position():
    record = ConnectRecord(topic="orders", value={}, partition={"shop": "a"}, offset={"updated_at": 1, "id": "x"})

    assert idempotency_key(record) == idempotency_key(record.copy(value={"changed": True}))
    assert idempotency_key(record) != idempotency_key(record.copy(offset={"updated_at": 2, "id": "x"}))
    assert idempotency_key(record.copy(partition={}, offset={})) is None



def test_the_handlers_import_neither_the_aws_sdk_nor_the_config_models():
    import subprocess
    import sys
    from pathlib import Path

    code = ("import sys, handlers; "
            "print(','.join(m for m in ('boto3', 'pydantic', 'storefront.orders_source') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[1] / "src", capture_output=True, text=True,
                         check=True)

    assert out.stdout.strip() == ""
