"""The stack's Lambda handlers: the runtime's own, with the storefront's connectors registered."""

import storefront  # noqa: F401 - registers orders-source and webhook-sink
from connect_core.runtime.lambda_support import lambda_handler

source_tick = lambda_handler("source_tick", metrics=True, log_event=True)
sink_batch = lambda_handler("sink_batch", metrics=True)
reconfigure_step = lambda_handler("reconfigure_step", log_event=True)
connector_resource = lambda_handler("connector_resource")
