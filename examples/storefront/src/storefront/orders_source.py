"""``orders-source``: the orders of one or more shops, read from the storefront's REST API as
they are created and updated.

The API pages orders by when they last changed::

    GET {base_url}/shops/{shop}/orders?updated_after=<ms>&after_id=<id>&limit=<n>
    -> {"orders": [{"id": "o-0001", "updated_at": 1700000000000, "status": "paid", ...}, ...]}

sorted by ``(updated_at, id)``. Each shop is a partition; its offset is the ``(updated_at, id)``
of the last order read, so a tick resumes exactly after it, and an order that changes again is
read again (as a new version).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Sequence

from pydantic import Field, field_validator

from connect_core import (ConnectError, ConnectRecord, OffsetMap, RetriableError, SecretRef, SourceConnector,
                          SourceConnectorConfig, SourceTask)


class OrdersSourceConfig(SourceConnectorConfig):
    base_url: str = Field(pattern=r"^https?://[^\s/]+(/\S*)?$",
                          description="Root URL of the storefront API, e.g. https://api.example-shop.com/v1.")
    shops: list[str] = Field(min_length=1, description="Shops whose orders are read; each is a partition, "
                                                       "and the shops are split over the tasks.")
    api_token: SecretRef | None = Field(None, description="Bearer token of the API, as a secret reference "
                                                          "(an SSM parameter or a Secrets Manager secret).")
    topic: str = Field("orders", min_length=1, description="Topic of the records.")
    page_size: int = Field(100, ge=1, le=1000, description="Orders per request: one page per shop and poll.")
    timeout_s: float = Field(10.0, gt=0, le=60, description="Timeout of one API request, in seconds.")

    @field_validator("shops")
    @classmethod
    def _each_shop_once(cls, shops: list[str]) -> list[str]:
        twice = sorted({shop for shop in shops if shops.count(shop) > 1})
        if twice:
            raise ValueError(f"shops listed more than once: {twice}")
        return shops


class OrdersTask(SourceTask[OrdersSourceConfig]):
    offset_order = ("updated_at", "id")  # the API's sort order: offsets only move forward

    def start(self) -> None:
        self.headers = {"Accept": "application/json"}
        if self.config.api_token is not None:
            token = self.config.api_token.resolve().get_secret_value()
            self.headers["Authorization"] = f"Bearer {token}"

    def partitions(self) -> Sequence[dict[str, Any]]:
        return [{"shop": shop} for shop in self.task_config["shops"]]

    def poll(self, offsets: OffsetMap) -> list[ConnectRecord]:
        records = []
        for partition in self.partitions():  # a page of every shop: a busy shop never starves the others
            for order in self._page(partition["shop"], offsets.get(partition)):
                records.append(ConnectRecord(
                    topic=self.config.topic, key=order["id"], value=order, partition=partition,
                    offset={"updated_at": order["updated_at"], "id": order["id"]},
                    timestamp=order["updated_at"], headers={"shop": partition["shop"]}))
        return records

    def _page(self, shop: str, after: dict[str, Any] | None) -> list[dict[str, Any]]:
        query = {"limit": self.config.page_size}
        if after is not None:
            query.update(updated_after=after["updated_at"], after_id=after["id"])
        url = (f"{self.config.base_url.rstrip('/')}/shops/{urllib.parse.quote(shop, safe='')}/orders?"
               + urllib.parse.urlencode(query))
        try:
            with urllib.request.urlopen(urllib.request.Request(url, headers=self.headers),  # noqa: S310
                                        timeout=self.config.timeout_s) as response:
                return json.load(response)["orders"]
        except urllib.error.HTTPError as exc:
            if exc.code == 429 or exc.code >= 500:  # throttled or down: the next tick tries again
                raise RetriableError(f"the storefront API answered HTTP {exc.code} for shop {shop!r}") from exc
            raise ConnectError(f"the storefront API refused the orders of shop {shop!r}: HTTP {exc.code} "
                               f"{exc.reason}") from exc
        except (urllib.error.URLError, TimeoutError) as exc:
            raise RetriableError(f"the storefront API at {self.config.base_url} is unreachable: {exc}") from exc


class OrdersSourceConnector(SourceConnector[OrdersSourceConfig]):
    config_model = OrdersSourceConfig
    task_class = OrdersTask
    description = "Orders of the storefront's shops, as they are created and updated."

    def task_configs(self, max_tasks: int) -> list[dict[str, Any]]:
        tasks = min(max_tasks, len(self.config.shops))
        return [{"shops": self.config.shops[i::tasks]} for i in range(tasks)]
