"""Sink consumer: one SQS batch into the sink connector bound to the queue (partial batch failures)."""

from connect_core.runtime.lambda_support import lambda_handler

handler = lambda_handler("sink_batch", metrics=True)
