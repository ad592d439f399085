"""RocketMQClient: routes from the name server; pull by explicit offset, offsets, send, topic and
consumer-offset admin against the brokers, over the remoting protocol (4.x and 5.x brokers, and the
5.x proxy's remoting port, which routes by the broker name every request carries).

Nothing connects until the first call; connections come from a process-wide pool, so a client made
in every Lambda invocation still reuses the warm connections of the last one.

Long polling: ``start_pull(..., suspend_ms=S)`` asks the broker to hold the pull while the queue has
nothing at that offset. The broker answers the moment a matching message arrives there; otherwise
it answers NO_NEW_MSG at its hold service's first check at or after S, and that service checks only
every 5 s (``PullRequestHoldService``), so the answer can come up to about 5 s after S. The
client's timeout for a long poll is S plus those 5 s plus ``timeout_s``, which a broker that is
alive always beats. A long poll is read once ``Call.ready()`` says its answer has arrived (waiting
for several at once: ``flight.wait_any``), so the one who started it never waits on the broker's hold.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Generic, Literal, TypeVar

from .codes import (BUSY_CODES, PULL_FLAG_SUBSCRIPTION, PULL_FLAG_SUSPEND, SEND_STATUS,
                    RequestCode, ResponseCode, code_name, request_name)
from .connection import ConnectionPool, shared_pool
from .errors import (AuthenticationError, BrokerBusyError, BrokerUnavailableError, PermissionDeniedError,
                     RocketMQError, SecurityError, SendFailedError, TopicNotFoundError)
from .message import (Message, MessageExt, MessageQueue, body_bytes, decode_messages, encode_batch_body,
                      encode_properties, new_unique_id)
from .protocol import RemotingCommand
from .route import ClusterInfo, TopicRoute
from .security import PLAINTEXT, Security

log = logging.getLogger(__name__)

PullStatus = Literal["FOUND", "NO_NEW_MSG", "NO_MATCHED_MSG", "OFFSET_ILLEGAL"]
SendStatus = Literal["SEND_OK", "FLUSH_DISK_TIMEOUT", "FLUSH_SLAVE_TIMEOUT", "SLAVE_NOT_AVAILABLE"]

DEFAULT_TOPIC = "TBW102"  # the template topic brokers auto-create from; sent because headers require it
DEFAULT_PRODUCER_GROUP = "CONNECT_PRODUCER"
DEFAULT_CONSUMER_GROUP = "CONNECT_PULL"

#: How often a broker's hold service looks at held pulls (fixed in PullRequestHoldService): a long
#: poll with nothing to find is answered at the first look at or after its suspend time.
BROKER_HOLD_CHECK_MS = 5_000

_PULL_STATUS = {
    ResponseCode.SUCCESS: "FOUND",
    ResponseCode.PULL_NOT_FOUND: "NO_NEW_MSG",
    ResponseCode.PULL_RETRY_IMMEDIATELY: "NO_MATCHED_MSG",
    ResponseCode.PULL_OFFSET_MOVED: "OFFSET_ILLEGAL",
}


@dataclass
class PullResult:
    """``next_offset`` is where the next pull starts; for OFFSET_ILLEGAL it is the broker's corrected offset."""

    status: PullStatus
    messages: list[MessageExt]
    next_offset: int
    min_offset: int
    max_offset: int


@dataclass
class SendResult:
    """``msg_id`` is the UNIQ_KEY (comma-joined for a batch, each also in ``msg_ids``); ``offset_msg_id``
    the broker's store id; ``status`` SEND_OK, or a durability warning for a message that was stored."""

    msg_id: str
    queue: MessageQueue
    queue_offset: int
    offset_msg_id: str | None
    status: SendStatus = "SEND_OK"
    msg_ids: tuple[str, ...] = ()
    transaction_id: str | None = None


#: Words of a NO_PERMISSION remark that mean the broker did not accept who the client is (ACL 1.0
#: and 2.0 wordings); any other refusal is a missing permission.
_AUTHENTICATION_WORDS = re.compile(r"signature|authenticat|username|access ?key|is not found|disabled|"
                                   r"no acl config|password|secret|credential", re.IGNORECASE)

