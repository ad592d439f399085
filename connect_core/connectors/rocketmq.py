"""``rocketmq-source`` and ``rocketmq-sink``: RocketMQ topics as a source and as a target.

The source reads message queues by explicit offset over the remoting protocol (the 5.x gRPC proxy
cannot pull by offset): partition = ``{cluster, broker, topic, queue}``, offset =
``{queue_offset}`` (the next offset to read), kept in the offset store like every other source's.
Records carry every message attribute: the body as the value (bytes), the keys as the key, user
properties as headers under their own names, and the system attributes as ``rocketmq.*`` headers.

In continuous polling the runtime calls ``wait`` after a poll that found nothing, and the source
long-polls: each idle queue gets one pull that the broker holds until a message arrives there
(or about 15 s pass), all of them in flight from the task's one thread and waited on together, so
a message is read the moment it is stored, and an idle queue costs one held request every 15-20 s
and no CPU in between. A
poll takes a long poll's answer in place of a pull, and takes one still held for "nothing new
there yet" instead of waiting on it (``RocketMQSourceTask``).

The sink writes records back as messages: ``rocketmq.tags``/keys/user properties are restored,
records with the same key go to the same queue (ordering by key), and each queue's records go out
in one batch send.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import zlib
from collections import defaultdict
from typing import TYPE_CHECKING, Any, Callable, Literal, Mapping, Sequence

from pydantic import BaseModel, Field, field_validator, model_validator

from ..api import ConnectRecord, OffsetMap, Partition, SinkConnector, SinkTask, SourceConnector, SourceTask
from ..config import SecretRef, SinkConnectorConfig, SourceConnectorConfig
from ..config.base import BytesConverterConfig, ConverterConfig
from ..errors import ConfigError

if TYPE_CHECKING:
    from ..rocketmq import MessageExt, MessageQueue, RocketMQClient
    from ..rocketmq.client import Call, PullResult
    from ..rocketmq.security import Security

logger = logging.getLogger("connect_core.connectors.rocketmq")

#: Header names of the system attributes a source record carries (user properties keep their names).
H_TOPIC, H_TAGS, H_KEYS = "rocketmq.topic", "rocketmq.tags", "rocketmq.keys"
H_MSG_ID, H_UNIQ_ID = "rocketmq.msg_id", "rocketmq.unique_id"
H_QUEUE, H_OFFSET, H_BROKER, H_CLUSTER = "rocketmq.queue_id", "rocketmq.queue_offset", "rocketmq.broker", "rocketmq.cluster"
H_BORN_TS, H_BORN_HOST = "rocketmq.born_timestamp", "rocketmq.born_host"
H_STORE_TS, H_STORE_HOST = "rocketmq.store_timestamp", "rocketmq.store_host"
H_RECONSUME, H_FLAG = "rocketmq.reconsume_times", "rocketmq.flag"
SYSTEM_PREFIX = "rocketmq."
#: Headers that are bookkeeping, not user properties of a message written back to RocketMQ.
NOT_USER_PROPERTIES = (SYSTEM_PREFIX, "connect.replication.")

_NAMESRV = r"^[A-Za-z0-9.\-\[\]:]+:\d{1,5}(;[A-Za-z0-9.\-\[\]:]+:\d{1,5})*$"

_clients: dict[tuple[str, "Security | None"], "RocketMQClient"] = {}
_clients_lock = threading.Lock()


def client_for(namesrv_addr: str, security: "Security | None" = None, *,
               cluster: str | None = None) -> "RocketMQClient":
    """One client per name server list and security settings (TLS, credentials) per process, reused
    across warm invocations; a rotated secret resolves to new settings, so to a new client.
    ``cluster`` names the cluster in error messages (the first name given for a client is kept)."""
    key = (namesrv_addr, security if security is not None and security.enabled else None)
    client = _clients.get(key)
    if client is None:
        with _clients_lock:
            client = _clients.get(key)
            if client is None:
                from ..rocketmq import RocketMQClient

                client = _clients[key] = RocketMQClient(namesrv_addr, security=key[1], cluster=cluster)
    if cluster is not None and client.cluster is None:
        client.cluster = cluster
    return client


class ClusterSecurity(BaseModel):
    """TLS and ACL credentials for one cluster (flat fields, shared by every RocketMQ config)."""

    tls: bool = Field(False, description="Connect to the name servers and brokers with TLS (the cluster runs "
                                         "tls.server.mode=enforcing or permissive).")
    tls_verify: bool = Field(True, description="Verify the servers' certificates and host names (the default). "
                                               "false encrypts without knowing who answers: only for test "
                                               "clusters with throwaway certificates.")
    tls_ca_file: str | None = Field(None, min_length=1,
                                    description="Path to a PEM CA bundle to verify the servers against (e.g. "
                                                "shipped in a layer), instead of the system trust store: only "
                                                "its CAs are trusted.")
    tls_ca: SecretRef | None = Field(None, description="Reference to a secret or SSM parameter holding the PEM "
                                                       "CA bundle, instead of tls_ca_file (and, like it, of the "
                                                       "system trust store).")
    tls_server_name: str | None = Field(None, min_length=1,
                                        description="Host name to verify in every server certificate, when "
                                                    "the servers are reached by addresses their certificates "
                                                    "do not name.")
    access_key: SecretRef | None = Field(None, description="Reference to the ACL user's access key (ACL 1.0 "
                                                           "accessKey, ACL 2.0 username); every request is "
                                                           "signed. Needs secret_key.")
    secret_key: SecretRef | None = Field(None, description="Reference to the ACL user's secret key (ACL 2.0 "
                                                           "password). Never logged or shown.")
    security_token: SecretRef | None = Field(None, description="Reference to a security token sent with every "
                                                               "request (STS-style credentials), optional. "
                                                               "Remoting only: refused with a sink's "
                                                               "proxy_endpoint, whose gRPC client cannot send it.")

    @model_validator(mode="after")
    def _security_settings(self) -> "ClusterSecurity":
        if (self.access_key is None) != (self.secret_key is None):
            raise ValueError("set access_key and secret_key together (both are secret references)")
        if self.security_token is not None and self.access_key is None:
            raise ValueError("security_token needs access_key and secret_key")
        if not self.tls and (self.tls_ca_file or self.tls_ca or self.tls_server_name or not self.tls_verify):
            raise ValueError("tls_verify, tls_ca_file, tls_ca and tls_server_name need tls: true")
        if self.tls_ca_file and self.tls_ca:
            raise ValueError("set one of tls_ca_file and tls_ca")
        return self

    def has_security(self) -> bool:
        return self.tls or self.access_key is not None

    def security(self) -> "Security | None":
        """The settings with the secrets resolved (cached by the secret providers for 5 minutes)."""
        if not self.has_security():
            return None
        from ..rocketmq.security import Credentials, Security, Tls

        tls = None
        if self.tls:
            tls = Tls(ca_file=self.tls_ca_file, verify=self.tls_verify, server_name=self.tls_server_name,
                      ca_pem=self.tls_ca.resolve().get_secret_value() if self.tls_ca else None)
        credentials = None
        if self.access_key is not None and self.secret_key is not None:
            credentials = Credentials(
                self.access_key.resolve().get_secret_value(), self.secret_key.resolve().get_secret_value(),
                self.security_token.resolve().get_secret_value() if self.security_token else None)
        return Security(tls=tls, credentials=credentials)


# -- source --------------------------------------------------------------------------------------

class RocketMQSourceConfig(SourceConnectorConfig, ClusterSecurity):
    namesrv_addr: str = Field(pattern=_NAMESRV, description="Name server address(es), 'host:port;host:port'.")
    cluster: str = Field("default", min_length=1, max_length=64,
                         description="A name for this cluster in partitions and headers (e.g. the region), "
                                     "so offsets of two clusters never mix.")
    topics: list[str] = Field(min_length=1, description="Topics to read.")
    tag_filter: str = Field("*", description="Tag expression, e.g. 'TagA || TagB'; '*' reads every message.")
    start: Literal["earliest", "latest", "timestamp"] = Field(
        "earliest", description="Where a queue without a committed offset starts.")
    start_timestamp_ms: int | None = Field(None, ge=0, description="With start: timestamp, the time to start at.")
    pull_batch_size: int = Field(32, ge=1, le=1024, description="Messages per pull request.")
    max_poll_records: int = Field(2000, ge=1, le=100_000, description="Most records one poll returns.")
    pull_concurrency: int = Field(4, ge=1, le=64, description="Pull requests in flight at the same time, at most "
                                                              "one per queue; 1 pulls the queues one after another "
                                                              "and reads nothing ahead.")
    value_converter: ConverterConfig = Field(default_factory=BytesConverterConfig,
                                             description="Message bodies are bytes; default bytes.")
    polling: Literal["continuous", "drain"] = Field(
        "continuous", description="'continuous' (the default here): a tick long-polls the brokers while "
                                  "the topics are idle and hands the task over to the next tick, so messages "
                                  "move within the pipeline's latency. 'drain': a tick ends once the queues "
                                  "are caught up (cheaper while the topics are mostly idle; messages wait up "
                                  "to a schedule period).")

    @model_validator(mode="after")
    def _start_timestamp(self) -> "RocketMQSourceConfig":
        if self.start == "timestamp" and self.start_timestamp_ms is None:
            raise ValueError("start: timestamp needs start_timestamp_ms")
        return self

    def client(self) -> "RocketMQClient":
        """The (process-wide) client of the cluster read, with its TLS and credentials."""
        return client_for(self.namesrv_addr, self.security(), cluster=self.cluster)


def queue_partition(cluster: str, mq: "MessageQueue") -> dict[str, Any]:
    return {"cluster": cluster, "broker": mq.broker_name, "topic": mq.topic, "queue": mq.queue_id}


def split_queues(queues: Sequence[Any], max_tasks: int) -> list[list[Any]]:
    """Queues dealt round-robin over at most ``max_tasks`` tasks (RocketMQ Connect's default)."""
    count = max(1, min(max_tasks, len(queues)))
    return [list(queues[i::count]) for i in range(count)]


def current_queues(client: "RocketMQClient", topics: Sequence[str]) -> list["MessageQueue"]:
    """The topics' readable queues from a fresh route (not the cached one): splits and the
    partition-change check must see queues added moments ago."""
    for topic in topics:
        client.invalidate_route(topic)
    return [mq for topic in topics for mq in client.message_queues(topic)]


def fingerprint(queues: Sequence["MessageQueue"]) -> str:
    """Identifies the queue set a split was made for, to notice queues added to a topic."""
    text = json.dumps(sorted([q.broker_name, q.topic, q.queue_id] for q in queues))
    return f"{len(queues)}:{zlib.crc32(text.encode()):08x}"


#: How long the broker holds a long poll at a queue with nothing new (as the Java push consumer does).
LONG_POLL_MS = 15_000
#: A long poll shorter than this is not started (the invocation is about to end).
MIN_LONG_POLL_MS = 1_000


class _Tolerant:
    """A pull read ahead: its failure (say, a connection that timed out while the function was
    frozen) is not the poll's; ``result()`` gives None and the queue is pulled again."""

    __slots__ = ("call",)

    def __init__(self, call: "Call[PullResult]") -> None:
        self.call = call

    def result(self) -> "PullResult | None":
        try:
            return self.call.result()
        except Exception:  # noqa: BLE001 - see the class docstring
            return None

    def cancel(self) -> None:
        self.call.cancel()


class _Answered:
    """A long poll's answer that ``wait`` has read already, kept for the next poll: a finished call."""

    __slots__ = ("_result",)

    def __init__(self, result: "PullResult") -> None:
        self._result = result

    def result(self) -> "PullResult":
        return self._result

    def cancel(self) -> None:
        pass

    def ready(self) -> bool:
        return True

    def fileno(self) -> int:
        return -1

    def arrived(self) -> bool:
        return True

    def overdue(self) -> bool:
        return False


class _Ahead:
    """A pull of a queue started before a poll asked for it, for ``size`` messages from ``offset``:
    a read-ahead (``_pull_ahead``, while messages flow) or a long poll (``wait``, while the queue
    is idle). A poll uses it when it starts the queue exactly there."""

    __slots__ = ("offset", "size", "call", "long_poll")

    def __init__(self, offset: int, size: int, call: Any, long_poll: bool = False) -> None:
        self.offset, self.size, self.call, self.long_poll = offset, size, call, long_poll


class RocketMQSourceTask(SourceTask[RocketMQSourceConfig]):
    """Reads its queues by explicit offset.

    While messages flow, a poll reads the queues at the same time (``_read``) and starts the next
    poll's first pulls before it returns (``_pull_ahead``). While the queues are idle, in continuous
    polling, ``wait`` long-polls them: one pull per queue that the broker holds until a message
    arrives there, all in flight from this one thread, waited on together (``flight.wait_any``).
    A long poll stays in flight across ``wait`` calls and polls until the broker answers; a poll
    takes an answered one in place of a pull and treats one still held as "nothing new there yet",
    so neither the poll nor the broker does anything for an idle queue in between. ``stop`` closes
    whatever is still in flight.
    """

    offset_order = ("queue_offset",)
    #: The suspend time of a long poll; shorter when the invocation ends sooner (``_suspend_ms``).
    long_poll_ms = LONG_POLL_MS

    def start(self) -> None:
        from ..rocketmq import MessageQueue

        self.client = self.config.client()
        self.queues = [MessageQueue(b, t, q) for b, t, q in self.task_config["queues"]]
        self._partitions = [queue_partition(self.config.cluster, mq) for mq in self.queues]
        self._starts: dict[MessageQueue, int] = {}
        self._first_queue = -1  # the queue a poll starts at moves on by one each poll
        #: Pulls on their way before a poll asked for them (read-aheads, long polls), by queue index.
        self._ahead: dict[int, _Ahead] = {}

    def stop(self) -> None:
        self._drop_ahead()

    def partitions(self) -> Sequence[Partition]:
        return list(self._partitions)

    def initial_offset(self, mq: "MessageQueue") -> int:
        if self.config.start == "latest":
            return self.client.max_offset(mq)
        if self.config.start == "timestamp":
            return self.client.offset_for_timestamp(mq, self.config.start_timestamp_ms or 0)
        return self.client.min_offset(mq)

    def poll(self, offsets: OffsetMap) -> list[ConnectRecord]:
        budget = self.config.max_poll_records
        records: list[ConnectRecord] = []
        positions = self._positions(offsets)
        # The budget is shared evenly over the queues, which are read at the same time (up to
        # pull_concurrency pulls in flight), each pull after pull until it has its share or is
        # caught up; what a caught-up queue leaves goes to the others in the next pass. Each poll
        # starts at the next queue: no queue starves another.
        first = self._first_queue = (self._first_queue + 1) % max(1, len(self.queues))
        active = list(positions)[first:] + list(positions)[:first]
        more: set[int] = set()  # queues whose last pull found messages: likely more to come
        while budget > 0 and active:
            share = max(1, budget // len(active))
            shares = []
            for i in active:
                allotted = min(share, budget)
                if allotted <= 0:
                    break
                shares.append((i, allotted))
                budget -= allotted
            progressing = []
            for (i, allotted), steps in zip(shares, self._read(shares, positions)):
                got = 0
                for offset, batch, next_offset in steps:
                    (more.add if batch else more.discard)(i)
                    positions[i] = next_offset
                    got += len(batch)
                    if batch:
                        records.extend(batch)
                budget += allotted - got  # unused budget goes to the next pass
                if steps and steps[-1][2] != steps[-1][0]:
                    progressing.append(i)
            active = progressing
        self._pull_ahead(more, positions)
        self._report_progress(offsets, positions)
        return records

    def _report_progress(self, offsets: OffsetMap, positions: dict[int, int]) -> None:
        """Each queue's position is durable even where no record moved it: a start position resolved
        (a restart must not resolve ``latest`` again and skip what came in between), messages the tag
        filter dropped or the broker deleted. Every message before a position is in this poll's
        records or was never to be one."""
        for i, mq in enumerate(self.queues):
            committed = self._committed(offsets, mq)
            if committed is None or positions[i] > committed:
                self.progress(self._partitions[i], {"queue_offset": positions[i]})

    def _read(self, shares: list[tuple[int, int]],
              positions: dict[int, int]) -> list[list[tuple[int, list[ConnectRecord], int]]]:
        """Reads each queue of ``shares`` from its position, pull after pull, until it has its
        share or makes no progress; the queues' pulls are in flight together (``pipelined``).
        Returns per queue each pull's (offset, records, next offset). A pull started ahead for
        exactly this position and size (``_pull_ahead``, ``wait``) is used when it found messages
        (messages at an offset never change); otherwise the queue is pulled now. A long poll the
        broker still holds at this position means nothing new there: the queue is not pulled, and
        the long poll stays in flight."""
        from ..rocketmq.flight import pipelined

        steps: dict[int, list[tuple[int, list[ConnectRecord], int]]] = {i: [] for i, _ in shares}
        wanted = dict(shares)
        position = {i: positions[i] for i, _ in shares}
        read_ahead: set[int] = set()

        def start(i: int) -> Any:
            step = steps[i]
            got = sum(len(batch) for _, batch, _ in step)
            if got >= wanted[i] or (step and step[-1][2] == step[-1][0]):
                return None
            ask = (position[i], min(self.config.pull_batch_size, wanted[i] - got))
            ahead = self._ahead.pop(i, None)
            if ahead is not None:
                if ahead.long_poll and not ahead.call.ready():
                    if ahead.offset == ask[0] and not ahead.call.overdue():
                        # The broker still holds it: nothing new there yet. Reading it would stall
                        # this poll for the hold; it stays in flight for the next poll or wait().
                        self._ahead[i] = ahead
                        return None
                elif (ahead.offset, ahead.size) == ask:
                    read_ahead.add(i)
                    return _Tolerant(ahead.call)
                ahead.call.cancel()  # for another position or size, or a long poll the broker lost
            return self.client.start_pull(self.queues[i], ask[0], max_messages=ask[1],
                                          tag_expression=self.config.tag_filter)

        def done(i: int, result: "PullResult | None") -> None:
            if i in read_ahead:
                read_ahead.discard(i)
                if result is None or result.status != "FOUND":
                    return  # it failed, or found nothing (news may have come since): pulled again now
            offset = position[i]
            batch, next_offset = self._records(i, offset, result)
            steps[i].append((offset, batch, next_offset))
            position[i] = next_offset

        pipelined([i for i, _ in shares], start, done, self.config.pull_concurrency)
        return [steps[i] for i, _ in shares]

    def _ahead_size(self) -> int:
        """The size of a pull started ahead: a poll's first pull of a queue when every queue is
        active (its even share of ``max_poll_records``, at most ``pull_batch_size``)."""
        share = max(1, self.config.max_poll_records // max(1, len(self.queues)))
        return min(self.config.pull_batch_size, share)

    def _pull_ahead(self, queues: set[int], positions: dict[int, int]) -> None:
        """Start the next poll's first pull of each queue that had messages now, so the broker
        serves it while this poll's records are published and committed. The next poll uses it
        only when it starts from the same position with the same size; otherwise, or when it
        found nothing, the queue is pulled again. Long polls at their queue's position stay in
        flight; every other pull started ahead that this poll did not use is given up."""
        self._drop_ahead(keep=lambda i, ahead: ahead.long_poll and ahead.offset == positions[i])
        if self.config.pull_concurrency <= 1 or not queues:
            return
        size = self._ahead_size()
        for i in sorted(queues)[:self.config.pull_concurrency]:
            try:
                call = self.client.start_pull(self.queues[i], positions[i], max_messages=size,
                                              tag_expression=self.config.tag_filter)
            except Exception:  # noqa: BLE001 - only an optimisation: the next poll pulls (and reports) again
                break
            self._set_ahead(i, _Ahead(positions[i], size, call))

    # -- waiting for messages (continuous polling) ----------------------------------------------

    def wait(self, offsets: OffsetMap, timeout_s: float) -> None:
        """Blocks until a message arrives at one of the task's queues after ``offsets``, for at most
        ``timeout_s``: long-polls every queue that has no pull in flight at its position, then
        waits for the first answer. An answer with messages is kept for the next poll; an answer
        with nothing (the broker's hold ran out) or a failure is dropped, and the queue is long-polled
        again - but once per call at most, so a broker that answers at once is not asked over and
        over. Costs nothing while the queues are idle: no pull is repeated and the thread sleeps in
        the kernel until a socket has news."""
        from ..rocketmq.flight import wait_any

        deadline = time.monotonic() + max(0.0, timeout_s)
        positions = self._positions(offsets)
        self._drop_ahead(keep=lambda i, ahead: ahead.offset == positions[i])
        asked: set[int] = set()
        while not self._settle():
            asked |= self._long_poll(positions, asked, deadline)
            waiting = [ahead.call for ahead in self._ahead.values()]
            left = deadline - time.monotonic()
            if left <= 0:
                return
            if not waiting:
                # No long poll could be started (too little of the invocation left, or the broker
                # cannot be reached - the next poll reports that): wait as a source without news does.
                time.sleep(left)
                return
            if not wait_any(waiting, left):
                return

    def _settle(self) -> bool:
        """Reads the pulls in flight that the broker has answered (long polls, and any read-ahead).
        One that brought news (messages, or an offset to move on to) stays, answered, for the next
        poll; one that found nothing or failed is dropped. A pull the broker should have answered
        long ago is given up. True when the next poll has news to take."""
        news = False
        for i, ahead in list(self._ahead.items()):
            if not ahead.call.ready():
                if ahead.call.overdue():
                    ahead.call.cancel()
                    del self._ahead[i]
                continue
            if isinstance(ahead.call, _Answered):
                news = True
                continue
            result = _Tolerant(ahead.call).result()
            if result is not None and (result.messages or result.next_offset != ahead.offset):
                ahead.call = _Answered(result)
                news = True
            else:
                del self._ahead[i]
        return news

    def _long_poll(self, positions: dict[int, int], skip: set[int], deadline: float) -> set[int]:
        """Starts a long poll at the position of each queue that has no pull in flight and is not in
        ``skip``; returns the queues it asked (those it failed to ask too: a failure is the next
        poll's to report, not the wait's)."""
        suspend_ms = self._suspend_ms()
        if not suspend_ms:
            return set()
        asked: set[int] = set()
        size = self._ahead_size()
        for i, mq in enumerate(self.queues):
            if i in self._ahead or i in skip:
                continue
            left = deadline - time.monotonic()
            if left <= 0:
                break
            asked.add(i)
            try:
                # Opening a connection counts against the wait, which must not return late.
                call = self.client.start_pull(mq, positions[i], max_messages=size, suspend_ms=suspend_ms,
                                              tag_expression=self.config.tag_filter, connect_timeout_s=left)
            except Exception as exc:  # noqa: BLE001 - see the docstring
                logger.debug("long poll not started", extra={"partition": self._partitions[i], "error": str(exc)})
                continue
            self._ahead[i] = _Ahead(positions[i], size, call, long_poll=True)
        return asked

    def _suspend_ms(self) -> int:
        """A new long poll's suspend time: ``long_poll_ms``, but short enough for the broker's answer
        (which can come one hold check after the suspend time) to arrive while the invocation
        runs, not into a frozen function; 0 when too little time is left for a long poll."""
        from ..rocketmq.client import BROKER_HOLD_CHECK_MS

        suspend = min(self.long_poll_ms, self.context.remaining_time_ms() - BROKER_HOLD_CHECK_MS)
        return suspend if suspend >= MIN_LONG_POLL_MS else 0

    # -- pulls started ahead -------------------------------------------------------------------

    def _set_ahead(self, i: int, ahead: _Ahead) -> None:
        previous = self._ahead.pop(i, None)
        if previous is not None:
            previous.call.cancel()
        self._ahead[i] = ahead

    def _drop_ahead(self, keep: Callable[[int, _Ahead], bool] = lambda i, ahead: False) -> None:
        """Gives up the pulls started ahead that ``keep`` does not keep (their connections close)."""
        for i, ahead in list(self._ahead.items()):
            if not keep(i, ahead):
                ahead.call.cancel()
                del self._ahead[i]

    def _committed(self, offsets: OffsetMap, mq: "MessageQueue") -> int | None:
        committed = offsets.get(queue_partition(self.config.cluster, mq))
        return None if committed is None else committed["queue_offset"]

    def _positions(self, offsets: OffsetMap) -> dict[int, int]:
        return {i: self._position(offsets, mq) for i, mq in enumerate(self.queues)}

    def _position(self, offsets: OffsetMap, mq: "MessageQueue") -> int:
        committed = self._committed(offsets, mq)
        return self._start_offset(mq) if committed is None else committed

    def _start_offset(self, mq: "MessageQueue") -> int:
        """Where a queue without a committed offset starts, looked up once by this task: with
        ``latest`` a message that arrives after the first look is read, not skipped by a later
        look, and an idle queue costs no lookup per poll."""
        start = self._starts.get(mq)
        if start is None:
            start = self._starts[mq] = self.initial_offset(mq)
        return start

    def _records(self, i: int, offset: int, result: "PullResult") -> tuple[list[ConnectRecord], int]:
        """A pull's records and the offset to read next."""
        if result.status == "OFFSET_ILLEGAL":
            corrected = result.min_offset if offset < result.min_offset else result.max_offset
            logger.warning("offset out of range: messages before the queue's minimum were deleted",
                           extra={"partition": self._partitions[i], "offset": offset, "min_offset": result.min_offset,
                                  "max_offset": result.max_offset, "resumed_at": corrected})
            return [], corrected
        if result.status != "FOUND":
            return [], result.next_offset
        partition, record = self._partitions[i], self.record
        return [record(partition, message) for message in result.messages], result.next_offset

    def record(self, partition: dict[str, Any], m: "MessageExt") -> ConnectRecord:
        headers = dict(m.properties)
        headers.update({
            H_TOPIC: m.topic, H_MSG_ID: m.msg_id, H_UNIQ_ID: m.unique_id, H_QUEUE: str(m.queue_id),
            H_OFFSET: str(m.queue_offset), H_BROKER: partition["broker"], H_CLUSTER: self.config.cluster,
            H_BORN_TS: str(m.born_timestamp), H_BORN_HOST: m.born_host, H_STORE_TS: str(m.store_timestamp),
            H_STORE_HOST: m.store_host, H_RECONSUME: str(m.reconsume_times), H_FLAG: str(m.flag)})
        if m.tags:
            headers[H_TAGS] = m.tags
        if m.keys:
            headers[H_KEYS] = " ".join(m.keys)
        return ConnectRecord(topic=m.topic, value=m.body, key=m.keys[0] if m.keys else None, partition=partition,
                             offset={"queue_offset": m.queue_offset + 1}, timestamp=m.born_timestamp,
                             headers=headers)

    def lag(self, offsets: OffsetMap) -> int | None:
        total = 0
        for mq in self.queues:
            committed = offsets.get(queue_partition(self.config.cluster, mq))
            maximum = self.client.max_offset(mq)
            total += max(0, maximum - (committed["queue_offset"] if committed else self.initial_offset(mq)))
        return total

    def needs_reconfiguration(self) -> str | None:
        """The new queue set's fingerprint when it differs from the one the tasks were split for."""
        expected = self.task_config.get("fingerprint")
        if expected is None:
            return None
        current = fingerprint(current_queues(self.client, self.config.topics))
        return current if current != expected else None


class RocketMQSourceConnector(SourceConnector[RocketMQSourceConfig]):
    config_model = RocketMQSourceConfig
    task_class = RocketMQSourceTask
    description = "Reads RocketMQ topics by explicit queue offset (remoting protocol, 4.x and 5.x brokers)."

    def validate(self) -> None:
        client = self.config.client()
        errors = []
        for topic in self.config.topics:
            try:
                if not client.message_queues(topic):
                    errors.append(f"topic {topic!r} has no readable queues")
            except Exception as exc:  # noqa: BLE001 - reported as a config error with the cause
                errors.append(f"topic {topic!r}: {exc}")
        if errors:
            raise ConfigError.single("topics", "; ".join(errors))

    def task_configs(self, max_tasks: int) -> list[dict[str, Any]]:
        queues = current_queues(self.config.client(), self.config.topics)
        queue_set = fingerprint(queues)
        return [{"queues": [[q.broker_name, q.topic, q.queue_id] for q in group], "fingerprint": queue_set}
                for group in split_queues(queues, max_tasks)]


# -- sink ----------------------------------------------------------------------------------------

class RocketMQSinkConfig(SinkConnectorConfig, ClusterSecurity):
    namesrv_addr: str | None = Field(None, pattern=_NAMESRV,
                                     description="Name server address(es) of the target cluster (remoting).")
    proxy_endpoint: str | None = Field(None, description="A 5.x proxy's gRPC endpoint 'host:port', for targets "
                                                         "reachable only through a proxy (the official client).")
    topic: str | None = Field(None, description="Target topic; unset: each record's own topic.")
    tags: str | None = Field(None, description="Tag for every message; unset: the record's rocketmq.tags header.")
    order_by_key: bool = Field(True, description="Records with the same key go to the same queue.")
    value_converter: ConverterConfig = Field(default_factory=BytesConverterConfig,
                                             description="Message bodies are bytes; default bytes.")

    @model_validator(mode="after")
    def _one_target(self) -> "RocketMQSinkConfig":
        if (self.namesrv_addr is None) == (self.proxy_endpoint is None):
            raise ValueError("set exactly one of namesrv_addr (remoting) and proxy_endpoint (gRPC proxy)")
        if self.proxy_endpoint is not None and self.security_token is not None:
            # The official gRPC client signs with the access key and secret key only: the token would be dropped.
            raise ValueError("security_token cannot be used with proxy_endpoint: the gRPC proxy path signs with "
                             "access_key and secret_key only and would not send it; remove security_token, or "
                             "write through namesrv_addr (remoting), which sends it")
        return self

    @field_validator("proxy_endpoint")
    @classmethod
    def _endpoint(cls, value: str | None) -> str | None:
        if value is not None and ":" not in value:
            raise ValueError("must be 'host:port'")
        return value


def message_of(topic: str, value: Any, key: Any, headers: Mapping[str, str], timestamp: int | None,
               tags: str | None = None) -> Any:
    """The RocketMQ message a record becomes: body, keys, tags, user properties and born timestamp
    restored from what ``rocketmq-source`` put in the record (``rocketmq.*`` headers)."""
    from ..rocketmq import Message

    if value is None:
        value = b""
    elif isinstance(value, str):
        value = value.encode()
    elif not isinstance(value, (bytes, bytearray)):
        value = json.dumps(value, separators=(",", ":"), default=str).encode()
    keys_text = headers.get(H_KEYS)
    if keys_text:
        keys = keys_text.split()
    elif key is None:
        keys = []
    else:
        keys = [bytes(key).decode("utf-8", "replace") if isinstance(key, (bytes, bytearray)) else str(key)]
    # bookkeeping header names all have a dot; most user property names have none (a cheap first test)
    user = {k: v for k, v in headers.items() if "." not in k or not k.startswith(NOT_USER_PROPERTIES)}
    return Message(topic, bytes(value), tags or headers.get(H_TAGS), keys, user, 0, born_timestamp(headers, timestamp))


def born_timestamp(headers: Mapping[str, str], timestamp: int | None) -> int | None:
    """A written message's born timestamp: the source message's (``rocketmq.born_timestamp``),
    else the record's timestamp."""
    born = headers.get(H_BORN_TS)
    return int(born) if born else timestamp


def queue_for(key: Any, queues: Sequence[Any], fallback: int) -> Any:
    if key is None:
        return queues[fallback % len(queues)]
    return queues[zlib.crc32(str(key).encode()) % len(queues)]


class RocketMQSinkTask(SinkTask[RocketMQSinkConfig]):
    def start(self) -> None:
        self.client = (client_for(self.config.namesrv_addr, self.config.security())
                       if self.config.namesrv_addr else None)
        self._producer = None
        self._round_robin = 0

    def stop(self) -> None:
        if self._producer is not None:
            self._producer.shutdown()
            self._producer = None

    def put(self, records: list[ConnectRecord]) -> None:
        if self.client is None:
            self._put_via_proxy(records)
            return
        by_queue: dict[Any, list[Any]] = defaultdict(list)
        for record in records:
            topic = self.config.topic or record.topic
            if not topic:
                raise ValueError("a record without a topic and no topic configured")
            queues = self.client.writable_queues(topic)
            self._round_robin += 1
            key = record.key if self.config.order_by_key else None
            by_queue[queue_for(key, queues, self._round_robin)].append(
                message_of(topic, record.value, record.key, record.headers, record.timestamp, self.config.tags))
        for queue, messages in by_queue.items():
            self.client.send_batch(messages, queue=queue) if len(messages) > 1 else self.client.send(messages[0], queue=queue)

    def _put_via_proxy(self, records: list[ConnectRecord]) -> None:
        from ..rocketmq.proxy import ProxyProducer

        if self._producer is None:
            topics = {self.config.topic or r.topic for r in records}
            security = self.config.security()
            self._producer = ProxyProducer(self.config.proxy_endpoint, topics,
                                           tls=security.tls if security is not None and security.tls else False,
                                           credentials=security.credentials if security else None)
        for record in records:
            self._producer.send(message_of(self.config.topic or record.topic, record.value, record.key, record.headers,
                                           record.timestamp, self.config.tags))


class RocketMQSinkConnector(SinkConnector[RocketMQSinkConfig]):
    config_model = RocketMQSinkConfig
    task_class = RocketMQSinkTask
    description = "Writes records to RocketMQ topics (remoting batch send, or the 5.x proxy)."
