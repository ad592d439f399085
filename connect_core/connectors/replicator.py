"""``rocketmq-replicator``: replicate topics from one RocketMQ cluster to another, in one function.

A source task reads the source cluster's queues by offset (like ``rocketmq-source``); the
replicator writes to the target cluster itself, in the same invocation (RocketMQ Connect's direct
mode), and the tick commits the source offsets only after the target acknowledged. Per message:

* full fidelity: body bytes unchanged, keys, tags, user properties under their own names, the born
  timestamp; the source cluster, topic, queue, offset and message id are kept as properties;
* the same source queue always goes to the same target queue (queue id modulo the target's queue
  count), so per-queue order holds and offsets can be translated;
* loop prevention: ``CONNECT_REPLICATION_PATH`` lists the clusters a message has been in; a
  message that has already been in the target cluster is not sent back (two-way A ⇄ B never echoes).

Alongside: offset syncs (source offset → target offset, recorded as batches are acknowledged),
consumer-group checkpoints that translate a group's committed source offset into a safe target
offset (and can apply it to the target group, never moving it backwards), heartbeats to a target
topic, replication lag metrics (messages and seconds), and a rate limit.
"""

from __future__ import annotations

import functools
import json
import logging
import time
from collections import defaultdict, deque
from typing import TYPE_CHECKING, Any, Callable, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..api import ConnectRecord, OffsetMap
from ..api.record import partition_key
from ..api.connector import TaskContext
from ..config.base import ConverterConfig, BytesConverterConfig
from ..errors import ConfigError
from ..runtime.pipeline import Message as WireMessage
from ..runtime.targets import Publisher, PublishError
from ..runtime import telemetry as metrics
from ..runtime.telemetry import Telemetry
from ..storage.base import EpochFence
from . import at_risk
from .rocketmq import (
    _NAMESRV,
    ClusterSecurity,
    H_BORN_TS,
    H_KEYS,
    H_STORE_TS,
    H_TAGS,
    H_TOPIC,
    RocketMQSourceConfig,
    RocketMQSourceConnector,
    RocketMQSourceTask,
    born_timestamp,
    client_for,
    message_of,
    queue_partition,
)

if TYPE_CHECKING:
    from ..rocketmq import MessageExt, MessageQueue, RocketMQClient
    from ..rocketmq.security import Security
    from ..rocketmq.client import PullResult
    from ..storage import Stores

logger = logging.getLogger("connect_core.connectors.replicator")

P_PATH = "CONNECT_REPLICATION_PATH"
P_SOURCE_CLUSTER = "CONNECT_SOURCE_CLUSTER"
P_SOURCE_TOPIC = "CONNECT_SOURCE_TOPIC"
P_SOURCE_QUEUE = "CONNECT_SOURCE_QUEUE"
P_SOURCE_OFFSET = "CONNECT_SOURCE_OFFSET"
P_SOURCE_MSG_ID = "CONNECT_SOURCE_MSG_ID"
SYNC_HISTORY = 256  # runs of offset syncs kept per source queue