#: The ACL action each request needs (ACL 2.0 names, the request headers' @RocketMQAction in 5.5.0), for
#: the hint in a permission error. Sub does not include Get: ACL 1.0's PUB/SUB never grant it.
NEEDED_ACTION = {
    RequestCode.SEND_MESSAGE: "Pub on the topic", RequestCode.SEND_MESSAGE_V2: "Pub on the topic",
    RequestCode.SEND_BATCH_MESSAGE: "Pub on the topic", RequestCode.PULL_MESSAGE: "Sub on the topic and the group",
    RequestCode.GET_MAX_OFFSET: "Get on the topic", RequestCode.GET_MIN_OFFSET: "Get on the topic",
    RequestCode.SEARCH_OFFSET_BY_TIMESTAMP: "Get on the topic",
    RequestCode.QUERY_CONSUMER_OFFSET: "Get on the topic and the group",
    RequestCode.UPDATE_CONSUMER_OFFSET: "Sub on the topic and the group",
    RequestCode.UPDATE_AND_CREATE_TOPIC: "Create or Update on the topic (an admin's)",
    RequestCode.UPDATE_AND_CREATE_SUBSCRIPTIONGROUP: "Create or Update on the group (an admin's)",
}


def refusal_kind(remark: str) -> type[SecurityError]:
    """AuthenticationError or PermissionDeniedError for a NO_PERMISSION answer's remark."""
    return AuthenticationError if _AUTHENTICATION_WORDS.search(remark or "") else PermissionDeniedError


def parse_tag_expression(expression: str | None) -> frozenset[str] | None:
    """``"a || b"`` to {"a", "b"}; None for every tag (``*`` or empty)."""
    if expression is None or expression.strip() in ("", "*"):
        return None
    tags = frozenset(t.strip() for t in expression.split("||") if t.strip())
    return tags or None


@dataclass
class _CachedRoute:
    route: TopicRoute
    expires: float


@dataclass
class _Counter:
    value: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def next(self) -> int:
        with self.lock:
            self.value += 1
            return self.value


T = TypeVar("T")


def _answer_of(answer: RemotingCommand) -> RemotingCommand:
    return answer


class Call(Generic[T]):
    """A request on its way (``start_pull``, ``start_send``): ``result()`` waits for the answer and
    returns what the blocking method would, raising what it would; ``cancel()`` gives it up.
    ``ready()`` tells without waiting whether ``result()`` would wait for the broker, ``fileno()``
    is what to wait on for that (``flight.wait_any``), and ``overdue()`` whether the broker should
    have answered by now (see ``connection.InFlight``)."""

    __slots__ = ("_request", "_finish", "_client", "_topic")

    def __init__(self, request: Any, finish: Callable[[RemotingCommand], T], client: "RocketMQClient",
                 topic: str) -> None:
        self._request, self._finish, self._client, self._topic = request, finish, client, topic

    def result(self) -> T:
        try:
            answer = self._request.answer()
        except BrokerUnavailableError:
            self._client.invalidate_route(self._topic)  # a restarted or replaced broker may have a new address
            raise
        return self._finish(answer)

    def cancel(self) -> None:
        self._request.cancel()

    def ready(self) -> bool:
        return self._request.ready()

    def fileno(self) -> int:
        return self._request.fileno()

    def arrived(self) -> bool:
        return self._request.arrived()

    def overdue(self) -> bool:
        return self._request.overdue()


