"""Powertools around every handler: structured JSON logs, EMF metrics, and X-Ray tracing.

The Tracer (and the X-Ray SDK behind it, ~300 ms of imports) is created on the first invocation
and only when tracing is on (``POWERTOOLS_TRACE_DISABLED`` unset and the function runs in Lambda
with active tracing, or ``CONNECT_FORCE_TRACING`` set), so a cold start does not pay for it otherwise.
"""

from __future__ import annotations

import importlib
import os
from typing import Any, Callable

from aws_lambda_powertools.logging import Logger
from aws_lambda_powertools.metrics import Metrics

Handler = Callable[[Any, Any], Any]


def _tracing_enabled() -> bool:
    if os.environ.get("POWERTOOLS_TRACE_DISABLED", "").lower() in ("1", "true"):
        return False
    return bool(os.environ.get("CONNECT_FORCE_TRACING") or os.environ.get("_X_AMZN_TRACE_ID"))


def lambda_handler(function: str, *, metrics: bool = False, log_event: bool = False) -> Handler:
    """The Lambda handler for ``connect_core.runtime.functions.<function>``."""
    logger = Logger()
    metrics_ = Metrics() if metrics else None
    state: dict[str, Any] = {}

    def run(event: Any, context: Any) -> Any:
        target = getattr(importlib.import_module("connect_core.runtime.functions"), function)
        return target(event, context, metrics_) if metrics_ is not None else target(event, context)

    def handler(event: Any, context: Any) -> Any:
        inner = state.get("inner")
        if inner is None:
            inner = run
            if _tracing_enabled():
                from aws_lambda_powertools.tracing import Tracer

                inner = Tracer().capture_lambda_handler(inner)
            if metrics_ is not None:
                inner = metrics_.log_metrics(inner)
            inner = logger.inject_lambda_context(inner, log_event=log_event)
            state["inner"] = inner
        return inner(event, context)

    handler.__name__ = handler.__qualname__ = function
    return handler
