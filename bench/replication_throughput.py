"""Replication throughput and end-to-end lag between two real RocketMQ clusters: the Replicator run
by the serverless runtime, against a plain pull/send loop written with the same client, in the same run.

Workload: N messages of 1 KB (two keys, a tag, two user properties) pre-loaded into a 4-queue topic
of cluster A by a producer going as fast as the client can: 32-message batches, round robin over the
queues, born timestamps stamped by the client per request, so born timestamps come in runs of equal
milliseconds as bursts do.

Throughput, each measurement into a fresh topic of cluster B:

- plain loop (the baseline): pull each A queue by offset (32 messages a pull, the Replicator's
  default) and send them to the same queue id on B with one ``send_batch`` (a request per run of equal born timestamps),
  carrying what the Replicator writes: body, keys, tags, user properties and its provenance properties;
- Replicator: ``SourceRunner.tick`` over in-memory stores, one task, ticked until every message is on B.

Rounds alternate between the two, each in turn first, after eight unmeasured warm-up rounds of each (which
also lets the brokers' JIT compile their hot paths). The median round of each counts: with four
JVMs and other work sharing the machine, the best round is a lucky draw that a rerun does not
reproduce (best rounds are reported too). Numbers are per task (both are one thread): messages/s and
MB/s of message bodies (MB = 10^6 bytes). Remoting requests are counted and timed by request code;
outside them the client works in Python, or waits for a core. Python CPU time per message is
measured as well: unlike wall time, it does not depend on what else runs on the machine. The brokers
JIT with C2, as in production (``--broker-jit c1``: the test harness's C1-only JVMs, which start
faster but make the broker the bottleneck). Reference points: pulls alone, sends alone, and the
plain loop with one thread per queue.

Lag: a separate process produces into A at a fixed rate for a few seconds while the plain loop
polls, or ticks run back to back; per message, B's store timestamp minus A's born timestamp.

Where the time goes: one more round of each under cProfile (CPU time), by area and by function.

Targets: Replicator >= 0.9 x the plain loop, and >= 20 MB/s per task.

    python bench/replication_throughput.py [--quick] [--messages 20000] [--rounds 5] [--no-profile]
                                           [--broker-jit c2|c1] [--clusters-from WORKDIR] [--out bench/results]

``--clusters-from`` uses clusters started with ``python -m connect_core.rocketmq.broker up --workdir
WORKDIR`` instead of starting two (a minute saved per run while iterating).
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import json
import math
import os
import platform
import pstats
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, Protocol

from connect_core.config import validate_config
from connect_core.connectors.replicator import (P_PATH, P_SOURCE_CLUSTER, P_SOURCE_MSG_ID, P_SOURCE_OFFSET,
                                                P_SOURCE_QUEUE, P_SOURCE_TOPIC)
from connect_core.connectors.rocketmq import RocketMQSourceConfig, client_for
from connect_core.rocketmq import Message, MessageExt, MessageQueue, RocketMQClient, TopicNotFoundError, shared_pool
from connect_core.rocketmq.broker import RocketMQClusters, find_java, load_state
from connect_core.rocketmq.codes import RequestCode
from connect_core.runtime.source_runner import SourceRunner
from connect_core.runtime.tasks import TaskCache
from connect_core.storage import Stores

TARGET_RATIO = 0.9
TARGET_MB_S = 20.0
MB = 1_000_000
BODY_BYTES = 1024
QUEUES = 4
PRODUCE_BATCH = 32
PULL_BATCH = RocketMQSourceConfig.model_fields["pull_batch_size"].default
MAX_POLL_RECORDS = RocketMQSourceConfig.model_fields["max_poll_records"].default
SOURCE, TARGET = "A", "B"
TAGS = ("created", "paid", "shipped", "cancelled")
FOREVER = lambda: 600_000  # noqa: E731 - a tick's remaining time: never the reason it stops
STALL_S = 60.0  # no progress for this long: the run is broken, not slow
PRODUCE_INTERVAL_S = 0.005


class Cluster(Protocol):
    namesrv_addr: str

    def create_topic(self, topic: str, queues: int = 4) -> None: ...


# -- workload ------------------------------------------------------------------------------------

def order_message(topic: str, i: int) -> Message:
    head = f'{{"order_id":{i},"customer":"c-{i % 977}","amount":{i * 1.37:.2f},"currency":"EUR","note":"'
    body = (head + "x" * (BODY_BYTES - len(head) - 2) + '"}').encode()
    return Message(topic=topic, body=body, tags=TAGS[i % len(TAGS)], keys=[f"order-{i}", f"c-{i % 977}"],
                   properties={"tenant": f"t{i % 13}", "origin": "checkout"})


def preload(client: RocketMQClient, topic: str, count: int) -> None:
    """As fast as the client can: born timestamps are stamped per request (None = now)."""
    queues = client.writable_queues(topic)
    for n, start in enumerate(range(0, count, PRODUCE_BATCH)):
        batch = [order_message(topic, i) for i in range(start, min(start + PRODUCE_BATCH, count))]
        client.send_batch(batch, queue=queues[n % len(queues)])


def produce_at_rate(namesrv_addr: str, topic: str, rate: float, seconds: float,
                    ready: Callable[[], None] = lambda: None) -> int:
    """Every few milliseconds, the messages due by then in one request, round robin over the queues."""
    client = RocketMQClient(namesrv_addr)
    queues = client.writable_queues(topic)
    ready()
    total = int(rate * seconds)
    sent = requests = ticks = 0
    start = time.monotonic()
    while sent < total:
        due = min(total, int((time.monotonic() - start) * rate)) - sent
        if due > 0:
            client.send_batch([order_message(topic, sent + k) for k in range(due)],
                              queue=queues[requests % len(queues)])
            sent += due
            requests += 1
        ticks += 1
        time.sleep(max(0.0, start + ticks * PRODUCE_INTERVAL_S - time.monotonic()))
    return sent


def queue_counts(client: RocketMQClient, topic: str) -> dict[int, int]:
    return {mq.queue_id: client.max_offset(mq) - client.min_offset(mq) for mq in client.message_queues(topic)}


def await_counts(client: RocketMQClient, topic: str, expected: Callable[[dict[int, int]], bool],
                 timeout: float = 15.0) -> dict[int, int]:
    """A sent message is acknowledged once in the commit log; the consume queues (what max offsets and
    pulls see) follow a moment later, longer on a busy machine."""
    deadline = time.monotonic() + timeout
    while True:
        counts = queue_counts(client, topic)
        if expected(counts) or time.monotonic() > deadline:
            return counts
        time.sleep(0.05)


def born_runs(messages: list[MessageExt]) -> int:
    """Runs of equal born timestamps within each queue: the fewest send requests that keep them exact."""
    runs = 0
    last: dict[int, int | None] = {}
    for m in sorted(messages, key=lambda m: (m.queue_id, m.queue_offset)):
        if last.get(m.queue_id, -1) != m.born_timestamp:
            runs += 1
        last[m.queue_id] = m.born_timestamp
    return runs


# -- the two ways of replicating -----------------------------------------------------------------

class PlainLoop:
    """The baseline: a replication loop written by hand with the same client, one thread."""

    def __init__(self, source: RocketMQClient, target: RocketMQClient, source_topic: str, target_topic: str) -> None:
        self.source, self.target = source, target
        self.source_topic, self.target_topic = source_topic, target_topic
        self.offsets: dict[MessageQueue, int] | None = None
        self.target_of: dict[MessageQueue, MessageQueue] = {}
        self.copied = 0

    def step(self) -> int:
        """Round robin, one pull and one send per queue a round, until no queue has new messages."""
        if self.offsets is None:
            queues = self.source.message_queues(self.source_topic)
            self.offsets = {mq: self.source.min_offset(mq) for mq in queues}
            targets = self.target.writable_queues(self.target_topic)
            self.target_of = {mq: targets[mq.queue_id % len(targets)] for mq in queues}
        copied = 0
        active = list(self.offsets)
        while active:
            progressing = []
            for mq in active:
                result = self.source.pull(mq, self.offsets[mq], max_messages=PULL_BATCH)
                if result.status == "FOUND":
                    self.target.send_batch([self.replica(m) for m in result.messages], queue=self.target_of[mq])
                    copied += len(result.messages)
                if result.next_offset != self.offsets[mq]:
                    self.offsets[mq] = result.next_offset
                    progressing.append(mq)
            active = progressing
        self.copied += copied
        return copied

    def replica(self, m: MessageExt) -> Message:
        # What the Replicator writes for a message on its first hop (the source's message id too).
        properties = {**m.properties, P_PATH: SOURCE, P_SOURCE_CLUSTER: SOURCE, P_SOURCE_TOPIC: m.topic,
                      P_SOURCE_QUEUE: str(m.queue_id), P_SOURCE_OFFSET: str(m.queue_offset),
                      P_SOURCE_MSG_ID: m.unique_id}
        return Message(topic=self.target_topic, body=m.body, tags=m.tags, keys=m.keys, properties=properties,
                       born_timestamp=m.born_timestamp, unique_id=m.unique_id)


class Replicator:
    """The Replicator deployed over in-memory stores and ticked as the scheduler would: a fresh
    SourceRunner per invocation, the task cache of a warm Lambda."""

    def __init__(self, a: Cluster, b: Cluster, source_topic: str, target_topic: str) -> None:
        self.name = f"bench-{uuid.uuid4().hex[:8]}"
        config = {"name": self.name, "connector": "rocketmq-replicator", "topics": [source_topic], "max_tasks": 1,
                  "polling": "drain", "source_cluster": {"name": SOURCE, "namesrv_addr": a.namesrv_addr},
                  "target_cluster": {"name": TARGET, "namesrv_addr": b.namesrv_addr},
                  "topic_map": {source_topic: target_topic}, **REPLICATOR_SETTINGS}
        self.stores = Stores.in_memory()
        self.tasks = TaskCache()
        connector = validate_config(config)
        self.stores.configs.put_connector(self.name, config)
        self.stores.configs.put_task_configs(self.name, connector.task_configs(1), generation=1)
        self.copied = 0
        self.ticks = 0

    def step(self) -> int:
        result = SourceRunner(self.stores, owner=f"tick-{self.ticks}", tasks=self.tasks).tick(self.name, 0, FOREVER)
        if result.outcome != "ran":
            raise RuntimeError(f"tick {self.ticks}: {result.outcome}: {result.error}")
        self.ticks += 1
        self.copied += result.published
        return result.published


KINDS = ("plain_loop", "replicator")
#: Settings the benchmarked Replicator gets on top of its defaults (``--concurrency``).
REPLICATOR_SETTINGS: dict[str, Any] = {}
LABELS = {"plain_loop": "plain loop", "replicator": "Replicator"}


def replication(kind: str, a: Cluster, b: Cluster, source_topic: str, target_topic: str) -> PlainLoop | Replicator:
    if kind == "plain_loop":
        return PlainLoop(client_for(a.namesrv_addr), client_for(b.namesrv_addr), source_topic, target_topic)
    return Replicator(a, b, source_topic, target_topic)


# -- measuring -----------------------------------------------------------------------------------

class RequestLog:
    """Remoting requests through the shared connection pool, by request code: how many, and the wall
    time from writing each until its answer was read (frame encoding, the round trip and the
    broker's work, frame decoding; requests in flight together overlap)."""

    def __init__(self) -> None:
        self.count: Counter[str] = Counter()
        self.seconds: defaultdict[str, float] = defaultdict(float)

    @contextmanager
    def recording(self) -> Iterator["RequestLog"]:
        pool = shared_pool()
        original = pool.begin
        log = self

        class Timed:
            def __init__(self, cmd: Any, begin: Callable[[], Any]) -> None:
                self.name, self.started = _code_name(cmd.code), time.perf_counter()
                self.request = begin()

            def answer(self) -> Any:
                try:
                    return self.request.answer()
                finally:
                    log.count[self.name] += 1
                    log.seconds[self.name] += time.perf_counter() - self.started

            def cancel(self) -> None:
                self.request.cancel()

        pool.begin = lambda addr, cmd, timeout_s: Timed(cmd, lambda: original(addr, cmd, timeout_s))  # type: ignore[method-assign]
        try:
            yield self
        finally:
            del pool.begin


def _code_name(code: int) -> str:
    try:
        return RequestCode(code).name
    except ValueError:
        return str(code)


def throughput_round(kind: str, a: Cluster, b: Cluster, source_topic: str, count: int,
                     profile: cProfile.Profile | None = None) -> dict[str, Any]:
    source, target = client_for(a.namesrv_addr), client_for(b.namesrv_addr)
    target_topic = fresh_topic(b, f"{kind}-copy")
    stepper = replication(kind, a, b, source_topic, target_topic)
    log = RequestLog()
    gc.collect()
    with log.recording():
        cpu, started = time.process_time(), time.perf_counter()
        if profile is not None:
            profile.enable()
        last_progress = started
        while stepper.copied < count:
            if stepper.step():
                last_progress = time.perf_counter()
            elif time.perf_counter() - last_progress > STALL_S:
                raise RuntimeError(f"{kind}: {stepper.copied} of {count} messages, "
                                   f"then {STALL_S:.0f}s without progress")
        if profile is not None:
            profile.disable()
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    expected = queue_counts(source, source_topic)
    copied = await_counts(target, target_topic, lambda counts: counts == expected)
    if stepper.copied != count or copied != expected:
        raise RuntimeError(f"{kind}: B's {target_topic} holds {copied}, A's {source_topic} {expected}")
    in_requests = sum(log.seconds.values())
    return {
        "seconds": round(wall, 3),
        "messages_per_s": round(count / wall),
        "mb_per_s": round(count * BODY_BYTES / MB / wall, 2),
        "python_cpu_share": round(cpu / wall, 3),
        "cpu_us_per_message": round(cpu / count * 1e6, 1),
        "share_in_requests": round(in_requests / wall, 3),
        # only meaningful one request at a time: overlapping requests' times add up past the wall time
        "us_per_message_outside_requests": round((wall - in_requests) / count * 1e6, 1) if in_requests <= wall else None,
        "requests": dict(sorted(log.count.items())),
        "ms_per_request": {k: round(log.seconds[k] / n * 1000, 3) for k, n in sorted(log.count.items())},
        "ticks": stepper.ticks if isinstance(stepper, Replicator) else None,
        "target_topic": target_topic,
    }


def lag_run(kind: str, a: Cluster, b: Cluster, rate: float, seconds: float) -> tuple[dict[str, Any], list[int]]:
    """Produce at ``rate`` for ``seconds`` in another process while ``kind`` replicates continuously."""
    target = client_for(b.namesrv_addr)
    source_topic = fresh_topic(a, f"{kind}-live")
    target_topic = fresh_topic(b, f"{kind}-live-copy")
    stepper = replication(kind, a, b, source_topic, target_topic)
    stepper.step()  # a warm start: the first tick builds the connector and its task
    log = RequestLog()
    producer = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--produce", a.namesrv_addr,
                                 source_topic, "--lag-rate", str(rate), "--lag-seconds", str(seconds)],
                                stdout=subprocess.PIPE, text=True)
    produced: int | None = None
    steps = 0
    try:
        if producer.stdout.readline().strip() != "ready":  # measure from the first message on
            raise RuntimeError(f"the producer exited before producing ({producer.wait()})")
        with log.recording():
            started = last_progress = time.perf_counter()
            while produced is None or stepper.copied < produced:
                if stepper.step():
                    last_progress = time.perf_counter()
                elif time.perf_counter() - last_progress > STALL_S + seconds:
                    raise RuntimeError(f"{kind} lag run: no progress for {STALL_S + seconds:.0f}s")
                steps += 1
                if produced is None and producer.poll() is not None:
                    if producer.returncode != 0:
                        raise RuntimeError(f"the producer exited with {producer.returncode}")
                    produced = json.loads(producer.stdout.read())["sent"]
            elapsed = time.perf_counter() - started
    finally:
        if producer.poll() is None:
            producer.kill()
        producer.wait()
    await_counts(target, target_topic, lambda counts: sum(counts.values()) >= (produced or 0))
    copies = target.read_all(target_topic)
    if len(copies) != produced:
        raise RuntimeError(f"{kind} lag run: {len(copies)} messages on B, {produced} produced")
    lags = sorted(m.store_timestamp - m.born_timestamp for m in copies)
    return {"messages": produced, "rate_per_s": rate, "seconds": seconds, "steps": steps,
            "ms_per_step": round(elapsed / steps * 1000, 1),
            "requests_per_step": round(sum(log.count.values()) / steps, 1),
            "requests_per_step_by_code": {k: round(n / steps, 2) for k, n in sorted(log.count.items())},
            "p50_ms": percentile(lags, 50), "p95_ms": percentile(lags, 95), "p99_ms": percentile(lags, 99),
            "max_ms": lags[-1]}, lags