class RocketMQClient:
    """A remoting client for one name server set (``"host:port;host:port"``).

    ``via_proxy=True`` when ``namesrv_addr`` is a 5.x proxy's remoting port: every request then goes to
    the proxy, which forwards by broker name (a Local-mode proxy's routes name its gRPC port instead of
    its remoting port, so the route's addresses cannot be used).

    ``security``: TLS for every connection (name servers and brokers) and credentials that sign every
    request (``security.Security``). ``cluster``: a name for the cluster, used in error messages.
    A request the cluster refuses for who the client is raises AuthenticationError or
    PermissionDeniedError, a TLS failure TlsError (all SecurityError: the configuration must change)."""

    def __init__(self, namesrv_addr: str, *, timeout_s: float = 5.0, route_ttl_s: float = 30.0,
                 producer_group: str = DEFAULT_PRODUCER_GROUP, pool: ConnectionPool | None = None,
                 via_proxy: bool = False, security: Security | None = None, cluster: str | None = None) -> None:
        self.namesrv_addrs = [a.strip() for a in re.split(r"[;,]", namesrv_addr or "") if a.strip()]
        if not self.namesrv_addrs:
            raise ValueError(f"no name server address in {namesrv_addr!r}")
        if timeout_s <= 0:
            raise ValueError("timeout_s must be positive")
        self.timeout_s = timeout_s
        self.route_ttl_s = route_ttl_s
        self.producer_group = producer_group
        self.via_proxy = via_proxy
        self.security = security or PLAINTEXT
        self.cluster = cluster
        self._pool = pool
        self._routes: dict[str, _CachedRoute] = {}
        self._lock = threading.Lock()
        self._namesrv_index = 0
        self._send_counter = _Counter()
        self._closed = False

    # ------------------------------------------------------------------------------------------ plumbing

    @property
    def pool(self) -> ConnectionPool:
        return self._pool if self._pool is not None else shared_pool(self.security.tls)

    def __repr__(self) -> str:
        return (f"<RocketMQClient {self.cluster or ''} namesrv={';'.join(self.namesrv_addrs)} "
                f"({self.security.describe()})>")

    def _command(self, code: int, fields: dict[str, object] | None, body: bytes) -> RemotingCommand:
        cmd = RemotingCommand.request(code, fields, body)
        credentials = self.security.credentials
        return credentials.sign(cmd) if credentials is not None else cmd

    def close(self) -> None:
        """Forget cached routes. Pooled connections stay open for the next client (and invocation);
        ``connect_core.rocketmq.close_connections()`` closes them."""
        with self._lock:
            self._routes.clear()
        self._closed = True

    def __enter__(self) -> "RocketMQClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _request(self, addr: str, code: int, fields: dict[str, object] | None = None, body: bytes = b"", *,
                 timeout_s: float | None = None) -> RemotingCommand:
        if self._closed:
            raise RocketMQError("the client is closed")
        cmd = self._command(code, fields, body)
        try:
            return self.pool.request(addr, cmd, timeout_s or self.timeout_s)
        except SecurityError as e:
            raise self._located(e) from None

    def _namesrv_request(self, code: int, fields: dict[str, object] | None = None) -> tuple[str, RemotingCommand]:
        """Ask the name servers in turn, starting with the last one that answered."""
        n = len(self.namesrv_addrs)
        last_error: BrokerUnavailableError | None = None
        for i in range(n):
            index = (self._namesrv_index + i) % n
            addr = self.namesrv_addrs[index]
            try:
                answer = self._request(addr, code, fields)
            except BrokerUnavailableError as e:
                last_error = e
                continue
            self._namesrv_index = index
            return addr, answer
        assert last_error is not None
        kind = type(last_error) if isinstance(last_error, SecurityError) else BrokerUnavailableError
        raise kind(f"no name server answered ({'; '.join(self.namesrv_addrs)}): {last_error}",
                   addr=last_error.addr) from None

    @property
    def where(self) -> str:
        """The cluster, for error messages: its name (when given) and name servers."""
        servers = ";".join(self.namesrv_addrs)
        return f"cluster {self.cluster!r} (name servers {servers})" if self.cluster else f"cluster at {servers}"

    def _located(self, error: SecurityError) -> SecurityError:
        """A connection-level security failure, with the cluster and what the client used added."""
        return type(error)(f"{self.where}: {error} [{self.security.describe()}]", code=error.code,
                           remark=error.remark, addr=error.addr)

    def _fail(self, answer: RemotingCommand, what: str, addr: str,
              error: type[RocketMQError] = RocketMQError) -> RocketMQError:
        remark = (answer.remark or "").strip()
        text = f"{what} failed on {addr}: {code_name(answer.code)}" + (f": {remark}" if remark else "")
        if answer.code == ResponseCode.TOPIC_NOT_EXIST:
            error = TopicNotFoundError
        elif answer.code in BUSY_CODES:
            error = BrokerBusyError
        elif answer.code == ResponseCode.NO_PERMISSION:
            error = refusal_kind(remark)
            request = request_name(answer.request_code) if answer.request_code is not None else "the request"
            needed = NEEDED_ACTION.get(answer.request_code) if error is PermissionDeniedError else None  # type: ignore[call-overload]
            text = (f"{self.where}: {what}: {request} refused by {addr}: {code_name(answer.code)}"
                    + (f": {remark}" if remark else "") + (f" ({request} needs {needed})" if needed else "")
                    + f" [{self.security.describe()}]")
        return error(text, code=answer.code, remark=answer.remark, addr=addr)

    # ------------------------------------------------------------------------------------------- routes

    def topic_route(self, topic: str, *, refresh: bool = False) -> TopicRoute:
        """The topic's brokers and queues, cached for ``route_ttl_s``. TopicNotFoundError when the
        name server knows no broker serving it."""
        now = time.monotonic()
        with self._lock:
            cached = self._routes.get(topic)
        if cached is not None and not refresh and cached.expires > now:
            return cached.route
        addr, answer = self._namesrv_request(RequestCode.GET_ROUTEINFO_BY_TOPIC,
                                             {"topic": topic, "acceptStandardJsonOnly": True})
        if answer.code == ResponseCode.TOPIC_NOT_EXIST:
            self.invalidate_route(topic)
            raise TopicNotFoundError(f"topic {topic!r} does not exist: the name server {addr} has no route for it",
                                     code=answer.code, remark=answer.remark, addr=addr)
        if answer.code != ResponseCode.SUCCESS:
            raise self._fail(answer, f"route lookup of topic {topic!r}", addr)
        route = TopicRoute.from_json(topic, answer.body)
        with self._lock:
            self._routes[topic] = _CachedRoute(route, now + self.route_ttl_s)
        return route

    def invalidate_route(self, topic: str | None = None) -> None:
        with self._lock:
            if topic is None:
                self._routes.clear()
            else:
                self._routes.pop(topic, None)

    def message_queues(self, topic: str) -> list[MessageQueue]:
        """Readable queues, sorted by (broker name, queue id)."""
        return list(self.topic_route(topic).readable_queues)

    def writable_queues(self, topic: str) -> list[MessageQueue]:
        """Writable queues on brokers with a master, sorted by (broker name, queue id)."""
        return list(self.topic_route(topic).writable_queues)

    def cluster_info(self) -> ClusterInfo:
        addr, answer = self._namesrv_request(RequestCode.GET_BROKER_CLUSTER_INFO)
        if answer.code != ResponseCode.SUCCESS:
            raise self._fail(answer, "cluster info", addr)
        return ClusterInfo.from_json(answer.body)

    def broker_addr(self, mq: MessageQueue, *, master: bool = False) -> str:
        """The address serving the queue's broker: its master, or for reads any replica when no master is known."""
        for refresh in (False, True):
            broker = self.topic_route(mq.topic, refresh=refresh).brokers.get(mq.broker_name)
            addr = None if broker is None else (broker.master_addr if master else broker.any_addr())
            if addr:
                return self.namesrv_addrs[self._namesrv_index] if self.via_proxy else addr
        raise BrokerUnavailableError(
            f"broker {mq.broker_name!r} has no {'master ' if master else ''}address in the route of topic "
            f"{mq.topic!r}: it is down, or serves no queue of this topic")

    def _broker_request(self, mq: MessageQueue, code: int, fields: dict[str, object], body: bytes = b"", *,
                        master: bool = False, timeout_s: float | None = None) -> tuple[str, RemotingCommand]:
        addr, request = self._begin(mq, code, fields, body, master=master, timeout_s=timeout_s)
        return addr, Call(request, _answer_of, self, mq.topic).result()

    def _begin(self, mq: MessageQueue, code: int, fields: dict[str, object], body: bytes = b"", *,
               master: bool = False, timeout_s: float | None = None, **options: Any) -> tuple[str, Any]:
        """Write a request for ``mq``'s broker; returns the address and the request in flight.
        ``options``: ``resend``, ``connect_timeout_s`` of ``ConnectionPool.begin`` (passed only when
        given, so that a stand-in pool, as the CPU benchmark's in-memory broker, needs none)."""
        if self._closed:
            raise RocketMQError("the client is closed")
        addr = self.broker_addr(mq, master=master)
        # bname: the 5.x proxy forwards by it; brokers ignore it.
        cmd = self._command(code, {**fields, "bname": mq.broker_name}, body)
        try:
            return addr, self.pool.begin(addr, cmd, timeout_s or self.timeout_s, **options)
        except SecurityError as e:
            raise self._located(e) from None
        except BrokerUnavailableError:
            self.invalidate_route(mq.topic)  # a restarted or replaced broker may have a new address
            raise

    # --------------------------------------------------------------------------------------------- pull

    def pull(self, mq: MessageQueue, offset: int, *, max_messages: int = 32, tag_expression: str = "*",
             consumer_group: str = DEFAULT_CONSUMER_GROUP, suspend_ms: int = 0) -> PullResult:
        """Messages of ``mq`` from queue offset ``offset`` on. The broker filters by tag hash; the exact
        tag match is done here as the Java client does. ``suspend_ms`` > 0 long-polls for new messages."""
        return self.start_pull(mq, offset, max_messages=max_messages, tag_expression=tag_expression,
                               consumer_group=consumer_group, suspend_ms=suspend_ms).result()

    def start_pull(self, mq: MessageQueue, offset: int, *, max_messages: int = 32, tag_expression: str = "*",
                   consumer_group: str = DEFAULT_CONSUMER_GROUP, suspend_ms: int = 0,
                   connect_timeout_s: float | None = None) -> "Call[PullResult]":
        """``pull`` without waiting: the request is written now, ``result()`` reads and decodes the
        answer. Pulls of several queues started one after another are served at the same time.
        A long poll (``suspend_ms`` > 0) is best read once ``ready()``: until a message arrives the
        broker holds it for ``suspend_ms`` and up to ``BROKER_HOLD_CHECK_MS`` more. Opening a new
        connection for it takes at most ``connect_timeout_s`` (default ``timeout_s``)."""
        if max_messages <= 0:
            raise ValueError("max_messages must be positive")
        suspend_ms = max(int(suspend_ms), 0)
        sys_flag = PULL_FLAG_SUBSCRIPTION | (PULL_FLAG_SUSPEND if suspend_ms else 0)
        fields = {
            "consumerGroup": consumer_group, "topic": mq.topic, "queueId": mq.queue_id, "queueOffset": offset,
            "maxMsgNums": max_messages, "sysFlag": sys_flag, "commitOffset": 0,
            "suspendTimeoutMillis": suspend_ms, "subscription": tag_expression or "*",
            "subVersion": int(time.time() * 1000), "expressionType": "TAG",
        }
        timeout_s: float | None = None
        options: dict[str, Any] = {}
        if connect_timeout_s is not None:
            options["connect_timeout_s"] = min(connect_timeout_s, self.timeout_s)
        if suspend_ms:
            # The broker's answer to a held pull comes up to one hold check after the suspend time;
            # connecting stays bounded by the usual timeout. A long poll is not written again on a
            # fresh connection when its reused one turns out broken: whoever reads it once ready()
            # would then wait on the broker's hold.
            timeout_s = self.timeout_s + (suspend_ms + BROKER_HOLD_CHECK_MS) / 1000
            options["resend"] = False
            options.setdefault("connect_timeout_s", self.timeout_s)
        addr, request = self._begin(mq, RequestCode.PULL_MESSAGE, fields, timeout_s=timeout_s, **options)

        def finish(answer: RemotingCommand) -> PullResult:
            status = _PULL_STATUS.get(answer.code)
            if status is None:
                raise self._fail(answer, f"pull of {mq.topic}/{mq.broker_name}/{mq.queue_id} at {offset}", addr)
            ext = answer.ext_fields
            result = PullResult(status=status, messages=[], next_offset=int(ext.get("nextBeginOffset", offset)),
                                min_offset=int(ext.get("minOffset", 0)), max_offset=int(ext.get("maxOffset", 0)))
            if status == "FOUND":
                messages = decode_messages(answer.body, broker_name=mq.broker_name)
                wanted = parse_tag_expression(tag_expression)
                if wanted is not None:
                    messages = [m for m in messages if m.tags in wanted]
                result.messages = messages
                if not messages:
                    result.status = "NO_MATCHED_MSG"
            return result

        return Call(request, finish, self, mq.topic)

    # ------------------------------------------------------------------------------------------ offsets

    def _offset(self, mq: MessageQueue, code: int, what: str, extra: dict[str, object] | None = None) -> int:
        addr, answer = self._broker_request(mq, code, {"topic": mq.topic, "queueId": mq.queue_id, **(extra or {})})
        if answer.code != ResponseCode.SUCCESS:
            raise self._fail(answer, f"{what} of {mq.topic}/{mq.broker_name}/{mq.queue_id}", addr)
        return int(answer.ext_fields["offset"])

    def min_offset(self, mq: MessageQueue) -> int:
        return self._offset(mq, RequestCode.GET_MIN_OFFSET, "min offset")

    def max_offset(self, mq: MessageQueue) -> int:
        """The offset the next message will get (one past the last stored message)."""
        return self._offset(mq, RequestCode.GET_MAX_OFFSET, "max offset")

    def message_count(self, topic: str) -> int:
        """Messages the topic's readable queues hold now (max minus min offset, summed). A send
        returns before the broker indexes the message, so this can trail a send by milliseconds."""
        return sum(self.max_offset(mq) - self.min_offset(mq) for mq in self.message_queues(topic))

    def wait_for_messages(self, topic: str, count: int, *, timeout_s: float = 20.0) -> int:
        """Wait until the topic's queues hold at least ``count`` messages; returns how many they hold.
        (A send returns once the commit log has the message; its queue shows it a moment later.)
        Raises TimeoutError when they do not within ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        while (held := self.message_count(topic)) < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"topic {topic!r} holds {held} messages, not {count}, after {timeout_s:g}s")
            time.sleep(0.05)
        return held

    def read_all(self, topic: str) -> list[MessageExt]:
        """Every message the topic's readable queues hold, queue by queue from the minimum offset."""
        out: list[MessageExt] = []
        for mq in self.message_queues(topic):
            offset = self.min_offset(mq)
            while (result := self.pull(mq, offset)).status == "FOUND":
                out.extend(result.messages)
                offset = result.next_offset
        return out

    def offset_for_timestamp(self, mq: MessageQueue, timestamp_ms: int) -> int:
        """The offset of the first message stored at or after ``timestamp_ms``; the max offset when
        there is none."""
        offset = self._offset(mq, RequestCode.SEARCH_OFFSET_BY_TIMESTAMP, "offset search",
                              {"timestamp": int(timestamp_ms)})
        # 5.x brokers answer the first message at or after the time; 4.x brokers the last one before it.
        found = self.pull(mq, offset, max_messages=1)
        if found.status == "FOUND" and found.messages and found.messages[0].store_timestamp < timestamp_ms:
            return offset + 1
        return offset

    def query_consumer_offset(self, group: str, mq: MessageQueue) -> int | None:
        """The group's committed offset for ``mq``; None when it never committed one. (4.x brokers answer
        0 instead of None while the queue still holds its first message.)"""
        addr, answer = self._broker_request(
            mq, RequestCode.QUERY_CONSUMER_OFFSET,
            {"consumerGroup": group, "topic": mq.topic, "queueId": mq.queue_id, "setZeroIfNotFound": False})
        if answer.code == ResponseCode.QUERY_NOT_FOUND:
            return None
        if answer.code != ResponseCode.SUCCESS:
            raise self._fail(answer, f"consumer offset query of group {group!r}", addr)
        return int(answer.ext_fields["offset"])

    def update_consumer_offset(self, group: str, mq: MessageQueue, offset: int) -> None:
        """Commit ``offset`` for the group on the queue's master; creates the group on that broker first
        when it does not exist there."""
        fields = {"consumerGroup": group, "topic": mq.topic, "queueId": mq.queue_id, "commitOffset": int(offset)}
        addr, answer = self._broker_request(mq, RequestCode.UPDATE_CONSUMER_OFFSET, fields, master=True)
        if answer.code == ResponseCode.SUBSCRIPTION_GROUP_NOT_EXIST:
            try:
                self.create_consumer_group(group, broker_addrs=[addr])
            except RocketMQError as e:
                if e.code != ResponseCode.REQUEST_CODE_NOT_SUPPORTED:
                    raise
                # A proxy takes no admin requests; a pull makes the broker create the group itself
                # (autoCreateSubscriptionGroup, on by default).
                self.pull(mq, 0, max_messages=1, consumer_group=group)
            addr, answer = self._broker_request(mq, RequestCode.UPDATE_CONSUMER_OFFSET, fields, master=True)
        if answer.code != ResponseCode.SUCCESS:
            raise self._fail(answer, f"consumer offset update of group {group!r}", addr)

    # --------------------------------------------------------------------------------------------- send

    def _pick_queue(self, topic: str) -> MessageQueue:
        queues = self.writable_queues(topic)
        if not queues:
            raise TopicNotFoundError(f"topic {topic!r} has no writable queue")
        return queues[self._send_counter.next() % len(queues)]

    def send(self, message: Message, *, queue: MessageQueue | None = None) -> SendResult:
        """Send one message (SEND_MESSAGE_V2) to ``queue``, or round-robin over the writable queues."""
        if queue is None:
            queue = self._pick_queue(message.topic)
        return self._start_single(message, queue).result()

    def send_batch(self, messages: list[Message], *, queue: MessageQueue) -> SendResult:
        """Send messages of one topic to one queue (SEND_BATCH_MESSAGE). The broker stores one born
        timestamp per request, so consecutive messages with the same born timestamp go in one request
        and a change of born timestamp starts the next: one request when they all share one (or none
        is set), up to one per message for replicated messages. The result describes them all:
        ``queue_offset`` is the first message's, ``msg_ids`` every UNIQ_KEY in order."""
        if not messages:
            raise ValueError("send_batch needs at least one message")
        now = int(time.time() * 1000)
        runs: list[tuple[int, list[tuple[int, bytes, bytes]], list[str]]] = []
        for m in messages:
            unique_id, entry = self._batch_entry(m, queue)
            born = int(m.born_timestamp) if m.born_timestamp is not None else now
            if runs and runs[-1][0] == born:
                runs[-1][1].append(entry)
                runs[-1][2].append(unique_id)
            else:
                runs.append((born, [entry], [unique_id]))
        results = [self._start_batch(queue, born, entries, ids).result() for born, entries, ids in runs]
        if len(results) == 1:
            return results[0]
        ids = tuple(i for r in results for i in r.msg_ids)
        return SendResult(msg_id=",".join(ids), queue=results[0].queue, queue_offset=results[0].queue_offset,
                          offset_msg_id=",".join(r.offset_msg_id for r in results if r.offset_msg_id) or None,
                          status=next((r.status for r in results if r.status != "SEND_OK"), "SEND_OK"),
                          msg_ids=ids)

    def start_send(self, messages: list[Message], *, queue: MessageQueue) -> "Call[SendResult]":
        """One send request, without waiting for the answer (``result()`` reads it): one message as
        SEND_MESSAGE_V2, several as one SEND_BATCH_MESSAGE stamped with the first message's born
        timestamp (pass messages of one born timestamp to keep each exact). Sends to different queues
        started one after another are served at the same time; to keep one queue's messages in order,
        start its next send only after the last one's result."""
        if not messages:
            raise ValueError("start_send needs at least one message")
        if len(messages) == 1:
            return self._start_single(messages[0], queue)
        entries, ids = [], []
        for m in messages:
            unique_id, entry = self._batch_entry(m, queue)
            entries.append(entry)
            ids.append(unique_id)
        first = messages[0].born_timestamp
        return self._start_batch(queue, int(first) if first is not None else int(time.time() * 1000), entries, ids)

    def _start_single(self, message: Message, queue: MessageQueue) -> "Call[SendResult]":
        if queue.topic != message.topic:
            raise ValueError(f"message topic {message.topic!r} differs from the queue's topic {queue.topic!r}")
        unique_id = message.unique_id or new_unique_id()
        properties = encode_properties(message, unique_id).decode("utf-8")  # a header carries them as text
        body = body_bytes(message)
        born = int(message.born_timestamp) if message.born_timestamp is not None else int(time.time() * 1000)
        addr, request = self._begin(queue, RequestCode.SEND_MESSAGE_V2,
                                    self._send_header(queue, born, message.flag, properties, batch=False),
                                    body, master=True)
        return Call(request, lambda answer: self._send_result(answer, addr, queue, unique_id, (unique_id,)),
                    self, queue.topic)

    @staticmethod
    def _batch_entry(m: Message, queue: MessageQueue) -> tuple[str, tuple[int, bytes, bytes]]:
        if m.topic != queue.topic:
            raise ValueError(f"batch message topic {m.topic!r} differs from the queue's topic {queue.topic!r}")
        unique_id = m.unique_id or new_unique_id()
        return unique_id, (int(m.flag), body_bytes(m), encode_properties(m, unique_id))

    def _start_batch(self, queue: MessageQueue, born: int, entries: list[tuple[int, bytes, bytes]],
                     ids: list[str]) -> "Call[SendResult]":
        addr, request = self._begin(queue, RequestCode.SEND_BATCH_MESSAGE,
                                    self._send_header(queue, born, 0, None, batch=True),
                                    encode_batch_body(entries), master=True)
        msg_ids = tuple(ids)
        return Call(request, lambda answer: self._send_result(answer, addr, queue, ",".join(msg_ids), msg_ids),
                    self, queue.topic)

    def _send_header(self, queue: MessageQueue, born: int, flag: int, properties: str | None, *,
                     batch: bool) -> dict[str, object]:
        # SendMessageRequestHeaderV2: short names a..n. n (broker name) is what the 5.x proxy routes by.
        return {"a": self.producer_group, "b": queue.topic, "c": DEFAULT_TOPIC, "d": 4, "e": queue.queue_id,
                "f": 0, "g": born, "h": int(flag), "i": properties,
                "j": 0, "k": False, "m": batch, "n": queue.broker_name}

    def _send_result(self, answer: RemotingCommand, addr: str, queue: MessageQueue, msg_id: str,
                     ids: tuple[str, ...]) -> SendResult:
        status = SEND_STATUS.get(answer.code)
        if status is None:
            raise self._fail(answer, f"send to {queue.topic}/{queue.broker_name}/{queue.queue_id}", addr,
                             SendFailedError)
        ext = answer.ext_fields
        return SendResult(msg_id=msg_id, queue=MessageQueue(queue.broker_name, queue.topic,
                                                            int(ext.get("queueId", queue.queue_id))),
                          queue_offset=int(ext.get("queueOffset", -1)), offset_msg_id=ext.get("msgId"),
                          status=status, msg_ids=ids, transaction_id=ext.get("transactionId"))

    # -------------------------------------------------------------------------------------------- admin

    def _master_addrs(self, cluster: str | None) -> list[str]:
        info = self.cluster_info()
        if cluster is not None:
            if cluster not in info.clusters:
                raise RocketMQError(f"cluster {cluster!r} is unknown to the name server; it knows "
                                    f"{sorted(info.clusters) or 'none'}")
            names = info.clusters[cluster]
        else:
            names = sorted(info.brokers)
        addrs = [info.brokers[n].master_addr for n in names if n in info.brokers]
        addrs = [a for a in addrs if a]
        if not addrs:
            where = f" in cluster {cluster!r}" if cluster else ""
            raise BrokerUnavailableError(f"no master broker is registered{where}")
        return addrs

    def create_topic(self, topic: str, *, read_queues: int = 4, write_queues: int = 4, perm: int = 6,
                     message_type: str | None = None, cluster: str | None = None) -> None:
        """Create or update the topic on every master of ``cluster`` (every master the name server
        knows when None). ``message_type``: NORMAL, FIFO, DELAY or TRANSACTION (5.x brokers)."""
        fields: dict[str, object] = {
            "topic": topic, "defaultTopic": DEFAULT_TOPIC, "readQueueNums": read_queues,
            "writeQueueNums": write_queues, "perm": perm, "topicFilterType": "SINGLE_TAG", "topicSysFlag": 0,
            "order": False,
        }
        if message_type is not None:
            fields["attributes"] = f"+message.type={message_type.upper()}"
        for addr in self._master_addrs(cluster):
            answer = self._request(addr, RequestCode.UPDATE_AND_CREATE_TOPIC, fields)
            if answer.code != ResponseCode.SUCCESS:
                raise self._fail(answer, f"create topic {topic!r}", addr)
        self.invalidate_route(topic)

    def create_consumer_group(self, group: str, *, cluster: str | None = None,
                              broker_addrs: list[str] | None = None) -> None:
        """Create the subscription group on the given brokers (every master of ``cluster`` by default)."""
        body = json.dumps({"groupName": group, "consumeEnable": True, "consumeFromMinEnable": True,
                           "consumeBroadcastEnable": True, "retryQueueNums": 1, "retryMaxTimes": 16,
                           "brokerId": 0, "whichBrokerWhenConsumeSlowly": 1}).encode()
        for addr in broker_addrs or self._master_addrs(cluster):
            answer = self._request(addr, RequestCode.UPDATE_AND_CREATE_SUBSCRIPTIONGROUP, None, body)
            if answer.code != ResponseCode.SUCCESS:
                raise self._fail(answer, f"create consumer group {group!r}", addr)


__all__ = ["PullResult", "RocketMQClient", "SendResult", "parse_tag_expression"]
