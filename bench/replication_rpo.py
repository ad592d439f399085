"""The Replicator's RPO on scheduled functions: replication lag under steady production, across
handovers and crashes, and what a task costs per month in AWS.

Clusters A and B from Maven Central jars; template.yaml deployed into the embedded AWS endpoint;
the local runtime on the real clock with the source poller in process sandboxes, as Lambda runs it
(each tick a process of its own; a crashed tick's on-failure record starts a recovery tick at
once); ``rate(1 minute)`` schedules. A ``rocketmq-replicator`` is created through the admin API with
its defaults (continuous polling, one task) while 1 KB messages are produced into A at a steady
rate by another process. A message's lag is B's store time minus A's born time. Rounds:

1. ``continuous``: production across handovers (one a minute);
2. ``crash``: the same, the running tick SIGKILLed several times: the time from each kill until
   replication resumes (the first message born after the kill is stored on B) and messages lost;
3. ``drain``: ``polling: drain``, the cheapest mode and the behaviour before continuous polling;
4. ``plain loop``: a hand-written pull+send loop that never stops, the floor (no leases, no
   handovers, no stores), from replication_throughput.py;
5. ``idle``: a continuous and a drain replicator of a topic that gets no message, for what a task
   costs when there is nothing to replicate.

From the counts each round measured — ticks, Lambda seconds, DynamoDB request units (counted in
the sandboxes by dynamodb_meter.py), schedule invocations — the cost of a task per month at AWS
list prices (``PRICES``).

    python bench/replication_rpo.py                          # 4 + 4 + 3 minutes at 1000 msg/s, 2 + 2 idle
    python bench/replication_rpo.py --minutes 1 --rate 200   # a quick look
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

import replication_throughput as throughput  # noqa: E402 - the workload, the producer, the plain loop

from connect_core.connectors.replicator import P_SOURCE_MSG_ID  # noqa: E402
from connect_core.connectors.rocketmq import client_for  # noqa: E402

TARGET_P99_MS = 1000
TARGET_MAX_MS = 2000
TARGET_RESUME_S = 90
MEMORY_GB = 0.5  # the template's MemorySize (Globals)
MONTH_S = 30 * 86400
#: List prices, us-east-1: Lambda x86_64 per GB-second and per request; DynamoDB on-demand request
#: units as cut on 2024-11-01; EventBridge Scheduler invocations beyond the 14 million free a month.
PRICES = {"lambda_gb_s": 0.0000166667, "lambda_requests_per_million": 0.20, "wru_per_million": 0.625,
          "rru_per_million": 0.125, "scheduler_invocations_per_million": 1.00,
          "as_of": "AWS list prices for us-east-1 as published on 2026-12-07 (Lambda and Scheduler unchanged "
                   "since 2022, DynamoDB on-demand since its 2024-11-01 cut)"}


# -- the stack ----------------------------------------------------------------------------------

class Stack:
    """template.yaml on the embedded endpoint, in real time, with the admin API over it."""

    def __init__(self, workdir: Path) -> None:
        from connect_core.admin.api import AdminApi
        from connect_core.admin.local import admin_settings
        from connect_core.local.runtime import LocalRuntime
        from connect_core.local.sandbox import SandboxOptions

        self.meter = workdir / "dynamodb.jsonl"
        os.environ["CONNECT_DDB_METER"] = str(self.meter)  # the sandboxes inherit it
        self.runtime = LocalRuntime(ROOT / "template.yaml", {"Environment": "local", "DeployDemo": "false"},
                                    sandboxed={"SourcePollerFunction"},
                                    sandbox=SandboxOptions(preload=("dynamodb_meter",), log_path=workdir / "ticks.log"),
                                    stack_name=f"rpo{uuid.uuid4().hex[:6]}").start()
        self.poller = self.runtime.physical_id("SourcePollerFunction")
        from connect_core.storage import Stores

        self.stores = Stores.dynamodb(self.runtime.outputs["ConfigsTableName"],
                                      self.runtime.outputs["OffsetsTableName"])
        self.api = AdminApi.from_settings(admin_settings(self.runtime), poll_interval_s=0.05)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self.runtime.run_forever,
                                        kwargs={"stop": self._stop, "poll_interval": 0.2}, daemon=True)
        self._thread.start()

    def call(self, method: str, path: str, body: Any = None) -> Any:
        response = self.api.handle(method, path, "", b"" if body is None else json.dumps(body).encode(),
                                   {"Content-Type": "application/json"})
        if response.status >= 300:
            raise RuntimeError(f"{method} {path}: {response.status} {response.body_bytes()[:500]!r}")
        payload = response.body_bytes()
        return json.loads(payload) if payload else None

    def ticks(self, name: str) -> list[Any]:
        return [i for i in self.runtime.lambdas.history(self.poller) if _connector_of(i.event) == name]

    def running(self, name: str) -> list[Any]:
        return [r for r in self.runtime.lambdas.running(self.poller) if _connector_of(r.event) == name]

    def firings(self, name: str) -> list[Any]:
        return [f for f in self.runtime.scheduler.fired if _connector_of(f.payload) == name]

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=60)
        self.runtime.stop()


def _connector_of(event: Any) -> str | None:
    while isinstance(event, dict) and isinstance(event.get("requestPayload"), dict):
        event = event["requestPayload"]  # a recovery tick's event: the crashed tick's, recorded
    return event.get("connector") if isinstance(event, dict) else None


# -- one round ----------------------------------------------------------------------------------

@dataclass
class Round:
    kind: str                      # continuous | crash | drain
    seconds: float
    rate: float
    kills: int = 0
    result: dict[str, Any] = field(default_factory=dict)
    lags: list[tuple[float, int]] = field(default_factory=list)   # (born, seconds into the round; lag ms)
    events: list[tuple[str, float]] = field(default_factory=list)  # (handover | kill, seconds into the round)


def idle_round(stack: Stack, a: Any, b: Any, polling: str, seconds: float) -> dict[str, Any]:
    """What a task costs while its topics are idle: the counts of ``seconds`` without a message."""
    name = f"rpo-idle-{polling}-{uuid.uuid4().hex[:6]}"
    topic = throughput.fresh_topic(a, f"idle-{polling}")
    b.create_topic(topic, queues=throughput.QUEUES)
    config = {"name": name, "connector": "rocketmq-replicator", "topics": [topic], "polling": polling,
              "source_cluster": {"name": "A", "namesrv_addr": a.namesrv_addr},
              "target_cluster": {"name": "B", "namesrv_addr": b.namesrv_addr}}
    started = time.time()
    stack.call("POST", "/connectors", {"name": name, "config": config})
    time.sleep(seconds)
    stack.call("PUT", f"/connectors/{name}/stop")
    wait_until(lambda: not stack.running(name), 60)
    ended = time.time()
    stack.call("DELETE", f"/connectors/{name}")
    result = {"polling": polling, "seconds": seconds, "counts": counts(stack, name, stack.ticks(name), started, ended)}
    result["cost_per_task_month"] = monthly_cost(result["counts"])
    return result


def run_round(stack: Stack, a: Any, b: Any, spec: Round) -> Round:
    name = f"rpo-{spec.kind}-{uuid.uuid4().hex[:6]}"
    topic = throughput.fresh_topic(a, spec.kind)
    b.create_topic(topic, queues=throughput.QUEUES)
    config = {"name": name, "connector": "rocketmq-replicator", "topics": [topic],
              "source_cluster": {"name": "A", "namesrv_addr": a.namesrv_addr},
              "target_cluster": {"name": "B", "namesrv_addr": b.namesrv_addr},
              **({"polling": "drain"} if spec.kind == "drain" else {})}
    started = time.time()
    stack.call("POST", "/connectors", {"name": name, "config": config})
    # Measure replication, not the connector's creation: produce once its first tick runs (and,
    # continuous, holds the task).
    wait_until(lambda: stack.ticks(name) or (stack.running(name) and (spec.kind == "drain"
                                                                       or lease_holder(stack, name))), 120)
    producer = subprocess.Popen([sys.executable, str(HERE / "replication_throughput.py"), "--produce",
                                 a.namesrv_addr, topic, "--lag-rate", str(spec.rate),
                                 "--lag-seconds", str(spec.seconds)], stdout=subprocess.PIPE, text=True)
    kills: list[float] = []
    try:
        if producer.stdout.readline().strip() != "ready":
            raise RuntimeError(f"the producer exited before producing ({producer.wait()})")
        produced_from = time.time()
        # one kill in each equal slice of the round, at a random moment of its middle half, so that
        # each recovery is measured on its own
        slice_s = spec.seconds / max(1, spec.kills)
        jitter = random.Random(spec.kind)
        kill_at = [slice_s * (k + jitter.uniform(0.25, 0.75)) for k in range(spec.kills)]
        for at in kill_at:
            time.sleep(max(0.0, produced_from + at - time.time()))
            kills.append(kill_holder(stack, name))
        sent = json.loads(producer.stdout.read())["sent"]
    finally:
        if producer.poll() is None:
            producer.kill()
        producer.wait()
    copies, originals = settle(b, a, topic, sent, timeout_s=240 if spec.kind == "drain" else 120)
    stack.call("PUT", f"/connectors/{name}/stop")
    wait_until(lambda: not stack.running(name), 60)
    ended = time.time()
    stack.call("DELETE", f"/connectors/{name}")
    return analyse(stack, spec, name, started, ended, produced_from, kills, copies, originals)


def lease_holder(stack: Stack, name: str) -> Any:
    """The running tick that holds the task's lease, or None."""
    lease = stack.stores.leases.get(name, 0)
    if lease is None or not lease.is_live(time.time()):
        return None
    return next((r for r in stack.running(name) if r.request_id == lease.owner), None)


