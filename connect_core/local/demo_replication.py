"""``make demo-replication``: two real RocketMQ clusters, replicated by the serverless runtime in real time.

Starts clusters A and B from Maven Central jars, deploys template.yaml into the embedded AWS
endpoint with the RocketMQ demo connectors switched on — ``DemoReplicator`` (A → B in one
function) and ``DemoRocketMQSource`` → SQS → ``DemoRocketMQSink`` (A → B through a queue), both
with continuous polling — and runs the local runtime on the real clock, the source ticks in
process sandboxes as Lambda runs them. Messages (keys, tags, user properties, binary bodies) are
produced into A at a steady rate while it runs; at the end every message is checked on B byte for
byte, and the replication lag is measured: B's store time minus A's born time, per message.
Run longer than a minute (``--seconds 90``) to see a tick hand its task over to the next one.
``--failover`` ends with a planned failover of the Replicator through the failover state machine,
and prints its report (docs/disaster-recovery.md).
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any, TextIO

ROOT = Path(__file__).resolve().parents[2]


def _message(topic: str, i: int) -> Any:
    from ..rocketmq import Message

    return Message(topic=topic, body=bytes([i % 256, 0, 255]) + f" order {i}".encode(), tags=f"tag{i % 3}",
                   keys=[f"order-{i}"], properties={"order": str(i), "region": "eu-west-1"})


def produce(client: Any, topic: str, rate: float, seconds: float, stop: threading.Event) -> int:
    """Messages into ``topic`` at ``rate`` per second for ``seconds``, one at a time, each born when sent."""
    started, sent = time.monotonic(), 0
    while not stop.is_set() and sent < rate * seconds:
        client.send(_message(topic, sent))
        sent += 1
        stop.wait(max(0.0, started + sent / rate - time.monotonic()))
    return sent


def lag_ms(copies: list[Any]) -> dict[str, float]:
    """Replication lag per message (target store time - source born time), p50 / p99 / max in ms."""
    lags = sorted(c.store_timestamp - c.born_timestamp for c in copies)
    if not lags:
        return {"p50": 0.0, "p99": 0.0, "max": 0.0}
    return {"p50": float(statistics.median(lags)), "p99": float(lags[min(len(lags) - 1, int(len(lags) * 0.99))]),
            "max": float(lags[-1])}


def run(seconds: float, workdir: Path, *, rate: float = 20.0, out: TextIO = sys.stdout, clusters: Any = None,
        endpoint: Any = None, failover: bool = False) -> dict[str, Any]:
    from ..connectors.rocketmq import client_for
    from ..rocketmq.broker import RocketMQClusters
    from .runtime import LocalRuntime
    from .sandbox import SandboxOptions

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
        print(f"deploying template.yaml with the RocketMQ demo; producing {rate:g} msg/s into A/{topic} "
              f"for {seconds:g} s while it runs", file=out)
        params = {"Environment": "local", "DeployDemo": "false", "ReplicationSourceNamesrv": a.namesrv_addr,
                  "ReplicationTargetNamesrv": b.namesrv_addr, "ReplicationTopic": topic}
        source, target = client_for(a.namesrv_addr), client_for(b.namesrv_addr)
        stop = threading.Event()
        report = None
        with open(workdir / "functions.log", "a", encoding="utf-8") as log, contextlib.redirect_stdout(log), \
                LocalRuntime(ROOT / "template.yaml", params, endpoint=endpoint, sandboxed={"SourcePollerFunction"},
                             sandbox=SandboxOptions(log_path=workdir / "functions.log"),
                             stack_name=f"replication{uuid.uuid4().hex[:6]}") as rt:
            runner = threading.Thread(target=rt.run_forever, kwargs={"stop": stop, "poll_interval": 0.2},
                                      name="local-runtime", daemon=True)
            runner.start()
            try:
                produced = produce(source, topic, rate, seconds, threading.Event())
                source.wait_for_messages(topic, produced, timeout_s=30)
                deadline = time.monotonic() + 120
                while time.monotonic() < deadline:
                    direct, via_sqs = target.read_all(topic), target.read_all(f"{topic}-via-sqs")
                    if len(direct) >= produced and len(via_sqs) >= produced:
                        break
                    time.sleep(0.5)
                ticks = [i.result for i in rt.lambdas.history(rt.physical_id("SourcePollerFunction"))
                         if isinstance(i.result, dict)]
                report = planned_failover(rt) if failover else None
            finally:
                stop.set()
                runner.join(timeout=30)
        expected = {m.properties["order"]: m for m in (_message(topic, i) for i in range(produced))}

        def faithful(copies: list[Any]) -> int:
            return sum(1 for c in copies if (o := expected.get(c.properties.get("order"))) is not None
                       and c.body == o.body and c.tags == o.tags and c.keys == o.keys
                       and c.properties.get("region") == "eu-west-1")

        summary = {
            "produced": produced,
            "replicated_direct": len(direct), "faithful_direct": faithful(direct),
            "through_sqs": len(via_sqs), "faithful_through_sqs": faithful(via_sqs),
            "lag_direct_ms": lag_ms(direct), "lag_through_sqs_ms": lag_ms(via_sqs),
            "handovers": sum(1 for t in ticks if t.get("took_over") == "handover"),
            "seconds": round(time.monotonic() - started, 1),
            "failover": report,
        }
    finally:
        if own_clusters:
            clusters.stop()
    lag, lag_sqs = summary["lag_direct_ms"], summary["lag_through_sqs_ms"]
    print("\n".join([
        "",
        "replication demo: RocketMQ cluster A -> cluster B, continuous polling on the real clock",
        f"  produced into A                    {summary['produced']}",
        f"  Replicator (direct, one function)  {summary['replicated_direct']} on B, "
        f"{summary['faithful_direct']} byte-identical with keys, tags and properties",
        f"    lag (B store - A born)           p50 {lag['p50']:.0f} ms, p99 {lag['p99']:.0f} ms, max {lag['max']:.0f} ms",
        f"  rocketmq-source -> SQS -> sink     {summary['through_sqs']} on B, "
        f"{summary['faithful_through_sqs']} byte-identical with keys, tags and properties",
        f"    lag (B store - A born)           p50 {lag_sqs['p50']:.0f} ms, p99 {lag_sqs['p99']:.0f} ms, "
        f"max {lag_sqs['max']:.0f} ms",
        f"  handovers between ticks            {summary['handovers']}",
        f"  time                               {summary['seconds']} s",
    ]), file=out)
    if report is not None:
        steps = ", ".join(f"{s['name']} {s['seconds']} s" for s in report["steps"])
        risk = report.get("data_at_risk") or {}
        print("\n".join([
            f"  planned failover of demo-replicator {report['status']} in "
            f"{(report['finished_at'] or 0) - report['created_at']:.1f} s: {steps}",
            f"    data at risk                     {risk.get('messages')} messages, {risk.get('seconds')} s",
            f"    report                           connectctl replication status demo-replicator {report['id']}",
        ]), file=out)
    return summary


def planned_failover(rt: Any) -> dict[str, Any]:
    """A planned failover of the demo's Replicator, run by the stack's failover state machine."""
    from ..runtime.failover import FailoverEngine
    from ..storage import Stores

    stores = Stores.dynamodb(rt.outputs["ConfigsTableName"], rt.outputs["OffsetsTableName"])
    engine = FailoverEngine(stores)
    run = engine.begin("demo-replicator", "planned")
    rt.execute("FailoverStateMachine", {"connector": "demo-replicator", "run": run["id"], "attempt": run["attempt"]},
               timeout=300)
    return engine.runs.get("demo-replicator", run["id"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Replicate between two local RocketMQ clusters in real time.")
    parser.add_argument("--seconds", type=float, default=75.0,
                        help="how long to produce (over a minute: the first tick hands over to the next)")
    parser.add_argument("--rate", type=float, default=20.0, help="messages per second into A")
    parser.add_argument("--failover", action="store_true",
                        help="end with a planned failover of the Replicator, and print its report")
    parser.add_argument("--dir", type=Path, default=ROOT / ".demo-replication")
    args = parser.parse_args(argv)
    summary = run(args.seconds, args.dir, rate=args.rate, failover=args.failover)
    ok = summary["faithful_direct"] == summary["faithful_through_sqs"] == summary["produced"]
    if args.failover:
        ok = ok and summary["failover"]["status"] == "SUCCEEDED"
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
