"""Crash points inside a sandboxed source tick, for drills: loaded into every sandbox of the poller
(the local Lambda service's ``preload``), it lets a test kill the tick at an exact moment.

The test arms a point by writing its name into the file named by the function's
``CONNECT_FAULT_FILE``; the next tick to reach that point deletes the file and SIGKILLs its own
process, as an out-of-memory kill or a Lambda timeout would:

* ``pull``: a pull request is written to the broker, its answer not read;
* ``send``: a send request is written to the target, its acknowledgement not read;
* ``commit``: the target acknowledged a batch, its offsets are not committed.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path


def _crash_if_armed(point: str) -> None:
    path = os.environ.get("CONNECT_FAULT_FILE")
    if not path:
        return
    try:
        armed = Path(path).read_text().strip()
    except FileNotFoundError:
        return
    if armed == point:
        Path(path).unlink(missing_ok=True)  # one shot
        os.kill(os.getpid(), signal.SIGKILL)


def _install() -> None:
    from connect_core.rocketmq.client import RocketMQClient
    from connect_core.storage.dynamodb import DynamoDBOffsetStore

    def after(method, point):
        def wrapped(*args, **kwargs):
            call = method(*args, **kwargs)
            _crash_if_armed(point)
            return call
        return wrapped

    def before(method, point):
        def wrapped(*args, **kwargs):
            _crash_if_armed(point)
            return method(*args, **kwargs)
        return wrapped

    RocketMQClient.start_pull = after(RocketMQClient.start_pull, "pull")
    RocketMQClient.start_send = after(RocketMQClient.start_send, "send")
    DynamoDBOffsetStore.commit = before(DynamoDBOffsetStore.commit, "commit")


_install()
