"""Waiting for sent messages to be readable: a send returns before the broker has indexed the
message into its queue (a few milliseconds), so tests that read right after sending wait first."""

import time


def wait_for_messages(client, topic: str, total: int, timeout: float = 20.0) -> None:
    """Until the topic holds ``total`` messages (never a timing assertion: the wait just ends)."""
    deadline = time.monotonic() + timeout
    while client.message_count(topic) < total:
        assert time.monotonic() < deadline, f"{topic} never reached {total} messages"
        time.sleep(0.05)
