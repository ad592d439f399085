"""The storefront's connectors. Importing the package registers their short names; the
connector modules themselves load only when a config names them."""

from connect_core import register

register("orders-source", "storefront.orders_source:OrdersSourceConnector")
register("webhook-sink", "storefront.webhook_sink:WebhookSinkConnector")
