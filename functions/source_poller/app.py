"""Source poller: one tick of one source task. Event (EventBridge Scheduler): {"connector": "...", "task": 0}."""

from connect_core.runtime.lambda_support import lambda_handler

handler = lambda_handler("source_tick", metrics=True, log_event=True)