def kill_holder(stack: Stack, name: str) -> float:
    """SIGKILL the tick holding the task's lease; when it died (epoch seconds)."""
    victim = wait_until(lambda: lease_holder(stack, name), 120)
    stack.runtime.lambdas.kill(victim.request_id)
    return time.time()


def settle(b: Any, a: Any, topic: str, sent: int, timeout_s: float) -> tuple[list[Any], list[Any]]:
    """Every message of the topic on A, and its copies on B once every one arrived (or time is up)."""
    source, target = client_for(a.namesrv_addr), client_for(b.namesrv_addr)
    source.wait_for_messages(topic, sent, timeout_s=60)
    wanted = {m.unique_id for m in source.read_all(topic)}
    deadline = time.monotonic() + timeout_s
    while True:
        copies = target.read_all(topic)
        if {m.properties.get(P_SOURCE_MSG_ID) for m in copies} >= wanted or time.monotonic() > deadline:
            return copies, list(wanted)
        time.sleep(1.0)


def analyse(stack: Stack, spec: Round, name: str, started: float, ended: float, produced_from: float,
            kills: list[float], copies: list[Any], originals: list[str]) -> Round:
    first: dict[str, Any] = {}
    for copy in sorted(copies, key=lambda c: c.store_timestamp):
        first.setdefault(copy.properties.get(P_SOURCE_MSG_ID), copy)
    lost = len(set(originals) - set(first))
    lags = sorted((c.born_timestamp / 1000 - produced_from, c.store_timestamp - c.born_timestamp)
                  for c in first.values())
    ordered = sorted(lag for _, lag in lags)
    ticks = stack.ticks(name)
    results = [i.result for i in ticks if i.ok and isinstance(i.result, dict)]
    handovers = [r for r in results if r.get("took_over") == "handover"]
    takeovers = [r for r in results if r.get("took_over") == "takeover"]
    spec.events = [("kill", k - produced_from) for k in kills]
    spec.events += [("handover", i.started_at - produced_from) for i in ticks
                    if isinstance(i.result, dict) and i.result.get("took_over") == "handover"]
    spec.lags = lags
    spec.result = {
        "connector": name, "polling": "drain" if spec.kind == "drain" else "continuous",
        "rate_per_s": spec.rate, "produce_seconds": spec.seconds, "messages": len(originals),
        "replicated": len(first), "lost": lost, "duplicates": len(copies) - len(first),
        "lag_ms": {"p50": pct(ordered, 50), "p90": pct(ordered, 90), "p99": pct(ordered, 99),
                   "max": ordered[-1] if ordered else None},
        "ticks": len(ticks), "crashed_ticks": sum(1 for i in ticks if not i.ok),
        "handovers": len(handovers), "handover_gap_ms_max": max((r["gap_ms"] for r in handovers), default=None),
        "takeovers": len(takeovers),
        "takeover_gap_ms": [round(r["gap_ms"]) for r in takeovers if r.get("gap_ms") is not None],
        "kills": [{"at_s": round(k - produced_from, 1), "resumed_after_s": resumed_after(k, lags, produced_from)}
                  for k in kills],
        "counts": counts(stack, name, ticks, started, ended),
    }
    spec.result["cost_per_task_month"] = monthly_cost(spec.result["counts"])
    return spec


