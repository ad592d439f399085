"""A Lambda context object for calling handlers in tests: the one the local runtime passes."""

from __future__ import annotations

import time
import uuid
from typing import Callable

from ..local.lambdas import DEFAULT_ACCOUNT, LambdaContext, LocalFunction


def lambda_context(function_name: str = "connector-function", *, timeout_s: int = 60,
                   remaining_ms: int | None = None, request_id: str | None = None, memory_mb: int = 512,
                   region: str = "us-east-1", account_id: str = DEFAULT_ACCOUNT,
                   timer: Callable[[], float] | None = None) -> LambdaContext:
    """The context Lambda's Python runtime passes a handler (``aws_request_id``,
    ``function_name``, ``invoked_function_arn``, ``memory_limit_in_mb``, ``log_group_name``, ...).

    ``get_remaining_time_in_millis()`` counts down ``timeout_s`` in real time, or on ``timer``
    (seconds) when given; with ``remaining_ms`` it always answers that number, so a test never
    depends on how fast it runs.
    """
    function = LocalFunction(name=function_name, handler="app.handler", timeout=timeout_s,
                             memory_size=memory_mb, region=region, account_id=account_id)
    if remaining_ms is not None:
        return LambdaContext(function, request_id or str(uuid.uuid4()), remaining_ms / 1000, lambda: 0.0)
    clock = timer or time.monotonic
    return LambdaContext(function, request_id or str(uuid.uuid4()), clock() + timeout_s, clock)
