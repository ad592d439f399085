"""``rocketmq-source`` and ``rocketmq-sink``: RocketMQ topics as a source and as a target.

The source reads message queues by explicit offset over the remoting protocol (the 5.x gRPC proxy
cannot pull by offset): partition = ``{cluster, broker, topic, queue}``, offset =
``{queue_offset}`` (the next offset to read), kept in the offset store like every other source's.
Records carry every message attribute: the body as the value (bytes), the keys as the key, user
properties as headers under their own names, and the system attributes as ``rocketmq.*`` headers.

The sink writes records back as messages: ``rocketmq.tags``/keys/user properties are restored,
records with the same key go to the same queue (ordering by key), and each queue's records go out
in one batch send.
"""

from __future__ import annotations

import json
import logging
import threading
import zlib
from collections import defaultdict
from typing import TYPE_CHECKING, Any, Callable, Literal, Mapping, Sequence

from pydantic import Field, field_validator, model_validator

from ..api import ConnectRecord, OffsetMap, Partition, SinkConnector, SinkTask, SourceConnector, SourceTask
from ..api.record import partition_key as partition_key_of
from ..config import SinkConnectorConfig, SourceConnectorConfig
from ..config.base import BytesConverterConfig, ConverterConfig
from ..errors import ConfigError

if TYPE_CHECKING:
    from ..rocketmq import MessageExt, MessageQueue, RocketMQClient
    from ..rocketmq.client import Call, PullResult

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

_clients: dict[str, "RocketMQClient"] = {}
_clients_lock = threading.Lock()


def client_for(namesrv_addr: str) -> "RocketMQClient":
    """One client per name server list per process, reused across warm invocations."""
    client = _clients.get(namesrv_addr)
    if client is None:
        with _clients_lock:
            client = _clients.get(namesrv_addr)
            if client is None:
                from ..rocketmq import RocketMQClient

                client = _clients[namesrv_addr] = RocketMQClient(namesrv_addr)
    return client


# -- source --------------------------------------------------------------------------------------

class RocketMQSourceConfig(SourceConnectorConfig):
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

    @model_validator(mode="after")
    def _start_timestamp(self) -> "RocketMQSourceConfig":
        if self.start == "timestamp" and self.start_timestamp_ms is None:
            raise ValueError("start: timestamp needs start_timestamp_ms")
        return self


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


class RocketMQSourceTask(SourceTask[RocketMQSourceConfig]):
    offset_order = ("queue_offset",)

    def start(self) -> None:
        from ..rocketmq import MessageQueue

        self.client = client_for(self.config.namesrv_addr)
        self.queues = [MessageQueue(b, t, q) for b, t, q in self.task_config["queues"]]
        self._partitions = [queue_partition(self.config.cluster, mq) for mq in self.queues]
        self._skipped: dict[str, tuple[int, int]] = {}
        self._first_queue = -1  # the queue a poll starts at moves on by one each poll
        #: Pulls already on their way for the next poll: queue index -> ((offset, max messages), call).
        self._ahead: dict[int, tuple[tuple[int, int], Call[PullResult]]] = {}

    def stop(self) -> None:
        self._cancel_ahead()

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
        positions = {i: self._position(offsets, mq) for i, mq in enumerate(self.queues)}
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
                    elif next_offset != offset and self._committed(offsets, self.queues[i]) == offset:
                        # Only filtered-out messages (or deleted ones) lay between the committed offset
                        # and next_offset: nothing to deliver, so the next poll may start after them.
                        self._skipped[partition_key_of(self._partitions[i])] = (offset, next_offset)
                budget += allotted - got  # unused budget goes to the next pass
                if steps and steps[-1][2] != steps[-1][0]:
                    progressing.append(i)
            active = progressing
        self._pull_ahead(more, positions)
        return records

    def _read(self, shares: list[tuple[int, int]],
              positions: dict[int, int]) -> list[list[tuple[int, list[ConnectRecord], int]]]:
        """Reads each queue of ``shares`` from its position, pull after pull, until it has its
        share or makes no progress; the queues' pulls are in flight together (``pipelined``).
        Returns per queue each pull's (offset, records, next offset). A pull read ahead for exactly
        this position and size (``_pull_ahead``) is used when it found messages (messages at an
        offset never change); otherwise the queue is pulled now."""
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
                if ahead[0] == ask:
                    read_ahead.add(i)
                    return _Tolerant(ahead[1])
                ahead[1].cancel()
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

    def _pull_ahead(self, queues: set[int], positions: dict[int, int]) -> None:
        """Start the next poll's first pull of each queue that had messages now, so the broker
        serves it while this poll's records are published and committed. The next poll uses it
        only when it starts from the same position with the same size; otherwise, or when it
        found nothing, the queue is pulled again."""
        self._cancel_ahead()
        if self.config.pull_concurrency <= 1 or not queues:
            return
        share = max(1, self.config.max_poll_records // len(self.queues))
        ask = min(self.config.pull_batch_size, share)
        for i in sorted(queues)[:self.config.pull_concurrency]:
            try:
                self._ahead[i] = ((positions[i], ask), self.client.start_pull(
                    self.queues[i], positions[i], max_messages=ask, tag_expression=self.config.tag_filter))
            except Exception:  # noqa: BLE001 - only an optimisation: the next poll pulls (and reports) again
                break

    def _cancel_ahead(self) -> None:
        for _, call in self._ahead.values():
            call.cancel()
        self._ahead.clear()

    def _committed(self, offsets: OffsetMap, mq: "MessageQueue") -> int | None:
        committed = offsets.get(queue_partition(self.config.cluster, mq))
        return None if committed is None else committed["queue_offset"]

    def _position(self, offsets: OffsetMap, mq: "MessageQueue") -> int:
        committed = self._committed(offsets, mq)
        if committed is None:
            return self.initial_offset(mq)
        skipped = self._skipped.get(partition_key_of(queue_partition(self.config.cluster, mq)))
        return skipped[1] if skipped and skipped[0] == committed else committed

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
        client = client_for(self.config.namesrv_addr)
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
        queues = current_queues(client_for(self.config.namesrv_addr), self.config.topics)
        queue_set = fingerprint(queues)
        return [{"queues": [[q.broker_name, q.topic, q.queue_id] for q in group], "fingerprint": queue_set}
                for group in split_queues(queues, max_tasks)]


# -- sink ----------------------------------------------------------------------------------------

class RocketMQSinkConfig(SinkConnectorConfig):
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
        self.client = client_for(self.config.namesrv_addr) if self.config.namesrv_addr else None
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
            self._producer = ProxyProducer(self.config.proxy_endpoint, topics)
        for record in records:
            self._producer.send(message_of(self.config.topic or record.topic, record.value, record.key, record.headers,
                                           record.timestamp, self.config.tags))


class RocketMQSinkConnector(SinkConnector[RocketMQSinkConfig]):
    config_model = RocketMQSinkConfig
    task_class = RocketMQSinkTask
    description = "Writes records to RocketMQ topics (remoting batch send, or the 5.x proxy)."