def resumed_after(kill: float, lags: list[tuple[float, int]], produced_from: float) -> float | None:
    """Seconds from a kill until the first message born after it was stored on B."""
    after = [born + lag / 1000 for born, lag in lags if born + produced_from > kill]
    return round(min(after) + produced_from - kill, 2) if after else None


def counts(stack: Stack, name: str, ticks: list[Any], started: float, ended: float) -> dict[str, float]:
    """What the round used in AWS terms, over ``ended - started`` seconds."""
    lambda_s = sum(max(0.0, min(i.started_at + i.duration_s, ended) - max(i.started_at, started)) for i in ticks)
    wru = rru = ddb_requests = 0.0
    if stack.meter.exists():
        for line in stack.meter.read_text().splitlines():
            entry = json.loads(line)
            if started <= entry["t"] <= ended:
                wru, rru, ddb_requests = wru + entry["wru"], rru + entry["rru"], ddb_requests + 1
    return {"seconds": round(ended - started, 1), "lambda_invocations": len(ticks),
            "lambda_seconds": round(lambda_s, 1), "scheduler_invocations": len(stack.firings(name)),
            "dynamodb_requests": ddb_requests, "wru": wru, "rru": rru}


def monthly_cost(c: dict[str, float]) -> dict[str, float]:
    """The counts scaled to a 30-day month, priced with ``PRICES`` (US dollars)."""
    scale = MONTH_S / c["seconds"]
    lambda_compute = c["lambda_seconds"] * scale * MEMORY_GB * PRICES["lambda_gb_s"]
    lambda_requests = c["lambda_invocations"] * scale * PRICES["lambda_requests_per_million"] / 1e6
    dynamodb = (c["wru"] * PRICES["wru_per_million"] + c["rru"] * PRICES["rru_per_million"]) * scale / 1e6
    scheduler = c["scheduler_invocations"] * scale * PRICES["scheduler_invocations_per_million"] / 1e6
    return {"lambda_compute": round(lambda_compute, 2), "lambda_requests": round(lambda_requests, 4),
            "dynamodb": round(dynamodb, 2), "scheduler": round(scheduler, 4),
            "total": round(lambda_compute + lambda_requests + dynamodb + scheduler, 2),
            "lambda_gb_s": round(c["lambda_seconds"] * scale * MEMORY_GB),
            "wru_millions": round(c["wru"] * scale / 1e6, 2), "rru_millions": round(c["rru"] * scale / 1e6, 2)}


