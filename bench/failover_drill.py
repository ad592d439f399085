"""How long a failover takes: the RTO of the procedure, planned and unplanned, end to end.

template.yaml deployed into the embedded AWS endpoint, run by the local runtime in real time (the
source poller in process sandboxes, the failover state machine executed by the emulator, its Lambda
step the real handler), the admin API over it, RocketMQ clusters from Maven Central jars. Per round
a ``rocketmq-replicator`` with its defaults (continuous polling) and a consumer group is created
through the API, 1 KB messages are produced into A at a steady rate, and the group commits offsets
on A. Then:

* planned: production stops (the runbook's first step), ``POST .../replication/failover
  {"mode": "planned"}``;
* unplanned: production stops and every JVM of A is SIGKILLed at once (a cluster pair per round),
  then ``{"mode": "unplanned"}``.

RTO = from the failover request until the group's first pull on B from the offset the run applied
returns messages. Also recorded: each step's time, the data at risk the run reported and the
messages really lost (those A held that B does not).

    python bench/failover_drill.py                   # 3 planned + 3 unplanned rounds, 20 s of production each
    python bench/failover_drill.py --rounds 1 --seconds 10
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

import replication_throughput as throughput  # noqa: E402 - the workload and its producer
from replication_rpo import Stack, lease_holder, wait_until  # noqa: E402 - the deployed stack

from connect_core.connectors.replicator import P_SOURCE_OFFSET, P_SOURCE_QUEUE, checkpoint_namespace  # noqa: E402
from connect_core.connectors.rocketmq import client_for  # noqa: E402

GROUP = "drill-consumers"


def produce(a: Any, topic: str, rate: float, seconds: float) -> subprocess.Popen[str]:
    producer = subprocess.Popen([sys.executable, str(HERE / "replication_throughput.py"), "--produce",
                                 a.namesrv_addr, topic, "--lag-rate", str(rate), "--lag-seconds", str(seconds)],
                                stdout=subprocess.PIPE, text=True)
    if producer.stdout is None or producer.stdout.readline().strip() != "ready":
        raise RuntimeError(f"the producer exited before producing ({producer.wait()})")
    return producer


def one_round(stack: Stack, a: Any, b: Any, mode: str, rate: float, seconds: float) -> dict[str, Any]:
    name = f"dr-{mode}-{uuid.uuid4().hex[:6]}"
    topic = throughput.fresh_topic(a, mode)
    b.create_topic(topic, queues=throughput.QUEUES)
    stack.call("POST", "/connectors", {"name": name, "config": {
        "name": name, "connector": "rocketmq-replicator", "topics": [topic], "groups": [GROUP],
        "source_cluster": {"name": "A", "namesrv_addr": a.namesrv_addr},
        "target_cluster": {"name": "B", "namesrv_addr": b.namesrv_addr}}})
    wait_until(lambda: lease_holder(stack, name), 120)
    a_client, b_client = client_for(a.namesrv_addr), client_for(b.namesrv_addr)
    producer = produce(a, topic, rate, seconds)
    time.sleep(seconds / 2)
    queues = a_client.message_queues(topic)
    consumed = {mq.queue_id: a_client.max_offset(mq) // 2 for mq in queues}
    for mq in queues:  # the group has read half of what A holds
        a_client.update_consumer_offset(GROUP, mq, consumed[mq.queue_id])

    def checkpointed() -> bool:  # taken every ~10 s while the replicator runs
        stored = {p["queue"]: c["source_offset"] for p, c in
                  stack.stores.offsets.read_all(checkpoint_namespace(name)).pairs() if p.get("group") == GROUP}
        return stored == consumed
    wait_until(checkpointed, 60)
    if mode == "planned":
        producer.wait()
    else:
        producer.kill()
        producer.wait()
    truth = {mq.queue_id: a_client.max_offset(mq) for mq in queues}
    if mode == "unplanned":
        for pid in a.live_pids():
            os.kill(pid, signal.SIGKILL)
        wait_until(lambda: not a.live_pids(), 30)

    started = time.monotonic()
    run = stack.call("POST", f"/connectors/{name}/replication/failover", {"mode": mode})
    while run["status"] == "RUNNING":
        time.sleep(0.05)
        run = stack.call("GET", f"/connectors/{name}/replication/runs/{run['id']}")
    finished = time.monotonic()
    first_read = None
    give_up = time.monotonic() + 60
    while first_read is None and run["status"] == "SUCCEEDED" and time.monotonic() < give_up:
        for mq in b_client.message_queues(topic):
            offset = b_client.query_consumer_offset(GROUP, mq)
            if offset is not None and b_client.pull(mq, offset, max_messages=1).status == "FOUND":
                first_read = time.monotonic()
                break
    on_b = {(int(m.properties[P_SOURCE_QUEUE]), int(m.properties[P_SOURCE_OFFSET]))
            for m in b_client.read_all(topic) if P_SOURCE_QUEUE in m.properties}
    lost = sum(1 for q, total in truth.items() for o in range(total) if (q, o) not in on_b)
    if mode == "planned":
        stack.call("DELETE", f"/connectors/{name}")
    return {"mode": mode, "status": run["status"], "error": run.get("error"),
            "rto_s": None if first_read is None else round(first_read - started, 3),
            "run_s": round(finished - started, 3),
            "steps": {s["name"]: s["seconds"] for s in run["steps"]},
            "produced": sum(truth.values()), "at_risk_messages": (run.get("data_at_risk") or {}).get("messages"),
            "at_risk_seconds": (run.get("data_at_risk") or {}).get("seconds"), "lost": lost}


def summary(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    rto = [r["rto_s"] for r in rounds if r["rto_s"] is not None]
    return {"rounds": len(rounds), "succeeded": sum(r["status"] == "SUCCEEDED" for r in rounds),
            "rto_median_s": round(statistics.median(rto), 3) if rto else None,
            "rto_max_s": max(rto) if rto else None,
            "lost_equals_at_risk": all(r["lost"] == r["at_risk_messages"] for r in rounds)}


def report(result: dict[str, Any]) -> str:
    lines = [f"# Failover drill: RTO of the procedure ({result['date']})", "",
             "Produced by `bench/failover_drill.py` (see its docstring for the set-up). RTO: from the failover "
             "request to the consumer group's first read on B from the offset the run applied.", "",
             f"Machine: {', '.join(f'{k} {v}' for k, v in result['machine'].items())}. Production: {result['rate']:g} msg/s of 1 KB for "
             f"{result['seconds']:g} s per round.", "",
             "| mode | rounds | succeeded | RTO median | RTO max | lost = counted at risk |",
             "|---|---|---|---|---|---|"]
    for mode, s in result["summary"].items():
        lines.append(f"| {mode} | {s['rounds']} | {s['succeeded']} | {s['rto_median_s']} s | {s['rto_max_s']} s | "
                     f"{'yes' if s['lost_equals_at_risk'] else 'no'} |")
    lines += ["", "| mode | RTO | run | steps (s) | produced | at risk (msgs, s) | lost |", "|---|---|---|---|---|---|---|"]
    for r in result["rounds"]:
        steps = ", ".join(f"{k} {v}" for k, v in r["steps"].items())
        lines.append(f"| {r['mode']} | {r['rto_s']} s | {r['run_s']} s | {steps} | {r['produced']} | "
                     f"{r['at_risk_messages']}, {r['at_risk_seconds']} | {r['lost']} |")
    lines += ["", "Most of a run is the state machine's own rhythm: a step that waits (the link draining, "
              "a tick letting its lease go) is asked again after a 1 s Wait state. A planned run's `fence` "
              "waits for the running tick to notice the stop at its next lease renewal (every ~3 s).", "",
              "In the unplanned rounds production stops a moment before A is killed (so that what A held is "
              "known); at this rate the Replicator is milliseconds behind, so the data at risk is usually 0. "
              "tests/rocketmq/test_failover_drills.py kills A while a rate-limited link is behind and checks "
              "that the messages lost are exactly those counted at risk.", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="rounds of each mode")
    parser.add_argument("--rate", type=float, default=1000.0, help="messages per second")
    parser.add_argument("--seconds", type=float, default=20.0, help="production per round")
    parser.add_argument("--out", type=Path, default=HERE / "results")
    args = parser.parse_args(argv)

    from connect_core.rocketmq.broker import RocketMQClusters

    workdir = ROOT / ".bench" / f"failover-{uuid.uuid4().hex[:6]}"
    workdir.mkdir(parents=True, exist_ok=True)
    stack = Stack(workdir)
    rounds: list[dict[str, Any]] = []
    try:
        for mode in ("planned", "unplanned"):
            for i in range(args.rounds):
                # unplanned rounds kill their A: a pair of their own
                clusters = RocketMQClusters.start((f"{mode[0].upper()}A{i}", f"{mode[0].upper()}B{i}"),
                                                  workdir / f"clusters-{mode}-{i}")
                try:
                    a, b = list(clusters)
                    rounds.append(one_round(stack, a, b, mode, args.rate, args.seconds))
                    print(json.dumps(rounds[-1]), file=sys.stderr, flush=True)
                finally:
                    clusters.stop()
    finally:
        stack.close()
    result = {"date": time.strftime("%Y-%m-%d"), "machine": throughput.machine_facts(), "rate": args.rate,
              "seconds": args.seconds, "rounds": rounds,
              "summary": {mode: summary([r for r in rounds if r["mode"] == mode]) for mode in ("planned", "unplanned")}}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "failover_drill.json").write_text(json.dumps(result, indent=2) + "\n")
    (args.out / "failover_drill.md").write_text(report(result))
    print((args.out / "failover_drill.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
