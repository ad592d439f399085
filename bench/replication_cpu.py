"""Python CPU per replicated message: the Replicator against the plain pull+send loop, with no JVM.

``replication_throughput.py`` measures both against real brokers, where four JVMs share the cores
with the client and wall time moves with whatever else runs. This benchmark isolates what the
framework itself costs: both replicate the same messages through the same ``RocketMQClient``, whose
connection pool is replaced by an in-memory stand-in broker (it answers routes, offsets, pulls and
batch sends from memory, frames encoded and decoded both ways as on a socket). Only CPU time of this
process is counted (less the stand-in broker's own work), so the numbers hold on a loaded machine and are repeatable.

The workload and both loops are the ones of ``replication_throughput.py``: 1 KB messages with two
keys, a tag and two user properties, born timestamps in runs of 32, 32 messages a pull, four queues.
The Replicator runs with its defaults; the stand-in broker answers each request as it is written.

    python bench/replication_cpu.py [--messages 20000] [--rounds 7] [--out bench/results]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import replication_throughput as real  # noqa: E402 - the shared workload and loops

from connect_core.connectors import rocketmq as rocketmq_connector  # noqa: E402
from connect_core.rocketmq import RocketMQClient  # noqa: E402
from connect_core.rocketmq.codes import RequestCode, ResponseCode  # noqa: E402
from connect_core.rocketmq.message import (MessageExt, decode_batch_body, encode_message_ext,  # noqa: E402
                                           string_to_properties)
from connect_core.rocketmq.protocol import RemotingCommand, decode_frame  # noqa: E402

QUEUES = 4
BROKER = "broker-mem"


class MemoryBroker:
    """A connection pool that is a broker: topics of ``QUEUES`` queues, messages in memory in the
    stored format. Implements what replication uses, nothing else."""

    def __init__(self, name: str) -> None:
        self.addr = f"{name}.invalid:10911"
        self.queues: dict[tuple[str, int], list[bytes]] = defaultdict(list)
        self.commit_log = 0
        self.cpu_s = 0.0  # the broker's own work, not counted as the client's
        self.lock = threading.Lock()

    def request(self, addr: str, cmd: RemotingCommand, timeout_s: float) -> RemotingCommand:
        frame = cmd.encode()  # the client's work, as on a socket
        started = time.thread_time()  # this thread's CPU only: requests may run on several threads
        request = decode_frame(frame[4:])
        answer = self._answer(request)
        answer.opaque, answer.flag = request.opaque, 1
        frame = answer.encode()
        with self.lock:
            self.cpu_s += time.thread_time() - started
        return decode_frame(frame[4:])  # the client's work again

    def begin(self, addr: str, cmd: RemotingCommand, timeout_s: float) -> "Answered":
        """As ``ConnectionPool.begin``: the request is written now (here it is answered at once)
        and its answer read later."""
        return Answered(self.request(addr, cmd, timeout_s))

    def _answer(self, cmd: RemotingCommand) -> RemotingCommand:
        ext = cmd.ext_fields
        if cmd.code == RequestCode.GET_ROUTEINFO_BY_TOPIC:
            route = {"brokerDatas": [{"brokerName": BROKER, "cluster": "mem", "brokerAddrs": {"0": self.addr}}],
                     "queueDatas": [{"brokerName": BROKER, "readQueueNums": QUEUES, "writeQueueNums": QUEUES,
                                     "perm": 6}]}
            return RemotingCommand(ResponseCode.SUCCESS, body=json.dumps(route).encode())
        queue = self.queues[(ext.get("topic", ""), int(ext.get("queueId", 0)))]
        if cmd.code == RequestCode.GET_MIN_OFFSET:
            return RemotingCommand(ResponseCode.SUCCESS, {"offset": "0"})
        if cmd.code == RequestCode.GET_MAX_OFFSET:
            return RemotingCommand(ResponseCode.SUCCESS, {"offset": str(len(queue))})
        if cmd.code == RequestCode.PULL_MESSAGE:
            start, count = int(ext["queueOffset"]), int(ext["maxMsgNums"])
            found = queue[start:start + count]
            fields = {"nextBeginOffset": str(start + len(found)), "minOffset": "0", "maxOffset": str(len(queue))}
            if not found:
                return RemotingCommand(ResponseCode.PULL_NOT_FOUND, fields)
            return RemotingCommand(ResponseCode.SUCCESS, fields, b"".join(found))
        if cmd.code in (RequestCode.SEND_BATCH_MESSAGE, RequestCode.SEND_MESSAGE_V2):
            topic, queue_id = ext["b"], int(ext["e"])
            queue = self.queues[(topic, queue_id)]
            first = len(queue)
            entries = (decode_batch_body(cmd.body) if cmd.code == RequestCode.SEND_BATCH_MESSAGE
                       else [(int(ext["h"]), cmd.body, string_to_properties(ext.get("i", "")))])
            for flag, body, props in entries:
                queue.append(self._stored(topic, queue_id, len(queue), flag, body, props, int(ext["g"])))
            return RemotingCommand(ResponseCode.SUCCESS, {"queueId": str(queue_id), "queueOffset": str(first),
                                                          "msgId": "0" * 32})
        raise NotImplementedError(f"request code {cmd.code}")

    def _stored(self, topic: str, queue_id: int, offset: int, flag: int, body: bytes, props: dict[str, str],
                born: int) -> bytes:
        self.commit_log += len(body) + 200
        system = {k: v for k, v in props.items() if k in ("TAGS", "KEYS", "UNIQ_KEY", "WAIT")}
        user = {k: v for k, v in props.items() if k not in system}
        message = MessageExt(topic=topic, body=body, tags=system.get("TAGS"), keys=system.get("KEYS", "").split(),
                             properties=user, flag=flag, born_timestamp=born, queue_id=queue_id,
                             queue_offset=offset, commit_log_offset=self.commit_log, born_host="127.0.0.1:50000",
                             store_timestamp=born + 1, store_host="127.0.0.1:10911", system_properties=system)
        return encode_message_ext(message)


class Answered:
    """A request the stand-in broker answered (``InFlight``'s interface)."""

    def __init__(self, answer: RemotingCommand) -> None:
        self._answer = answer

    def answer(self) -> RemotingCommand:
        return self._answer

    def cancel(self) -> None:
        pass


class MemoryCluster:
    def __init__(self, name: str) -> None:
        self.namesrv_addr = f"{name}.invalid:9876"
        self.broker = MemoryBroker(name)
        rocketmq_connector._clients[self.namesrv_addr] = RocketMQClient(self.namesrv_addr, pool=self.broker)

    def create_topic(self, topic: str, queues: int = QUEUES) -> None:
        pass  # every topic exists with QUEUES queues


def one_round(kind: str, a: MemoryCluster, b: MemoryCluster, source_topic: str, round_no: int) -> float:
    """CPU seconds for replicating every message of ``source_topic`` once."""
    target_topic = f"{kind}-{round_no}"
    loop = real.replication(kind, a, b, source_topic, target_topic)
    brokers = a.broker.cpu_s + b.broker.cpu_s
    started = time.process_time()
    while loop.step():
        pass
    cpu = time.process_time() - started - (a.broker.cpu_s + b.broker.cpu_s - brokers)
    copied = sum(len(q) for (t, _), q in b.broker.queues.items() if t == target_topic)
    expected = sum(len(q) for (t, _), q in a.broker.queues.items() if t == source_topic)
    if copied != expected:
        raise RuntimeError(f"{kind}: {copied} of {expected} messages replicated")
    for key in [k for k in b.broker.queues if k[0] == target_topic]:
        del b.broker.queues[key]  # keep memory flat over rounds
    return cpu


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results")
    args = parser.parse_args(argv)

    a, b = MemoryCluster("a"), MemoryCluster("b")
    source = rocketmq_connector.client_for(a.namesrv_addr)
    real.preload(source, "source", args.messages)
    for kind in real.KINDS:  # warm-up: imports, routes, caches
        one_round(kind, a, b, "source", -1)
    cpu: dict[str, list[float]] = {kind: [] for kind in real.KINDS}
    for round_no in range(args.rounds):
        order = real.KINDS if round_no % 2 == 0 else tuple(reversed(real.KINDS))
        for kind in order:
            cpu[kind].append(one_round(kind, a, b, "source", round_no))
    per_message = {kind: statistics.median(v) / args.messages * 1e6 for kind, v in cpu.items()}
    ratio = per_message["plain_loop"] / per_message["replicator"]
    result = {
        "messages": args.messages, "rounds": args.rounds, "python": platform.python_version(),
        "cpu_us_per_message": {k: round(v, 2) for k, v in per_message.items()},
        "cpu_us_per_message_rounds": {k: [round(s / args.messages * 1e6, 2) for s in v] for k, v in cpu.items()},
        "replicator_speed_vs_plain_loop": round(ratio, 3),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "replication_cpu.json").write_text(json.dumps(result, indent=2) + "\n")
    text = (f"# Python CPU per replicated message (in-memory broker)\n\n"
            f"{args.messages} messages of 1024 B, median of {args.rounds} rounds, Python {result['python']}; "
            f"`python bench/replication_cpu.py`.\n\n"
            f"| | CPU µs/message | rounds |\n|---|---|---|\n"
            + "".join(f"| {real.LABELS[k]} | **{per_message[k]:.1f}** | "
                      f"{', '.join(str(x) for x in result['cpu_us_per_message_rounds'][k])} |\n" for k in real.KINDS)
            + f"\nReplicator speed / plain loop speed, in CPU per message: **{ratio:.3f}**.\n")
    (args.out / "replication_cpu.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