def pct(ordered: list[int], p: float) -> int | None:
    return throughput.percentile(ordered, p) if ordered else None


def wait_until(condition: Any, timeout_s: float) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise RuntimeError("timed out")
        time.sleep(0.05)


# -- output ---------------------------------------------------------------------------------------

def report(result: dict[str, Any], plot_note: str) -> str:
    rounds, machine = result["rounds"], result["machine"]
    c, crash, drain, loop = rounds["continuous"], rounds["crash"], rounds["drain"], result["plain_loop"]

    def lag_row(label: str, r: dict[str, Any]) -> str:
        lag = r["lag_ms"]
        return (f"| {label} | {r['messages']} | {lag['p50']} | {lag['p90']} | {lag['p99']} | {lag['max']} | "
                f"{r['handovers']} | {r.get('handover_gap_ms_max') and round(r['handover_gap_ms_max'])} | "
                f"{r['lost']} | {r['duplicates']} |")

    idle = result["idle"]

    def cost_row(label: str, r: dict[str, Any]) -> str:
        m = r["cost_per_task_month"]
        return (f"| {label} | {m['lambda_gb_s']:,} | {m['lambda_compute']:.2f} | {m['wru_millions']} / "
                f"{m['rru_millions']} | {m['dynamodb']:.2f} | {m['scheduler']:.4f} | **{m['total']:.2f}** |")

    met = (c["lag_ms"]["p99"] <= TARGET_P99_MS and c["lag_ms"]["max"] <= TARGET_MAX_MS)
    resumes = [k["resumed_after_s"] for k in crash["kills"]]
    lines = [
        "# Replication RPO: continuous polling, handovers, crashes",
        "",
        f"1 KB messages produced into a {throughput.QUEUES}-queue topic of cluster A at {c['rate_per_s']:g} msg/s "
        f"by another process; a `rocketmq-replicator` created through the admin API with its defaults; "
        "template.yaml on the embedded AWS endpoint, the local runtime on the real clock, the source poller "
        "in process sandboxes, `rate(1 minute)` schedules, 10 s leases. Lag = B's store time − A's born time, "
        "for every message (the first copy of each).",
        "",
        f"Machine: {machine['cores']} cores ({machine['cpu']}), {machine['memory_gib']} GiB; both clusters "
        f"(4 JVMs), the embedded AWS endpoint, the producer and the ticks share it. {result['date']}.",
        "",
        "| round | messages | lag p50 ms | p90 | p99 | max | handovers | longest handover gap ms | lost | duplicates |",
        "|---|---|---|---|---|---|---|---|---|---|",
        lag_row(f"continuous, {c['produce_seconds'] / 60:g} min", c),
        lag_row(f"crash: {len(crash['kills'])} SIGKILLs, {crash['produce_seconds'] / 60:g} min", crash),
        lag_row(f"drain (before), {drain['produce_seconds'] / 60:g} min", drain),
        f"| plain pull+send loop, {loop['seconds']:g} s (the floor) | {loop['messages']} | {loop['p50_ms']} | – | "
        f"{loop['p99_ms']} | {loop['max_ms']} | – | – | 0 | 0 |",
        "",
        f"**Target: p99 ≤ {TARGET_P99_MS} ms and max ≤ {TARGET_MAX_MS} ms over the continuous round, handovers "
        f"included: {'met' if met else 'NOT met'}** (p99 {c['lag_ms']['p99']} ms, max {c['lag_ms']['max']} ms; "
        f"drain: p99 {drain['lag_ms']['p99']} ms, max {drain['lag_ms']['max']} ms, "
        f"{drain['lag_ms']['p99'] / max(1, c['lag_ms']['p99']):.0f}× the continuous p99).",
        "",
        "## Crashes",
        "",
        "Each kill is a SIGKILL of the sandbox running the tick that holds the lease (as an out-of-memory kill "
        "or a timeout would end it). Its on-failure record starts a recovery tick at once; that tick waits for "
        "the dead tick's lease to run out (≤ 10 s) and takes the task over. Resumed = until the first message "
        "born after the kill was stored on B.",
        "",
        "| kill | at s | replication resumed after s |",
        "|---|---|---|",
        *[f"| {n + 1} | {k['at_s']} | {k['resumed_after_s']} |" for n, k in enumerate(crash["kills"])],
        "",
        f"**Target: resumed within {TARGET_RESUME_S} s, 0 lost: "
        f"{'met' if resumes and all(r is not None and r <= TARGET_RESUME_S for r in resumes) and crash['lost'] == 0 else 'NOT met'}** "
        f"(longest {max((r for r in resumes if r is not None), default=None)} s; {crash['lost']} lost; "
        f"{crash['duplicates']} duplicates: what the dead ticks had sent after their last commit). "
        f"Takeover gaps (last sign of life of the dead tick → claim): {crash['takeover_gap_ms']} ms.",
        "",
        "## Cost per task-month in AWS",
        "",
        "From the counts each round measured (Lambda seconds of its ticks at the template's 512 MB, "
        "DynamoDB request units counted in the sandboxes, ticks and schedule invocations), scaled to 30 days at "
        f"the same message rate. Prices: {PRICES['as_of']}: Lambda ${PRICES['lambda_gb_s']} per GB-s and "
        f"${PRICES['lambda_requests_per_million']} per million requests, DynamoDB on-demand "
        f"${PRICES['wru_per_million']} per million write and ${PRICES['rru_per_million']} per million read "
        f"request units, Scheduler ${PRICES['scheduler_invocations_per_million']} per million invocations "
        "(the first 14 million a month are free). Data transfer and storage are left out.",
        "",
        "| mode, traffic | Lambda GB-s | Lambda $ | DynamoDB million WRU / RRU | DynamoDB $ | Scheduler $ | total $ |",
        "|---|---|---|---|---|---|---|",
        cost_row(f"continuous, {c['rate_per_s']:g} msg/s", c),
        cost_row(f"drain, {drain['rate_per_s']:g} msg/s", drain),
        cost_row("continuous, idle", idle["continuous"]),
        cost_row("drain, idle", idle["drain"]),
        "",
        "Continuous polling keeps one tick alive all the time, traffic or not: its Lambda time is the month "
        "(plus the overlap of each handover), and it commits at most once a second and renews its lease every "
        "~3 s. A drain tick runs only until its source is empty, so an idle task costs next to nothing; but "
        "under sustained traffic a drain tick rarely finds the source empty, chases the stream like a "
        "continuous one and commits after every batch, which makes it the dearer of the two in DynamoDB. "
        f"Idle rounds: {idle['continuous']['seconds']:g} s each without a message.",
        "",
        "Raw counts: " + "; ".join(f"{k}: {rounds[k]['counts']}" for k in ("continuous", "crash", "drain")) + ".",
        "",
        plot_note,
        "",
    ]
    return "\n".join(lines)