def reference_points(a: Cluster, b: Cluster, source_topic: str, count: int, rounds: int) -> dict[str, float]:
    """What this machine allows one task, best of ``rounds``: pulls alone (decoded), sends alone (the
    plain loop's messages, built beforehand), the sequential bound of the two, and the plain loop run
    with one thread per queue (requests overlap; the pool gives each thread its own connection)."""
    source, target = client_for(a.namesrv_addr), client_for(b.namesrv_addr)
    times: dict[str, list[float]] = defaultdict(list)

    @contextmanager
    def timed(name: str) -> Iterator[None]:
        gc.collect()
        started = time.perf_counter()
        yield
        times[name].append(time.perf_counter() - started)

    for _ in range(rounds):
        with timed("pull"):
            pulled = source.read_all(source_topic)

        topic = fresh_topic(b, "send-only")
        loop = PlainLoop(source, target, source_topic, topic)
        targets = target.writable_queues(topic)
        by_queue: dict[int, list[Message]] = defaultdict(list)
        for m in pulled:
            by_queue[m.queue_id].append(loop.replica(m))
        with timed("send"):
            for queue_id, replicas in by_queue.items():
                for i in range(0, len(replicas), PULL_BATCH):
                    target.send_batch(replicas[i:i + PULL_BATCH], queue=targets[queue_id % len(targets)])

        loop = PlainLoop(source, target, source_topic, fresh_topic(b, "thread-per-queue"))
        targets = target.writable_queues(loop.target_topic)
        queues = source.message_queues(source_topic)

        def copy(mq: MessageQueue) -> None:
            offset = source.min_offset(mq)
            while (result := source.pull(mq, offset, max_messages=PULL_BATCH)).status == "FOUND":
                target.send_batch([loop.replica(m) for m in result.messages],
                                  queue=targets[mq.queue_id % len(targets)])
                offset = result.next_offset

        with timed("threads"), ThreadPoolExecutor(len(queues)) as pool:
            list(pool.map(copy, queues))
        expected = queue_counts(source, source_topic)
        if await_counts(target, loop.target_topic, lambda counts: counts == expected) != expected:
            raise RuntimeError("the plain loop with one thread per queue lost messages")

    mb_s = {name: count * BODY_BYTES / MB / min(t) for name, t in times.items()}
    return {"pull_only_mb_per_s": round(mb_s["pull"], 2), "send_only_mb_per_s": round(mb_s["send"], 2),
            "sequential_bound_mb_per_s": round(1 / (1 / mb_s["pull"] + 1 / mb_s["send"]), 2),
            "plain_loop_thread_per_queue_mb_per_s": round(mb_s["threads"], 2)}


