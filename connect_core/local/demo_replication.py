"""``make demo-replication``: two real RocketMQ clusters, replicated by the serverless runtime.

Starts clusters A and B from Maven Central jars, produces messages into A (keys, tags, user
properties, binary bodies), deploys template.yaml into the embedded AWS endpoint with the RocketMQ
demo connectors switched on — ``DemoReplicator`` (A → B in one function, direct mode) and
``DemoRocketMQSource`` → SQS → ``DemoRocketMQSink`` (A → B through a queue) — lets the schedules
run, and checks on B that every message arrived byte for byte with its attributes.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
import uuid
from pathlib import Path
from typing import Any, TextIO

ROOT = Path(__file__).resolve().parents[2]


def _messages(count: int) -> list[Any]:
    from ..rocketmq import Message

    return [Message(topic="", body=bytes([i % 256, 0, 255]) + f" order {i}".encode(), tags=f"tag{i % 3}",
                    keys=[f"order-{i}"], properties={"order": str(i), "region": "eu-west-1"})
            for i in range(count)]


def run(count: int, workdir: Path, *, out: TextIO = sys.stdout, clusters: Any = None,
        endpoint: Any = None) -> dict[str, Any]:
    from ..connectors.rocketmq import client_for
    from ..rocketmq.broker import RocketMQClusters
    from .clock import VirtualClock
    from .runtime import LocalRuntime

    started = time.monotonic()
    workdir.mkdir(parents=True, exist_ok=True)
    own_clusters = clusters is None
    if own_clusters:
        print("starting RocketMQ clusters A and B (jars from Maven Central, cached in .rocketmq/)", file=out)
        clusters = RocketMQClusters.start(("A", "B"), workdir / "clusters")
    try:
        a, b = clusters["A"], clusters["B"]
        topic = f"orders-{uuid.uuid4().hex[:6]}"
        a.create_topic(topic, queues=4)
        b.create_topic(topic, queues=4)
        b.create_topic(f"{topic}-via-sqs", queues=4)
        source = client_for(a.namesrv_addr)
        sent = []
        for message in _messages(count):
            message.topic = topic
            source.send(message)
            sent.append(message)
        source.wait_for_messages(topic, count, timeout_s=30)
        print(f"produced {count} messages into A/{topic}; deploying template.yaml with the RocketMQ demo", file=out)
        params = {"Environment": "local", "DeployDemo": "false", "ReplicationSourceNamesrv": a.namesrv_addr,
                  "ReplicationTargetNamesrv": b.namesrv_addr, "ReplicationTopic": topic}
        target = client_for(b.namesrv_addr)
        with open(workdir / "functions.log", "a", encoding="utf-8") as log, contextlib.redirect_stdout(log), \
                LocalRuntime(ROOT / "template.yaml", params, clock=VirtualClock(), endpoint=endpoint,
                             stack_name=f"replication{uuid.uuid4().hex[:6]}") as rt:
            minutes = 0
            while minutes < 30:
                rt.advance(60)
                minutes += 1
                direct, via_sqs = target.read_all(topic), target.read_all(f"{topic}-via-sqs")
                if len(direct) >= count and len(via_sqs) >= count:
                    break
        expected = {m.properties["order"]: m for m in sent}

        def faithful(copies: list[Any]) -> int:
            return sum(1 for c in copies if (o := expected.get(c.properties.get("order"))) is not None
                       and c.body == o.body and c.tags == o.tags and c.keys == o.keys
                       and c.properties.get("region") == "eu-west-1")

        summary = {
            "produced": count,
            "replicated_direct": len(direct), "faithful_direct": faithful(direct),
            "through_sqs": len(via_sqs), "faithful_through_sqs": faithful(via_sqs),
            "schedule_minutes": minutes, "seconds": round(time.monotonic() - started, 1),
        }
    finally:
        if own_clusters:
            clusters.stop()
    print("\n".join([
        "",
        "replication demo: RocketMQ cluster A -> cluster B",
        f"  produced into A                    {summary['produced']}",
        f"  Replicator (direct, one function)  {summary['replicated_direct']} on B, "
        f"{summary['faithful_direct']} byte-identical with keys, tags and properties",
        f"  rocketmq-source -> SQS -> sink     {summary['through_sqs']} on B, "
        f"{summary['faithful_through_sqs']} byte-identical with keys, tags and properties",
        f"  time                               {summary['seconds']} s ({summary['schedule_minutes']} schedule minutes)",
    ]), file=out)
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Replicate between two local RocketMQ clusters.")
    parser.add_argument("--messages", type=int, default=500)
    parser.add_argument("--dir", type=Path, default=ROOT / ".demo-replication")
    args = parser.parse_args(argv)
    summary = run(args.messages, args.dir)
    ok = summary["faithful_direct"] == summary["faithful_through_sqs"] == args.messages
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