def plot(rounds: dict[str, Round], path: Path) -> str:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "(No plot: matplotlib is not installed; `pip install '.[bench]'`.)"
    fig, axes = plt.subplots(len(rounds), 1, figsize=(10, 3 * len(rounds)), sharex=False)
    for ax, (kind, spec) in zip(axes, rounds.items()):
        xs = [born for born, _ in spec.lags]
        ys = [max(lag, 1) / 1000 for _, lag in spec.lags]
        ax.scatter(xs, ys, s=1, alpha=0.4)
        for what, at in spec.events:
            ax.axvline(at, color="red" if what == "kill" else "grey", linestyle=":" if what == "handover" else "-",
                       linewidth=1)
        ax.set_yscale("log")
        ax.set_ylabel("lag (s)")
        ax.set_title(f"{kind}: lag of each message by its born time (grey: handovers, red: kills)")
    axes[-1].set_xlabel("seconds into the round")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return f"![lag of each message]({path.name})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=4.0, help="production per round (continuous, crash)")
    parser.add_argument("--drain-minutes", type=float, default=3.0)
    parser.add_argument("--rate", type=float, default=1000.0, help="messages per second")
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument("--idle-minutes", type=float, default=2.0, help="each idle round (cost only)")
    parser.add_argument("--out", type=Path, default=HERE / "results")
    args = parser.parse_args(argv)

    from connect_core.rocketmq.broker import RocketMQClusters

    workdir = ROOT / ".bench" / f"rpo-{uuid.uuid4().hex[:6]}"
    workdir.mkdir(parents=True, exist_ok=True)
    clusters = RocketMQClusters.start(("A", "B"), workdir / "clusters")
    stack = None
    try:
        a, b = clusters["A"], clusters["B"]
        stack = Stack(workdir)
        rounds = {}
        for spec in (Round("continuous", args.minutes * 60, args.rate),
                     Round("crash", args.minutes * 60, args.rate, kills=args.kills),
                     Round("drain", args.drain_minutes * 60, args.rate)):
            print(f"round {spec.kind}: {spec.seconds:g} s at {spec.rate:g} msg/s", flush=True)
            rounds[spec.kind] = run_round(stack, a, b, spec)
            print(json.dumps(rounds[spec.kind].result["lag_ms"]), flush=True)
        idle = {}
        for polling in ("continuous", "drain"):
            print(f"idle, {polling}: {args.idle_minutes * 60:g} s", flush=True)
            idle[polling] = idle_round(stack, a, b, polling, args.idle_minutes * 60)
        print("plain loop", flush=True)
        plain, _ = throughput.lag_run("plain_loop", a, b, args.rate, 60.0)
        result = {"date": time.strftime("%Y-%m-%d"), "machine": throughput.machine_facts(),
                  "rounds": {k: r.result for k, r in rounds.items()}, "idle": idle, "plain_loop": plain,
                  "prices": PRICES}
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "replication_rpo.json").write_text(json.dumps(result, indent=2) + "\n")
        note = plot(rounds, args.out / "replication_rpo.png")
        (args.out / "replication_rpo.md").write_text(report(result, note))
        print((args.out / "replication_rpo.md").read_text())
    finally:
        if stack is not None:
            stack.close()
        clusters.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