def percentile(ordered: list[int], p: float) -> int:
    """Nearest rank."""
    return ordered[max(0, math.ceil(len(ordered) * p / 100) - 1)]


_topics = Counter[str]()


def fresh_topic(cluster: Cluster, role: str) -> str:
    _topics[role] += 1
    name = f"bench-{role}-{_topics[role]}-{uuid.uuid4().hex[:6]}"
    cluster.create_topic(name, queues=QUEUES)
    return name


# -- where the time goes -------------------------------------------------------------------------

# connect_core module (path under connect_core/) and function names -> area; first match wins.
AREAS: tuple[tuple[str, frozenset[str] | None, str], ...] = (
    ("rocketmq/message.py", frozenset({"decode_messages", "decode_message", "_split_property_text",
                                       "string_to_properties", "split_properties", "is_system_property",
                                       "format_host", "_format_host", "offset_msg_id", "offset_msg_id_of",
                                       "_topic_name", "_unwrap", "_decompress", "decode_batch_body",
                                       "<listcomp>"}),  # message.py's list comprehensions split keys
     "decode pulled messages (message.py)"),
    ("rocketmq/message.py", None, "encode: properties, ids, batch (message.py)"),
    ("rocketmq/client.py", frozenset({"writable_queues", "message_queues", "topic_route", "broker_addr",
                                      "invalidate_route"}), "route and queue lookups (client.py)"),
    ("rocketmq/route.py", None, "route and queue lookups (client.py)"),
    ("rocketmq/client.py", None, "requests, born-time runs (client.py)"),
    ("rocketmq/", None, "frames, sockets (protocol.py, connection.py)"),
    ("connectors/replicator.py", frozenset({"publish", "<dictcomp>", "<listcomp>", "<genexpr>"}),
     "ReplicatorPublisher.publish"),
    ("connectors/replicator.py", frozenset({"record"}), "source and replicator Task.record"),
    ("connectors/rocketmq.py", frozenset({"record"}), "source and replicator Task.record"),
    ("connectors/", None, "poll, lag, offset syncs (connectors/)"),
    ("runtime/pipeline.py", None, "pipeline, transforms, converters"),
    ("transforms/", None, "pipeline, transforms, converters"),
    ("convert/", None, "pipeline, transforms, converters"),
    ("api/", None, "records, offset maps (api/)"),
    ("storage/", None, "stores (storage/)"),
    ("runtime/", None, "runner, task cache (runtime/)"),
    ("config/", None, "config validation"),
)
BENCH_AREA = "plain loop's own code (bench)"
OTHER_AREA = "interpreter and standard library at top level"


