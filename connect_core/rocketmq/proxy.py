"""Writing through a RocketMQ 5.x proxy (gRPC) with the official client, for targets that are
reachable only that way. The remoting client is preferred wherever a broker or name server can be
reached: it batches, and it keeps born timestamps (the gRPC protocol sets its own).

Trust: rocketmq-python-client 5.1.2 builds every TLS channel with ``grpc.ssl_channel_credentials()``,
no argument: gRPC's default roots, read once per process (its bundled public roots, or the file
``GRPC_DEFAULT_SSL_ROOTS_FILE_PATH`` names when the first TLS channel of the process is made). So a
CA of our own (``Tls.ca_file``/``ca_pem``) is applied to this producer's client alone: its channels are
made here, with that CA as root certificates, before the client would make them (``_trust``). Nothing
process-wide changes; other gRPC clients of the process keep their roots."""

from __future__ import annotations

import math
import os
import threading
import time
from typing import TYPE_CHECKING, Any, Callable, Iterable

from .errors import SendFailedError
from .message import Message

if TYPE_CHECKING:
    from .security import Credentials, Tls

ROUTE_ATTEMPTS = 6
# The official client's channel options (rpc_channel.py, 5.1.2), for the channels made here.
CHANNEL_OPTIONS = (("grpc.enable_retries", 0), ("grpc.max_send_message_length", -1),
                   ("grpc.max_receive_message_length", -1), ("grpc.use_local_subchannel_pool", 1))


class ProxyProducer:
    """A started ``rocketmq.Producer`` for a set of topics; ``send`` raises SendFailedError.
    ``credentials`` sign every gRPC request (the proxy's ACL 2.0 checks them). ``tls``: a ``Tls``
    verifies the proxy's certificate against its CA (``ca_file`` or ``ca_pem``) and host name
    (``server_name``), or with neither against gRPC's default roots, as ``tls=True`` does. gRPC
    cannot skip verification: ``Tls(verify=False)`` is refused; nor can the official client send a
    security token: credentials with one are refused rather than signed without it."""

    def __init__(self, endpoint: str, topics: Iterable[str], *, tls: "bool | Tls" = False, timeout_s: float = 5.0,
                 credentials: "Credentials | None" = None, sleep: Callable[[float], None] = time.sleep) -> None:
        if credentials is not None and credentials.security_token:
            raise ValueError("the gRPC proxy path cannot send a security token (the official client signs with "
                             "the access key and secret key only); use the remoting path for STS-style credentials")
        if not isinstance(tls, bool) and not tls.verify:
            raise ValueError("the gRPC proxy path cannot turn certificate verification off (tls_verify: false); "
                             "give the proxy's CA instead (tls_ca_file or tls_ca)")
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
        self._producer = Producer(configuration, topics=tuple(sorted(set(topics))), tls_enable=bool(tls))
        if not isinstance(tls, bool) and (tls.ca_file or tls.ca_pem or tls.server_name):
            _trust(self._producer.rpc_client, tls)
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


def _trust(rpc_client: Any, tls: "Tls") -> None:
    """Make ``rpc_client`` (one official client's) open its TLS channels with ``tls``'s CA as root
    certificates and its ``server_name`` as the name to verify. Its own ``retrieve_or_create_channel``
    still serves every request: a channel made here first is simply found there."""
    import asyncio

    import grpc
    from grpc import aio
    from rocketmq.grpc_protocol import MessagingServiceStub
    from rocketmq.v5.client.connection.rpc_channel import RpcChannel

    credentials = grpc.ssl_channel_credentials(root_certificates=_ca_bundle(tls))
    options = [*CHANNEL_OPTIONS, *((("grpc.ssl_target_name_override", tls.server_name),) if tls.server_name else ())]
    retrieve_or_create = rpc_client.retrieve_or_create_channel
    lock = type(rpc_client)._channel_lock  # the client's own, around making and storing a channel

    def channel_with_our_roots(endpoints: Any) -> Any:
        if rpc_client.channels.get(endpoints) is None:
            with lock:
                if rpc_client.channels.get(endpoints) is None:
                    channel = RpcChannel(endpoints, True)
                    if not hasattr(channel, "_RpcChannel__async_channel"):
                        raise RuntimeError("this rocketmq-python-client builds its channels differently than "
                                           "5.1.2: the TLS CA cannot be applied to the proxy path")
                    asyncio.set_event_loop(rpc_client.get_channel_io_loop())  # aio channels bind to it
                    secure = aio.secure_channel(endpoints.facade, credentials, options)
                    channel._RpcChannel__async_channel = secure
                    channel._RpcChannel__async_stub = MessagingServiceStub(secure)
                    rpc_client.channels.put(endpoints, channel)
        return retrieve_or_create(endpoints)

    rpc_client.retrieve_or_create_channel = channel_with_our_roots


def _ca_bundle(tls: "Tls") -> bytes | None:
    if tls.ca_pem:
        return tls.ca_pem.encode()
    if tls.ca_file:
        try:
            with open(tls.ca_file, "rb") as f:
                return f.read()
        except OSError as exc:
            raise ValueError(f"cannot read CA file {tls.ca_file!r}: {exc.strerror or exc}") from None
    return None
