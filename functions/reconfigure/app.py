"""Reconfigure: the Lambda steps (prepare, commit, abort) of the reconfigure state machine."""

from connect_core.runtime.lambda_support import lambda_handler

handler = lambda_handler("reconfigure_step", log_event=True)