def _owner(func: tuple[str, int, str]) -> tuple[str, str] | None:
    """(area, function) for connect_core and bench code; None for the standard library and builtins."""
    filename, line, name = func
    path = filename.replace(os.sep, "/")
    if "/connect_core/" in path:
        module = path.split("/connect_core/", 1)[1]
        label = f"{module}:{line} {name}"
        for prefix, names, area in AREAS:
            if module.startswith(prefix) and (names is None or name in names):
                return area, label
        return "other connect_core", label
    if path.endswith("/bench/replication_throughput.py"):
        return BENCH_AREA, f"bench:{line} {name}"
    return None


def time_by_owner(profile: cProfile.Profile) -> dict[tuple[str, str], float]:
    """Own time of each connect_core (and bench) function, plus the standard-library and builtin
    time spent under it: that is charged to the nearest connect_core callers, in proportion to the
    time of the calls from each."""
    stats = pstats.Stats(profile).stats  # type: ignore[attr-defined]
    memo: dict[Any, dict[tuple[str, str], float]] = {}

    def shares(func: Any, seen: frozenset[Any]) -> dict[tuple[str, str], float]:
        owner = _owner(func)
        if owner is not None:
            return {owner: 1.0}
        if func in memo:
            return memo[func]
        callers = stats[func][4] if func in stats else {}
        weights = {c: v[2] for c, v in callers.items() if c not in seen and v[2] > 0}
        total = sum(weights.values())
        if not total:
            return {(OTHER_AREA, OTHER_AREA): 1.0}
        out: dict[tuple[str, str], float] = defaultdict(float)
        for caller, weight in weights.items():
            for owner, fraction in shares(caller, seen | {func}).items():
                out[owner] += fraction * weight / total
        memo[func] = dict(out)
        return memo[func]

    owners: dict[tuple[str, str], float] = defaultdict(float)
    for func, (_, _, own, _, _) in stats.items():
        for owner, fraction in shares(func, frozenset()).items():
            owners[owner] += own * fraction
    return owners