class Cluster(ClusterSecurity):
    """One side of the replication: where it is, and its own TLS and credentials."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$",
                      description="The cluster's name (e.g. its region); recorded in the replication path.")
    namesrv_addr: str = Field(pattern=_NAMESRV, description="Name server address(es), 'host:port;host:port'.")

    def client(self) -> "RocketMQClient":
        """The (process-wide) client of this cluster, with its TLS and credentials."""
        return client_for(self.namesrv_addr, self.security(), cluster=self.name)


class ReplicatorConfig(RocketMQSourceConfig):
    source_cluster: Cluster = Field(description="Where messages are read.")
    target_cluster: Cluster = Field(description="Where messages are written.")
    # the source settings come from source_cluster
    namesrv_addr: str = Field("", description="Set from source_cluster; leave unset.")
    cluster: str = Field("", description="Set from source_cluster; leave unset.")
    topic_format: str = Field("{topic}", pattern=r"^([%|A-Za-z0-9_-]|\{topic\}|\{source\})+$",
                              description="Target topic name: '{topic}' (identity) or a pattern such as "
                                          "'{source}-{topic}' ({source} = the source cluster's name).")
    topic_map: dict[str, str] = Field(default_factory=dict, description="Explicit source → target topic "
                                                                        "names; wins over topic_format.")
    groups: list[str] = Field(default_factory=list, description="Consumer groups whose source offsets are "
                                                                "checkpointed as translated target offsets.")
    sync_group_offsets: bool = Field(False, description="Also apply the translated offsets to the same "
                                                        "groups on the target (never moving them backwards).")
    heartbeat_topic: str | None = Field(None, description="Target topic that receives a heartbeat per tick.")
    max_messages_per_second: float | None = Field(None, gt=0, description="Rate limit per task.")
    send_concurrency: int = Field(4, ge=1, le=64, description="Send requests in flight at the same time, at most "
                                                              "one per target queue (each queue's messages stay in "
                                                              "order); 1 writes the queues one after another.")
    value_converter: ConverterConfig = Field(default_factory=BytesConverterConfig,
                                             description="Bodies stay bytes; leave it.")

    @model_validator(mode="before")
    @classmethod
    def _source_settings(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("source_cluster"), dict):
            source = data["source_cluster"]
            data = {**data, "namesrv_addr": data.get("namesrv_addr") or source.get("namesrv_addr", ""),
                    "cluster": data.get("cluster") or source.get("name", "")}
        return data

    @model_validator(mode="after")
    def _checks(self) -> "ReplicatorConfig":
        if self.target is not None:
            raise ValueError("a replicator writes to target_cluster itself; leave target unset")
        if self.source_cluster.name == self.target_cluster.name:
            raise ValueError("source_cluster and target_cluster need different names (loop prevention uses them)")
        if "{topic}" not in self.topic_format:
            raise ValueError("topic_format must contain {topic}")
        if self.value_converter.type != "bytes":
            raise ValueError("value_converter must stay 'bytes': bodies are replicated byte for byte")
        if ClusterSecurity.has_security(self) or self.tls_ca_file or self.tls_ca or self.tls_server_name:
            raise ValueError("set TLS and credentials in source_cluster and target_cluster, not at the top level")
        return self

    def security(self) -> "Security | None":
        return self.source_cluster.security()

    def client(self) -> "RocketMQClient":
        return self.source_cluster.client()

    def target_topic(self, topic: str) -> str:
        return self.topic_map.get(topic) or self.topic_format.format(topic=topic, source=self.source_cluster.name)


LOOP_HEADER = "connect.replication.loop"


class ReplicatorTask(RocketMQSourceTask):
    """Records carry what the replica needs and no more (a replicator moves many messages): the
    user properties, the provenance properties (``CONNECT_*``), and the ``rocketmq.topic``, ``tags``,
    ``keys``, ``born_timestamp`` and ``store_timestamp`` headers."""

    config: ReplicatorConfig

    def start(self) -> None:
        super().start()
        #: What the pull answers told about each source queue (by partition key): the queue's max
        #: offset, when the broker said so, and the newest message pulled from it. Written with
        #: the verified watermark before each commit: the data at risk is computed from the two.
        self.observed: dict[str, dict[str, Any]] = {}

    def _records(self, i: int, offset: int, result: "PullResult") -> tuple[list[ConnectRecord], int]:
        out = super()._records(i, offset, result)
        self._observe(partition_key(self._partitions[i]), result)
        return out

    def _observe(self, key: str, result: "PullResult") -> None:
        seen = self.observed.get(key)
        newest = result.messages[-1] if result.status == "FOUND" and result.messages else None
        observation = {"max_offset": max(result.max_offset, seen["max_offset"] if seen else 0),
                       "observed_at": round(time.time(), 3)}
        if newest is not None and (seen is None or newest.queue_offset >= seen.get("newest_offset", -1)):
            observation.update(newest_offset=newest.queue_offset, newest_store_timestamp=newest.store_timestamp)
        elif seen is not None and "newest_offset" in seen:
            observation.update(newest_offset=seen["newest_offset"],
                               newest_store_timestamp=seen["newest_store_timestamp"])
        self.observed[key] = observation

    def record(self, partition: dict[str, Any], m: "MessageExt") -> ConnectRecord:
        properties = m.properties
        source = self.config.source_cluster.name
        headers = dict(properties)
        path = properties.get(P_PATH)
        hops = [c for c in path.split(",") if c] if path else []
        headers[P_PATH] = ",".join(hops + [source]) if hops else source
        # the first hop records where the message comes from; later hops keep it
        if P_SOURCE_CLUSTER not in properties:
            headers.update({P_SOURCE_CLUSTER: source, P_SOURCE_TOPIC: m.topic, P_SOURCE_QUEUE: str(m.queue_id),
                            P_SOURCE_OFFSET: str(m.queue_offset), P_SOURCE_MSG_ID: m.unique_id})
        else:
            headers.setdefault(P_SOURCE_TOPIC, m.topic)
            headers.setdefault(P_SOURCE_QUEUE, str(m.queue_id))
            headers.setdefault(P_SOURCE_OFFSET, str(m.queue_offset))
            headers.setdefault(P_SOURCE_MSG_ID, m.unique_id)
        headers[H_TOPIC] = m.topic
        if m.tags:
            headers[H_TAGS] = m.tags
        if m.keys:
            headers[H_KEYS] = " ".join(m.keys)
        headers[H_BORN_TS] = str(m.born_timestamp)
        headers[H_STORE_TS] = str(m.store_timestamp)
        # the path the message had *before* this hop decides whether it may go on
        if hops and self.config.target_cluster.name in hops:
            headers[LOOP_HEADER] = "1"
        return ConnectRecord(m.topic, m.body, m.keys[0] if m.keys else None, partition,
                             {"queue_offset": m.queue_offset + 1}, m.born_timestamp, headers=headers)


#: Headers of a replicator record that are not properties of the replica (ReplicatorTask.record).
BOOKKEEPING_HEADERS = (H_TOPIC, H_TAGS, H_KEYS, H_BORN_TS, H_STORE_TS, LOOP_HEADER)


def replica_of(topic: str, m: WireMessage) -> Any:
    """The message a replicator record becomes on the target: ``message_of`` for the headers
    ``ReplicatorTask.record`` writes (every other header, a transform's too, is a property). The
    replica keeps the source message's id (UNIQ_KEY): a consumer that deduplicates by message id
    recognises a message it already had in the other region."""
    headers = m.headers
    if not isinstance(m.value, bytes):
        return message_of(topic, m.value, m.key, headers, m.timestamp)
    properties = dict(headers)
    for name in BOOKKEEPING_HEADERS:
        properties.pop(name, None)
    keys = headers.get(H_KEYS)
    return _message_type()(topic, m.value, headers.get(H_TAGS),
                           keys.split() if keys else [] if m.key is None else [m.key.decode("utf-8", "replace")],
                           properties, 0, born_timestamp(headers, m.timestamp), headers.get(P_SOURCE_MSG_ID))


@functools.cache
def _message_type() -> type:
    from ..rocketmq import Message  # loaded on first use: a cold start without replicas needs none of it

    return Message


def born_runs(items: list[WireMessage]) -> list[list[WireMessage]]:
    """Consecutive records whose replicas have equal born timestamps (``born_timestamp``): a send
    request carries one born timestamp, and one request per run tells at which target offset each
    run landed, even when others write to the queue too."""
    runs: list[list[WireMessage]] = []
    last: object = object()
    for m in items:
        born = born_timestamp(m.headers, m.timestamp)
        if born != last:
            last = born
            runs.append([m])
        else:
            runs[-1].append(m)
    return runs


class _Refusal:
    """A send in flight whose failure, when it is started or when its answer is read, is the
    target's refusal (PublishError: the tick commits nothing)."""

    __slots__ = ("publisher", "queue", "call")

    def __init__(self, publisher: "ReplicatorPublisher", queue: Any, start: Callable[[], Any]) -> None:
        self.publisher, self.queue = publisher, queue
        try:
            self.call = start()
        except Exception as exc:
            raise publisher.refused(queue, exc) from exc

    def result(self) -> Any:
        try:
            return self.call.result()
        except Exception as exc:
            raise self.publisher.refused(self.queue, exc) from exc

    def cancel(self) -> None:
        self.call.cancel()


class TokenBucket:
    """At most ``rate`` messages per second on average, bursts up to one second's worth."""

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.rate, self.clock, self.sleep = rate, clock, sleep
        self.tokens, self.updated = rate, clock()

    def acquire(self, count: int) -> float:
        """Wait until ``count`` messages may go; returns the seconds waited."""
        waited = 0.0
        while True:
            now = self.clock()
            self.tokens = min(self.rate, self.tokens + (now - self.updated) * self.rate)
            self.updated = now
            if self.tokens >= min(count, self.rate):
                self.tokens -= count  # may go negative for a batch larger than a second's worth
                return waited
            wait = (min(count, self.rate) - self.tokens) / self.rate
            self.sleep(wait)
            waited += wait


class ReplicatorPublisher(Publisher):
    """Sends a polled batch to the target cluster; records offset syncs once it is acknowledged."""

    def __init__(self, config: ReplicatorConfig, stores: "Stores", telemetry: Telemetry, context: TaskContext,
                 *, clock: Callable[[], float] = time.time, bucket: TokenBucket | None = None) -> None:
        self.config = config
        self.stores = stores
        self.telemetry = telemetry
        self.context = context
        self.clock = clock
        self.target = config.target_cluster.client()
        self.bucket = bucket or (TokenBucket(config.max_messages_per_second) if config.max_messages_per_second else None)
        self.sent = 0
        self.skipped_loops = 0
        #: Offset syncs and watermarks of acknowledged sends, stored before the offsets are committed.
        self._syncs = _Syncs()
        self._histories: dict[str, list[dict[str, Any]]] = {}  # each source queue's stored runs
        #: Each source queue's stored sync item as last written or read (watermark and observation).
        self._stored: dict[str, dict[str, Any]] | None = None
        self._task: Any = None
        #: What this tick writes besides its offsets is fenced like its commits: nothing of a tick
        #: that outlived its lease lands after a failover's fence.
        self._fence = EpochFence(config.name, context.task_id, context.epoch)
        #: Per source queue, the first message sent and not acknowledged yet: (source offset, store time).
        self._unacked: dict[str, tuple[int, int]] = {}
        self._reported = False

    def bind(self, task: Any) -> None:
        """The tick started work: until it emits its data at risk it counts as a link not
        reporting (flushed now, so a tick killed before its first report still counts)."""
        self._task = task
        self.telemetry.count(metrics.DATA_AT_RISK_UNREPORTED, 1)
        self.telemetry.flush()

    def publish(self, messages: list[WireMessage]) -> None:
        from ..rocketmq.flight import pipelined

        if self.bucket is not None and messages:
            self.bucket.acquire(len(messages))
        by_queue: dict[Any, list[WireMessage]] = defaultdict(list)
        # (record topic, source partition) -> the target queue's list: records of a poll share
        # their partition objects, so this is worked out once per queue and topic
        targets: dict[tuple[str | None, int], list[WireMessage]] = {}
        for m in messages:
            if m.headers.get(LOOP_HEADER) == "1":
                self.skipped_loops += 1
                continue
            target = targets.get((m.topic, id(m.partition)))
            if target is None:
                queues = self.target.writable_queues(self.config.target_topic(m.topic))
                target = targets[(m.topic, id(m.partition))] = \
                    by_queue[queues[int(m.partition["queue"]) % len(queues)]]
                self._note_unacked(m)  # the queue's first message in this batch: its oldest
            target.append(m)
        # Target queues are written at the same time (up to send_concurrency requests in flight),
        # each queue's runs one after another, in order. A run's replicas are built when it is
        # sent, while the other queues' sends are on their way.
        pending = {queue: deque(born_runs(items)) for queue, items in by_queue.items()}
        sent: dict[Any, list[tuple[list[WireMessage], Any]]] = {queue: [] for queue in by_queue}
        sending: dict[Any, list[WireMessage]] = {}

        def start(queue: Any) -> Any:
            if not pending[queue]:
                return None
            run = sending[queue] = pending[queue].popleft()
            replicas = [replica_of(queue.topic, m) for m in run]
            return _Refusal(self, queue, lambda: self.target.start_send(replicas, queue=queue))

        def done(queue: Any, result: Any) -> None:
            sent[queue].append((sending[queue], result))

        pipelined(list(by_queue), start, done, self.config.send_concurrency)
        oldest_stored: float | None = None
        acked_at = self.clock()
        keys: dict[int, str] = {}  # id(partition) -> canonical key: this poll's records share partitions
        for queue, items in by_queue.items():
            for run, result in sent[queue]:
                self._syncs.extend(queue, run, result.queue_offset, acked_at, keys)
                for partition in {id(m.partition): m.partition for m in run}.values():
                    self._unacked.pop(keys.get(id(partition)) or partition_key(partition), None)
            self.sent += len(items)
            stored = items[0].headers.get(H_STORE_TS)
            if stored is not None:
                oldest_stored = float(stored) if oldest_stored is None else min(oldest_stored, float(stored))
        if oldest_stored is not None:
            self.telemetry.count(metrics.REPLICATION_LATENCY, self.clock() * 1000 - oldest_stored, unit="Milliseconds")
        self.telemetry.count(metrics.RECORDS_REPLICATED, sum(len(v) for v in by_queue.values()))

    def _note_unacked(self, m: WireMessage) -> None:
        stored = m.headers.get(H_STORE_TS)
        if stored is not None:
            self._unacked.setdefault(partition_key(m.partition), (int(m.offset["queue_offset"]) - 1, int(stored)))

    def refused(self, queue: Any, exc: Exception) -> PublishError:
        return PublishError(f"the target cluster {self.config.target_cluster.name!r} refused a batch "
                            f"for {queue.topic}/{queue.queue_id}: {exc}")

    def before_commit(self) -> None:
        """Append the acknowledged sends' offset syncs to each source queue's history of runs
        (source offsets s..s+n-1 were written at target offsets t..t+n-1) and move its verified
        watermark, kept in the offset store under the connector's own namespace. A queue's history
        is read once per tick: while the tick holds the lease nobody else writes it."""
        runs, watermarks = self._syncs.take()
        if not runs:
            return
        name = sync_namespace(self.config.name)
        unknown = [partition for key, (partition, _) in runs.items() if key not in self._histories]
        if unknown:
            stored = self.stores.offsets.read(name, unknown)
            for partition in unknown:
                self._histories[partition_key(partition)] = \
                    list(stored[partition]["history"]) if partition in stored else []
        updates = []
        for key, (partition, new) in runs.items():
            history = self._histories[key] = append_runs(self._histories[key], new)
            item = {"history": history, "watermark": watermarks[key]}
            source = self._observation(key)
            if source is not None:
                item["source"] = source
            updates.append((partition, item))
            if self._stored is not None:
                self._stored[key] = item
        self.stores.offsets.alter(name, updates, fence=self._fence)

    def _observation(self, key: str) -> dict[str, Any] | None:
        """What the pulls observed of a source queue, to store: with the queue's first observation
        and the first message not acknowledged (the data at risk's start without a watermark)."""
        observed = getattr(self._task, "observed", {}).get(key)
        if observed is None:
            return None
        before = ((self._stored or {}).get(key) or {}).get("source") or {}
        source = {**observed, "first_observed_at": before.get("first_observed_at", observed["observed_at"])}
        if key in self._unacked:
            offset, stored = self._unacked[key]
            source["oldest_unreplicated"] = {"offset": offset, "store_timestamp": stored}
        return source

    def _store_observations(self, task: Any) -> None:
        """Store what the pulls observed of queues whose stored observation is older (a queue
        with no acknowledged send gets none from ``before_commit``: a refusing target, say)."""
        self._read_stored(task)
        assert self._stored is not None
        by_key = {partition_key(queue_partition(self.config.cluster, mq)): queue_partition(self.config.cluster, mq)
                  for mq in task.queues}
        updates = []
        for key, partition in by_key.items():
            source = self._observation(key)
            item = self._stored.get(key) or {}
            if source is None or item.get("source") == source:
                continue
            item = self._stored[key] = {"history": [], **item, "source": source}  # readers expect a history
            updates.append((partition, item))
        if updates:
            self.stores.offsets.alter(sync_namespace(self.config.name), updates, fence=self._fence)

    def finish(self, task: Any, offsets: OffsetMap) -> None:
        """Once per tick: a heartbeat (the checkpoints are taken with every report)."""
        self.heartbeat()

    def report(self, task: Any, offsets: OffsetMap) -> dict[str, float]:
        """Every ~10 s and at the end of a tick: lag, data at risk, and the consumer-group
        checkpoints (so a failover re-reads at most ~10 s of a group's progress)."""
        self._store_observations(task)
        progress = self._emit_data_at_risk(task, offsets)
        lag = self.lag_seconds(task, offsets)
        self.telemetry.count(metrics.REPLICATION_LAG_SECONDS, lag, unit="Seconds")
        Checkpointer(self.config, self.stores, task.queues).run()
        return {"lag_seconds": round(lag, 3), **progress}

    def report_failure(self, task: Any, offsets: OffsetMap) -> dict[str, float]:
        """A failing tick (the target refusing, a cluster down): the data at risk from what the
        pulls observed, stored if the store still takes it (fenced), emitted either way. Calls no
        cluster: the one that failed may not answer."""
        try:
            self._store_observations(task)
        except Exception:  # noqa: BLE001 - the metric below matters more than the stored item
            logger.warning("storing the observations of a failing tick failed", exc_info=True,
                           extra={"connector": self.config.name})
        return self._emit_data_at_risk(task, offsets)

    def _emit_data_at_risk(self, task: Any, offsets: OffsetMap) -> dict[str, float]:
        risk = self.data_at_risk(task, offsets)
        self.telemetry.count(metrics.DATA_AT_RISK_MESSAGES, risk.messages)
        self.telemetry.count(metrics.DATA_AT_RISK_SECONDS, risk.seconds, unit="Seconds")
        if not self._reported:
            self._reported = True
            self.telemetry.count(metrics.DATA_AT_RISK_UNREPORTED, -1)
        return {"at_risk_messages": risk.messages, "at_risk_seconds": round(risk.seconds, 3)}

    def _read_stored(self, task: Any) -> None:
        if self._stored is None:
            partitions = [queue_partition(self.config.cluster, mq) for mq in task.queues]
            stored = self.stores.offsets.read(sync_namespace(self.config.name), partitions)
            self._stored = {partition_key(p): item for p, item in stored.pairs()}

    def data_at_risk(self, task: Any, offsets: OffsetMap) -> "at_risk.DataAtRisk":
        """What losing the source now would lose, from the stored watermarks and observations
        (those written by this tick, and before it)."""
        self._read_stored(task)
        assert self._stored is not None
        queues = [at_risk.queue_at_risk(queue_partition(self.config.cluster, mq),
                                        self._stored.get(partition_key(queue_partition(self.config.cluster, mq))),
                                        offsets.get(queue_partition(self.config.cluster, mq)))
                  for mq in task.queues]
        return at_risk.total(queues)

    def lag_seconds(self, task: Any, offsets: OffsetMap) -> float:
        """Age of the oldest message not replicated yet (0 when caught up)."""
        source = self.config.source_cluster.client()
        oldest = None
        for mq in task.queues:
            committed = offsets.get(queue_partition(self.config.cluster, mq))
            if committed is None:
                continue
            result = source.pull(mq, committed["queue_offset"], max_messages=1,
                                 tag_expression=self.config.tag_filter)
            if result.status == "FOUND" and result.messages:
                stored = result.messages[0].store_timestamp
                oldest = stored if oldest is None else min(oldest, stored)
        return 0.0 if oldest is None else max(0.0, self.clock() - oldest / 1000)

    def heartbeat(self) -> None:
        from ..rocketmq import Message

        if not self.config.heartbeat_topic:
            return
        body = json.dumps({"source": self.config.source_cluster.name, "target": self.config.target_cluster.name,
                           "connector": self.config.name, "task": self.context.task_id,
                           "timestamp": int(self.clock() * 1000)}).encode()
        self.target.send(Message(topic=self.config.heartbeat_topic, body=body, tags="heartbeat",
                                 keys=[f"{self.config.name}-{self.context.task_id}"]))


class _Syncs:
    """Offset syncs and watermarks of acknowledged sends, gathered until the next commit.

    Per source queue: runs of consecutive offsets (a run of source offsets landed at consecutive
    target offsets) and the verified watermark: the highest source offset the target acknowledged,
    with that message's born and store times and where it landed."""

    def __init__(self) -> None:
        self.runs: dict[str, tuple[dict[str, Any], list[dict[str, Any]]]] = {}
        self.watermarks: dict[str, dict[str, Any]] = {}

    def extend(self, queue: Any, items: list[WireMessage], first_target_offset: int, acked_at: float,
               keys: dict[int, str]) -> None:
        """A run of ``items`` landed at consecutive target offsets from ``first_target_offset``.
        ``keys`` caches partition keys by object id for the caller's batch (whose records it keeps alive)."""
        target_offset = first_target_offset
        target = [queue.broker_name, queue.topic, queue.queue_id]
        key = None
        for source in items:
            key = keys.get(id(source.partition))
            if key is None:
                key = keys[id(source.partition)] = partition_key(source.partition)
            source_offset = int(source.offset["queue_offset"]) - 1
            entry = self.runs.get(key)
            if entry is None:
                entry = self.runs[key] = (dict(source.partition), [])
            partition_runs = entry[1]
            last = partition_runs[-1] if partition_runs else None
            if last is not None and last["source_offset"] + last["count"] == source_offset \
                    and last["target_offset"] + last["count"] == target_offset \
                    and (last["target"] is target or last["target"] == target):
                last["count"] += 1
            else:
                partition_runs.append({"source_offset": source_offset, "target_offset": target_offset,
                                       "count": 1, "target": target})
            target_offset += 1
        if key is not None:
            last_message = items[-1]
            headers = last_message.headers
            self.watermarks[key] = {
                "source_offset": int(last_message.offset["queue_offset"]) - 1,
                "born_timestamp": born_timestamp(headers, last_message.timestamp),
                "store_timestamp": int(headers[H_STORE_TS]) if headers.get(H_STORE_TS) else None,
                "target": target, "target_offset": target_offset - 1,
                "acked_at": round(acked_at, 3)}

    def take(self) -> tuple[dict[str, tuple[dict[str, Any], list[dict[str, Any]]]], dict[str, dict[str, Any]]]:
        runs, watermarks = self.runs, self.watermarks
        self.runs, self.watermarks = {}, {}
        return runs, watermarks


def append_runs(history: list[dict[str, Any]], new: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A source queue's runs of offset syncs followed by ``new`` ones: runs re-sent after a lost
    commit replace those they start before; a run that continues the last one (the next source
    offset at the next offset of the same target queue) extends it, so a steady stream keeps one run."""
    first = new[0]["source_offset"]
    out = [h for h in history if h["source_offset"] < first]
    for run in new:
        last = out[-1] if out else None
        if last is not None and last["target"] == run["target"] \
                and last["source_offset"] + last["count"] == run["source_offset"] \
                and last["target_offset"] + last["count"] == run["target_offset"]:
            out[-1] = {**last, "count": last["count"] + run["count"]}
        else:
            out.append(run)
    return out[-SYNC_HISTORY:]


def sync_namespace(name: str) -> str:
    return f"{name}.offset-syncs"


def checkpoint_namespace(name: str) -> str:
    return f"{name}.checkpoints"


class Translation(NamedTuple):
    """Where a group resumes on the target: the target queue of the run of offset syncs used, and
    the offset in it."""

    target: tuple[str, str, int]
    offset: int


def translate(history: list[dict[str, Any]], committed: int) -> Translation | None:
    """The target queue and offset for a group whose next source offset is ``committed``.

    Inside a run of consecutive offsets the translation is exact. Past the newest run that starts at
    or before ``committed`` it is the end of that run: messages the group consumed after it were
    either not replicated (filtered, or not yet) or will be replicated later, so the group may read
    some again on the target but never skips one. The target queue is that run's: after the target's
    queue count changed, older runs went to other queues. None when no run is that old.
    """
    runs = [h for h in history if h["source_offset"] <= committed]
    if not runs:
        return None
    run = max(runs, key=lambda h: h["source_offset"])
    broker, topic, queue = run["target"]
    return Translation((broker, topic, int(queue)),
                       run["target_offset"] + min(committed - run["source_offset"], run["count"]))


def untranslated_reason(history: list[dict[str, Any]] | None, committed: int | None) -> str:
    """Why a group's offset on a source queue has no translation."""
    if committed is None:
        return "the group has no committed offset on this source queue"
    if not history:
        return "nothing of this source queue was replicated yet (no offset syncs)"
    oldest = min(h["source_offset"] for h in history)
    return (f"the group's offset {committed} is older than the oldest offset sync kept ({oldest}): "
            "it had not read what was replicated")


class Checkpointer:
    """Translates consumer-group offsets for one task's source queues and stores checkpoints."""

    def __init__(self, config: ReplicatorConfig, stores: "Stores", queues: list["MessageQueue"]) -> None:
        self.config, self.stores, self.queues = config, stores, queues
        self.source = config.source_cluster.client()
        self.target = config.target_cluster.client()

    def run(self) -> dict[str, dict[str, int]]:
        """{group: {"topic/queue on the target": translated offset}} for this task's queues."""
        from ..rocketmq import MessageQueue

        if not self.config.groups:
            return {}
        partitions = [queue_partition(self.config.cluster, mq) for mq in self.queues]
        syncs = self.stores.offsets.read(sync_namespace(self.config.name), partitions)
        out: dict[str, dict[str, int]] = {}
        checkpoints = []
        for group in self.config.groups:
            per_target: dict[tuple[str, str, int], int] = {}
            for mq, partition in zip(self.queues, partitions):
                committed = self.source.query_consumer_offset(group, mq)
                if committed is None or partition not in syncs:
                    continue
                translated = translate(syncs[partition]["history"], committed)
                if translated is None:
                    continue
                target, offset = translated
                # several source queues may feed one target queue: the smallest offset is the safe one
                per_target[target] = min(per_target.get(target, offset), offset)
                checkpoints.append(({**partition, "group": group},
                                    {"source_offset": committed, "target": list(target), "target_offset": offset}))
            for (broker, topic, queue_id), offset in per_target.items():
                target_mq = MessageQueue(broker, topic, queue_id)
                out.setdefault(group, {})[f"{topic}/{queue_id}"] = offset
                if self.config.sync_group_offsets:
                    current = self.target.query_consumer_offset(group, target_mq)
                    if current is None or current < offset:
                        self.target.update_consumer_offset(group, target_mq, offset)
        if checkpoints:
            self._store(checkpoints)
        return out

    def _store(self, checkpoints: list[tuple[dict[str, Any], dict[str, Any]]]) -> None:
        """Checkpoints never go backwards: an older translation does not replace a newer one."""
        name = checkpoint_namespace(self.config.name)
        existing = self.stores.offsets.read(name, [p for p, _ in checkpoints])
        forward = [(p, c) for p, c in checkpoints
                   if p not in existing or existing[p]["target_offset"] <= c["target_offset"]]
        if forward:
            self.stores.offsets.alter(name, forward)


class ReplicatorConnector(RocketMQSourceConnector):
    config_model = ReplicatorConfig  # type: ignore[assignment]
    task_class = ReplicatorTask
    description = ("Replicates RocketMQ topics to another cluster with full fidelity, loop prevention, "
                   "offset translation and heartbeats.")

    def validate(self) -> None:
        super().validate()
        target = self.config.target_cluster.client()
        missing = []
        for topic in self.config.topics:
            name = self.config.target_topic(topic)
            try:
                if not target.writable_queues(name):
                    missing.append(name)
            except Exception:  # noqa: BLE001 - reported below
                missing.append(name)
        if missing:
            raise ConfigError.single("target_cluster", f"topics missing on {self.config.target_cluster.name!r}: "
                                                       f"{', '.join(missing)} (create them first)")

    def publisher(self, stores: "Stores", telemetry: Telemetry, context: TaskContext) -> ReplicatorPublisher:
        return ReplicatorPublisher(self.config, stores, telemetry, context)
