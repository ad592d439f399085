"""Failover: the Lambda step of the failover state machine (advance a run, or mark it failed)."""

from connect_core.runtime.lambda_support import lambda_handler

handler = lambda_handler("failover_step", log_event=True)