def profile_round(kind: str, a: Cluster, b: Cluster, source_topic: str, count: int,
                  cpu_us_per_message: float) -> dict[str, Any]:
    """CPU time (not wall time: the machine is shared) by area and by function, scaled to the CPU
    time per message of the median unprofiled round, since the profiler itself slows Python down."""
    profile = cProfile.Profile(time.process_time)
    # Both loops run in one thread (the Replicator keeps its requests in flight from it), so the
    # profile sees all of their work.
    measured = throughput_round(kind, a, b, source_topic, count, profile=profile)
    owners = time_by_owner(profile)
    total = sum(owners.values())
    areas: dict[str, float] = defaultdict(float)
    for (area, _), seconds in owners.items():
        areas[area] += seconds

    def row(name: str, seconds: float) -> dict[str, Any]:
        return {"name": name, "share": round(seconds / total, 3),
                "us_per_message": round(seconds / total * cpu_us_per_message, 1)}

    return {"cpu_seconds_under_profiler": round(total, 3), "wall_seconds_under_profiler": measured["seconds"],
            "cpu_us_per_message_unprofiled": cpu_us_per_message,
            "areas": [row(k, v) for k, v in sorted(areas.items(), key=lambda kv: -kv[1])],
            "functions": [row(f, v) for (_, f), v in sorted(owners.items(), key=lambda kv: -kv[1])[:25]]}


# -- the run -------------------------------------------------------------------------------------

