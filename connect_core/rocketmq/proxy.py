"""Writing through a RocketMQ 5.x proxy (gRPC) with the official client, for targets that are
reachable only that way. The remoting client is preferred wherever a broker or name server can be
reached: it batches, and it keeps born timestamps (the gRPC protocol sets its own)."""

from __future__ import annotations

import math
import os
import threading
import time
from typing import TYPE_CHECKING, Any, Callable, Iterable

from .errors import SendFailedError
from .message import Message

if TYPE_CHECKING:
    from .security import Credentials

ROUTE_ATTEMPTS = 6


class ProxyProducer:
    """A started ``rocketmq.Producer`` for a set of topics; ``send`` raises SendFailedError.
    ``credentials`` sign every gRPC request (the proxy's ACL 2.0 checks them); ``tls`` encrypts the
    channel; the official client verifies the proxy's certificate against gRPC's default roots
    (the process environment's ``GRPC_DEFAULT_SSL_ROOTS_FILE_PATH`` names another bundle)."""

    def __init__(self, endpoint: str, topics: Iterable[str], *, tls: bool = False, timeout_s: float = 5.0,
                 credentials: "Credentials | None" = None, sleep: Callable[[float], None] = time.sleep) -> None:
        self._sleep = sleep
        # The client writes its logs under $HOME/logs; in Lambda only /tmp is writable.
        if not os.access(os.path.expanduser("~"), os.W_OK):
            os.environ["HOME"] = "/tmp"
        from rocketmq import ClientConfiguration, Credentials, Producer

        # The client needs whole seconds: a float timeout breaks its route queries ("'float' object
        # cannot be interpreted as an integer", logged, then "failed to fetch topic route").
        signing = (Credentials(credentials.access_key, credentials.secret_key) if credentials is not None
                   else Credentials())
        configuration = ClientConfiguration(endpoint, signing, request_timeout=max(1, math.ceil(timeout_s)))
        self._producer = Producer(configuration, topics=tuple(sorted(set(topics))), tls_enable=tls)
        self._producer.startup()
        self._lock = threading.Lock()
        self._signed = credentials is not None

    def send(self, message: Message) -> Any:
        from rocketmq import Message as ProxyMessage

        out = ProxyMessage()
        out.topic = message.topic
        out.body = message.body
        if message.tags:
            out.tag = message.tags
        for key in message.keys:
            out.keys = key  # the client adds one key per assignment
        for name, value in message.properties.items():
            out.add_property(name, value)
        for attempt in range(ROUTE_ATTEMPTS):
            try:
                with self._lock:
                    return self._producer.send(out)
            except Exception as exc:  # the client raises bare Exceptions
                # A topic created moments ago is not in the proxy's route cache yet: wait and retry.
                if "route" in str(exc) and attempt + 1 < ROUTE_ATTEMPTS:
                    self._sleep(min(0.25 * 2 ** attempt, 2.0))
                    continue
                hint = ""
                if "route" in str(exc) and self._signed:
                    # The official client reports a refused route query (ACL) as a missing route.
                    hint = (" (with ACL on, a missing permission on the topic or refused credentials "
                            "also look like this)")
                raise SendFailedError(f"sending to {message.topic!r} through the proxy failed: {exc}{hint}") from exc

    def shutdown(self) -> None:
        self._producer.shutdown()