def run(a: Cluster, b: Cluster, *, messages: int, rounds: int, warmup: int, lag_rate: float, lag_seconds: float,
        warmup_rounds: int = 1,
        profile: bool, brokers: dict[str, str], log: Callable[[str], None] = print,
        ) -> tuple[dict[str, Any], dict[str, list[int]]]:
    load_before = _load()
    source = client_for(a.namesrv_addr)
    warm_topic = fresh_topic(a, "warmup")
    preload(source, warm_topic, warmup)
    await_counts(source, warm_topic, lambda counts: sum(counts.values()) >= warmup)
    for _ in range(warmup_rounds):  # JIT of the brokers' JVMs, connections, page cache: not measured
        for kind in KINDS:
            throughput_round(kind, a, b, warm_topic, warmup)

    source_topic = fresh_topic(a, "orders")
    started = time.perf_counter()
    preload(source, source_topic, messages)
    preload_s = time.perf_counter() - started
    await_counts(source, source_topic, lambda counts: sum(counts.values()) >= messages)
    loaded = source.read_all(source_topic)
    if len(loaded) != messages:
        raise RuntimeError(f"pre-load: {len(loaded)} of {messages} messages on A")
    runs = born_runs(loaded)
    log(f"pre-loaded {messages} messages in {preload_s:.1f}s; {runs} runs of equal born timestamps")

    rounds_by_kind: dict[str, list[dict[str, Any]]] = {k: [] for k in KINDS}
    for r in range(rounds):
        for kind in (KINDS if r % 2 == 0 else KINDS[::-1]):  # neither always runs after the other
            result = throughput_round(kind, a, b, source_topic, messages)
            rounds_by_kind[kind].append(result)
            log(f"round {r + 1} {LABELS[kind]:>11}: {result['messages_per_s']:>6} msg/s "
                f"{result['mb_per_s']:>6} MB/s  cpu {result['python_cpu_share']:.0%}  "
                f"in requests {result['share_in_requests']:.0%}")
    # The middle round counts (for an even count, the slower of the two middle ones): on a shared
    # machine the best round is one lucky draw, the median is what a rerun reproduces.
    middle = {k: sorted(v, key=lambda r: r["seconds"])[len(v) // 2] for k, v in rounds_by_kind.items()}
    best = {k: min(v, key=lambda r: r["seconds"]) for k, v in rounds_by_kind.items()}
    check_fidelity(client_for(b.namesrv_addr), middle["plain_loop"]["target_topic"],
                   middle["replicator"]["target_topic"])

    reference = reference_points(a, b, source_topic, messages, rounds=2 if rounds > 1 else 1)
    log(f"reference points (MB/s): {reference}")

    lag, lags = {}, {}
    for kind in KINDS:
        lag[kind], lags[kind] = lag_run(kind, a, b, lag_rate, lag_seconds)
        log(f"lag {LABELS[kind]:>11}: p50 {lag[kind]['p50_ms']} ms  p95 {lag[kind]['p95_ms']} ms  "
            f"max {lag[kind]['max_ms']} ms")

    profiles = {}
    if profile:
        for kind in KINDS:
            profiles[kind] = profile_round(kind, a, b, source_topic, messages, middle[kind]["cpu_us_per_message"])
            log(f"profiled {LABELS[kind]}")

    ratio = middle["replicator"]["messages_per_s"] / middle["plain_loop"]["messages_per_s"]
    result = {
        "benchmark": "replication_throughput",
        "messages": messages,
        "body_bytes": BODY_BYTES,
        "queues": QUEUES,
        "pull_batch": PULL_BATCH,
        "max_poll_records": MAX_POLL_RECORDS,
        "replicator_settings": dict(REPLICATOR_SETTINGS) or "defaults (pull_concurrency 4, send_concurrency 4)",
        "produce_batch": PRODUCE_BATCH,
        "born_timestamp_runs": runs,
        "rounds": rounds,
        "statistic": "the median round",
        "machine": {**machine_facts(), **brokers, "load_average_1m": {"before": load_before, "after": _load()}},
        "results": {k: {**middle[k], "rounds_mb_per_s": [r["mb_per_s"] for r in rounds_by_kind[k]],
                        "best_mb_per_s": best[k]["mb_per_s"]} for k in KINDS},
        "ratio_replicator_to_plain_loop": round(ratio, 3),
        "ratio_of_best_rounds": round(best["replicator"]["messages_per_s"] / best["plain_loop"]["messages_per_s"], 3),
        "cpu_per_message_ratio": round(middle["replicator"]["cpu_us_per_message"]
                                       / middle["plain_loop"]["cpu_us_per_message"], 3),
        "reference_points": reference,
        "lag": lag,
        "targets": {"ratio": TARGET_RATIO, "mb_per_s": TARGET_MB_S},
        "meets_ratio_target": ratio >= TARGET_RATIO,
        "meets_mb_per_s_target": middle["replicator"]["mb_per_s"] >= TARGET_MB_S,
        "profile": profiles or None,
    }
    return result, lags


def check_fidelity(target: RocketMQClient, plain_topic: str, replicator_topic: str) -> None:
    """Both ways wrote the same messages: same body, keys, tags, properties, born timestamp, queue."""
    def first(topic: str) -> list[MessageExt]:
        return [m for mq in target.message_queues(topic) for m in target.pull(mq, 0, max_messages=PULL_BATCH).messages]

    def content(m: MessageExt) -> tuple[Any, ...]:
        return (m.queue_id, m.queue_offset, m.body, m.tags, m.keys, m.properties, m.born_timestamp)

    if [content(m) for m in first(plain_topic)] != [content(m) for m in first(replicator_topic)]:
        raise RuntimeError("the plain loop and the Replicator wrote different messages: the comparison is unfair")


def _load() -> float | None:
    try:
        return round(os.getloadavg()[0], 1)
    except OSError:
        return None


def machine_facts() -> dict[str, Any]:
    try:
        out = subprocess.run([find_java(), "-version"], capture_output=True, text=True, timeout=60)
        java = (out.stderr or out.stdout).splitlines()[0]
    except Exception as exc:  # noqa: BLE001 - a fact we could not get is reported as such
        java = f"unknown ({exc})"
    cpu = platform.processor() or platform.machine()
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                   if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {"python": sys.version.split()[0], "cores": os.cpu_count(), "cpu": cpu,
            "system": f"{platform.machine()}, {platform.system()}",
            "memory_gib": _memory_gib(), "java": java}


def _memory_gib() -> float | None:
    try:
        return round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        return None


# -- output --------------------------------------------------------------------------------------

def write(result: dict[str, Any], lags: dict[str, list[int]], out_dir: Path) -> str:
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "replication_throughput.json").write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    plot_note = plot(result, lags, out_dir / "replication_throughput.png")
    (out_dir / "replication_throughput.md").write_text(report(result, plot_note))
    return plot_note


def report(result: dict[str, Any], plot_note: str) -> str:
    r, machine = result["results"], result["machine"]
    repl = r["replicator"]
    lines = [
        "# Replication throughput and lag",
        "",
        f"{result['messages']} messages of {result['body_bytes']} B (two keys, a tag, two user properties) in a "
        f"{result['queues']}-queue topic of cluster A, pre-loaded in {result['produce_batch']}-message batches "
        f"as fast as the client can ({result['born_timestamp_runs']} runs of equal born timestamps), "
        f"replicated to a fresh topic of cluster B per measurement; {result['pull_batch']} messages a pull, "
        f"{result['statistic']} of {result['rounds']} counts. The plain loop makes one request at a time; the "
        f"Replicator runs with {result.get('replicator_settings')}, its requests in flight together from one thread.",
        "",
        f"Machine: {machine['cores']} cores ({machine['cpu']}), {machine['memory_gib']} GiB, {machine['system']}; "
        f"Python {machine['python']}; RocketMQ {machine['rocketmq']}, {machine['java']}, JIT {machine['broker_jit']}; "
        f"{machine['brokers']}. Load average (1 min) {machine['load_average_1m']['before']} before the "
        f"measurements and {machine['load_average_1m']['after']} after (the machine may be shared).",
        "",
        "## Throughput per task",
        "",
        "| | messages/s | MB/s | send requests | pull requests | wall time in requests "
        "| µs/message outside requests | Python CPU µs/message | MB/s of each round |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for kind in KINDS:
        x = r[kind]
        sends = x["requests"].get("SEND_BATCH_MESSAGE", 0) + x["requests"].get("SEND_MESSAGE_V2", 0)
        lines.append(f"| {LABELS[kind]} | {x['messages_per_s']} | **{x['mb_per_s']}** | {sends} | "
                     f"{x['requests'].get('PULL_MESSAGE', 0)} | {x['share_in_requests']:.0%} | "
                     f"{x['us_per_message_outside_requests'] or 'n/a (requests overlap)'} | {x['cpu_us_per_message']} | "
                     f"{', '.join(map(str, x['rounds_mb_per_s']))} |")
    lines += [
        "",
        f"Replicator / plain loop: **{result['ratio_replicator_to_plain_loop']}** "
        f"(target ≥ {result['targets']['ratio']}: {'met' if result['meets_ratio_target'] else 'NOT met'}). "
        f"Replicator {repl['mb_per_s']} MB/s per task (target ≥ {result['targets']['mb_per_s']} MB/s: "
        f"{'met' if result['meets_mb_per_s_target'] else 'NOT met'}; MB = 10^6 bytes of message bodies). "
        f"Best rounds: {r['plain_loop']['best_mb_per_s']} and {repl['best_mb_per_s']} MB/s, "
        f"ratio {result['ratio_of_best_rounds']}. Python CPU per message, Replicator / plain loop: "
        f"{result['cpu_per_message_ratio']} (CPU time does not depend on what else runs on the machine).",
        "",
        "Requests of the median round, by code, with the mean milliseconds each:",
        "",
    ]
    for kind in KINDS:
        x = r[kind]
        lines.append(f"- {LABELS[kind]}: " + ", ".join(f"{code} {n} ({x['ms_per_request'][code]} ms)"
                                                        for code, n in x["requests"].items()))
    ref = result["reference_points"]
    lines += [
        "",
        "What this machine allows one task (MB/s, same messages): pulls alone (decoded) "
        f"{ref['pull_only_mb_per_s']}, sends alone (messages built beforehand, {result['pull_batch']} a request) "
        f"{ref['send_only_mb_per_s']}, so at most {ref['sequential_bound_mb_per_s']} for any loop that pulls and "
        f"sends one request at a time; the plain loop with one thread per queue (requests overlap): "
        f"{ref['plain_loop_thread_per_queue_mb_per_s']}.",
    ]
    lag = result["lag"]
    first = lag[KINDS[0]]
    lines += [
        "",
        "## End-to-end lag",
        "",
        f"{first['rate_per_s']:g} messages/s produced into A for {first['seconds']:g} s by another process "
        "while the plain loop polls without pause, or ticks run back to back; per message, B's store "
        "timestamp minus A's born timestamp. A scheduled deployment adds the time between ticks.",
        "",
        "| | messages | p50 (ms) | p95 (ms) | p99 (ms) | max (ms) | loop passes / ticks | ms each | requests each |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for kind in KINDS:
        x = lag[kind]
        lines.append(f"| {LABELS[kind]} | {x['messages']} | {x['p50_ms']} | {x['p95_ms']} | {x['p99_ms']} | "
                     f"{x['max_ms']} | {x['steps']} | {x['ms_per_step']} | {x['requests_per_step']} |")
    if result.get("profile"):
        lines += ["", "## Where the Python time goes (cProfile, one extra round each)", "",
                  "CPU time (the machine is shared: wall time would count other processes), by area and by "
                  "function; standard-library and builtin time is charged to the connect_core function that "
                  "called it. Shares are of the profiled round; µs/message scales them to the CPU time per "
                  "message of the median unprofiled round (the profiler slows call-heavy code most, so small "
                  "functions called per property are somewhat overstated). Both loops run in one thread, "
                  "so the profile sees all of their work.", ""]
        for kind in KINDS:
            p = result["profile"][kind]
            lines += [f"### {LABELS[kind]}: {p['cpu_us_per_message_unprofiled']} µs of CPU per message", "",
                      "| area | share | ≈ µs/message |", "|---|---|---|"]
            lines += [f"| {x['name']} | {x['share']:.0%} | {x['us_per_message']} |" for x in p["areas"]
                      if x["share"] >= 0.005]
            lines += ["", "| function (with the library calls under it) | share | ≈ µs/message |", "|---|---|---|"]
            lines += [f"| `{x['name']}` | {x['share']:.1%} | {x['us_per_message']} |" for x in p["functions"][:15]]
            lines.append("")
    lines += ["", plot_note, ""]
    return "\n".join(lines)


def cpu_areas(ax: Any, result: dict[str, Any], shown: int = 7) -> None:
    """Stacked CPU µs per message by area, the same colour for an area in both bars."""
    profiles = result["profile"]
    totals: dict[str, float] = defaultdict(float)
    for kind in KINDS:
        for row in profiles[kind]["areas"]:
            totals[row["name"]] += row["us_per_message"]
    names = sorted(totals, key=lambda n: -totals[n])[:shown]
    palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#bcbd22"]
    bottoms = [0.0] * len(KINDS)
    for i, name in enumerate([*names, "everything else"]):
        heights = []
        for kind in KINDS:
            rows = {r["name"]: r["us_per_message"] for r in profiles[kind]["areas"]}
            heights.append(rows.get(name, 0.0) if name in names
                           else sum(v for n, v in rows.items() if n not in names))
        ax.bar([LABELS[k] for k in KINDS], heights, bottom=bottoms, color=palette[i % len(palette)], label=name)
        bottoms = [b + h for b, h in zip(bottoms, heights)]
    for x, total in enumerate(bottoms):
        ax.annotate(f"{total:.0f} µs", (x, total), ha="center", va="bottom", fontsize=9)
    ax.set_ylim(0, max(bottoms) * 2.0)
    ax.set_ylabel("Python CPU µs per message")
    ax.set_title("Where the client's CPU goes (cProfile, scaled)")
    ax.legend(loc="upper left", fontsize=7)


def plot(result: dict[str, Any], lags: dict[str, list[int]], path: Path) -> str:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return ("No plot: matplotlib is not installed (pip install matplotlib==3.11.2); "
                "the numbers above are complete without it.")
    colors = {"plain_loop": "#8c8c8c", "replicator": "#1f77b4"}
    profiled = bool(result.get("profile"))
    fig, axes = plt.subplots(1, 3 if profiled else 2, figsize=(17 if profiled else 11, 4.6))
    left, right = axes[0], axes[1]
    r = result["results"]
    values = [r[k]["mb_per_s"] for k in KINDS]
    bars = left.bar([LABELS[k] for k in KINDS], values, color=[colors[k] for k in KINDS])
    for bar, kind in zip(bars, KINDS):
        left.annotate(f"{r[kind]['mb_per_s']} MB/s\n{r[kind]['messages_per_s']} msg/s",
                      (bar.get_x() + bar.get_width() / 2, bar.get_height()), ha="center", va="bottom", fontsize=9)
    left.axhline(TARGET_MB_S, color="#d62728", linestyle="--", linewidth=1, label=f"target {TARGET_MB_S:g} MB/s")
    left.axhline(TARGET_RATIO * values[0], color="#2ca02c", linestyle=":", linewidth=1.2,
                 label=f"{TARGET_RATIO:g} × plain loop")
    left.set_ylim(0, max(TARGET_MB_S, *values) * 1.35)
    left.set_ylabel("MB/s per task (1 KB bodies)")
    left.set_title(f"Throughput, median of {result['rounds']} rounds "
                   f"(ratio {result['ratio_replicator_to_plain_loop']})")
    left.legend(loc="upper left", fontsize=8)
    for kind in KINDS:
        ordered, stats = lags[kind], result["lag"][kind]
        share = [100 * (i + 1) / len(ordered) for i in range(len(ordered))]
        right.plot([max(v, 1) for v in ordered], share, color=colors[kind],
                   label=f"{LABELS[kind]}: p50 {stats['p50_ms']} ms, p95 {stats['p95_ms']} ms")
    right.set_xscale("log")
    right.set_xlabel("B store time − A born time (ms, log; under 1 ms drawn at 1)")
    right.set_ylabel("% of messages")
    lag0 = result["lag"][KINDS[0]]
    right.set_title(f"End-to-end lag at {lag0['rate_per_s']:g} msg/s for {lag0['seconds']:g} s")
    right.grid(alpha=0.3)
    right.legend(loc="lower right", fontsize=8)
    if profiled:
        cpu_areas(axes[2], result)
    machine = result["machine"]
    fig.suptitle(f"Replication A → B, RocketMQ {machine['rocketmq']}, Python {machine['python']}, "
                 f"{machine['cores']} cores", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return f"Plot: {path.name}."


# -- clusters ------------------------------------------------------------------------------------

class RecordedCluster:
    """A cluster started by ``python -m connect_core.rocketmq.broker up``; topics made with the client."""

    def __init__(self, namesrv_addr: str) -> None:
        self.namesrv_addr = namesrv_addr

    def create_topic(self, topic: str, queues: int = 4) -> None:
        client = client_for(self.namesrv_addr)
        client.create_topic(topic, read_queues=queues, write_queues=queues)
        deadline = time.monotonic() + 15
        while True:
            try:
                if len(client.message_queues(topic)) == queues:
                    return
            except TopicNotFoundError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"topic {topic} is not routed with {queues} queues after 15s")
            client.invalidate_route(topic)
            time.sleep(0.1)


# The harness runs its JVMs C1-only to start fast in tests; production brokers JIT with C2. A later
# flag wins, so C2 is turned back on for the benchmark unless --broker-jit c1 asks for the harness's.
BROKER_JIT = {"c2": ("-XX:TieredStopAtLevel=4",), "c1": ()}
JIT_NAMES = {"1": "C1 only (the harness's setting)", "4": "C1 then C2 (tiered, as in production)"}


def broker_facts(version: str, jit: str) -> dict[str, str]:
    return {"rocketmq": version, "broker_jit": jit,
            "brokers": "two clusters on this machine, each a name server and a Local-mode proxy with its embedded "
                       "broker: 4 JVMs (serial GC, small heaps) sharing the cores with the client"}


def _jit_of(pid: int) -> str:
    """The effective TieredStopAtLevel of a running JVM (the last one on its command line)."""
    try:
        args = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return "unknown"
    levels = [a.split("=", 1)[1] for a in args if a.startswith("-XX:TieredStopAtLevel=")]
    return JIT_NAMES.get(levels[-1], f"TieredStopAtLevel={levels[-1]}") if levels else JIT_NAMES["4"]


@contextmanager
def clusters(recorded: Path | None, jit: str) -> Iterator[tuple[Cluster, Cluster, dict[str, str]]]:
    if recorded is not None:
        state = load_state(recorded)
        if state is None:
            raise SystemExit(f"no clusters recorded in {recorded}")
        proxy = state["clusters"][SOURCE]["pids"]["proxy"]
        yield (RecordedCluster(state["clusters"][SOURCE]["namesrv_addr"]),
               RecordedCluster(state["clusters"][TARGET]["namesrv_addr"]),
               broker_facts(state["version"], _jit_of(int(proxy))))
        return
    with tempfile.TemporaryDirectory(prefix="replication-bench-") as workdir:
        started = RocketMQClusters.start((SOURCE, TARGET), workdir, write_state=False, jvm_options=BROKER_JIT[jit])
        try:
            yield started[SOURCE], started[TARGET], broker_facts(started[SOURCE].version,
                                                                 JIT_NAMES["4" if jit == "c2" else "1"])
        finally:
            started.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a short run: 3000 messages, one round, 2 s of lag")
    parser.add_argument("--messages", type=int, help="messages pre-loaded into A (default 20000; quick 3000)")
    parser.add_argument("--rounds", type=int, help="measurements of each (default 7; quick 1)")
    parser.add_argument("--lag-rate", type=float, default=1000.0, help="messages/s produced during the lag run")
    parser.add_argument("--lag-seconds", type=float, help="how long the lag producer runs (default 5; quick 2)")
    parser.add_argument("--profile", action=argparse.BooleanOptionalAction, default=None,
                        help="one extra cProfile round of each (default: on, off with --quick)")
    parser.add_argument("--broker-jit", choices=sorted(BROKER_JIT), default="c2",
                        help="c2: brokers JIT as in production (default); c1: the test harness's C1-only JVMs")
    parser.add_argument("--clusters-from", type=Path, metavar="WORKDIR",
                        help="use the clusters recorded there by `python -m connect_core.rocketmq.broker up`")
    parser.add_argument("--concurrency", type=int, metavar="N",
                        help="the Replicator's pull_concurrency and send_concurrency (default: its defaults, 4)")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    parser.add_argument("--produce", nargs=2, metavar=("NAMESRV", "TOPIC"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.produce:  # the lag run's producer, in a process of its own
        sent = produce_at_rate(*args.produce, args.lag_rate, args.lag_seconds,
                               ready=lambda: print("ready", flush=True))
        print(json.dumps({"sent": sent}))
        return 0
    if args.concurrency:
        REPLICATOR_SETTINGS.update(pull_concurrency=args.concurrency, send_concurrency=args.concurrency)
    messages = args.messages or (3000 if args.quick else 20_000)
    rounds = args.rounds or (1 if args.quick else 7)
    lag_seconds = args.lag_seconds or (2.0 if args.quick else 5.0)
    profile = args.profile if args.profile is not None else not args.quick
    began = time.monotonic()
    with clusters(args.clusters_from, args.broker_jit) as (a, b, brokers):
        print(f"clusters ready after {time.monotonic() - began:.0f}s")
        # Several unmeasured rounds of each: rounds kept getting faster for a while as the brokers'
        # JIT compiled their hot paths, which made the median a measure of warming up.
        result, lags = run(a, b, messages=messages, rounds=rounds, warmup=max(3000, messages // 2),
                           warmup_rounds=1 if args.quick else 8,
                           lag_rate=args.lag_rate, lag_seconds=lag_seconds, profile=profile, brokers=brokers)
    plot_note = write(result, lags, args.out)
    print(json.dumps({k: {f: v[f] for f in ("messages_per_s", "mb_per_s", "python_cpu_share", "share_in_requests")}
                      for k, v in result["results"].items()}, indent=2))
    print(f"ratio replicator/plain loop {result['ratio_replicator_to_plain_loop']} "
          f"(target {TARGET_RATIO}: {'met' if result['meets_ratio_target'] else 'NOT met'}); "
          f"replicator {result['results']['replicator']['mb_per_s']} MB/s "
          f"(target {TARGET_MB_S:g}: {'met' if result['meets_mb_per_s_target'] else 'NOT met'})")
    print(plot_note)
    print(f"total {time.monotonic() - began:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
