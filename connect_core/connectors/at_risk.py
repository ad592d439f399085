"""The data at risk of a replication link: what losing the source cluster now would lose.

Per source queue, from what the replicator stores with its offset syncs before every commit:

* ``verified``: ``max(committed, watermark + 1)``: the next offset after the verified watermark
  (the highest source offset the target acknowledged), or the committed offset when that is
  further. The source commits its position also where no record moved it (a start position
  resolved, messages the tag filter dropped), so a queue that never had a message to copy is
  not at risk, nor are messages the filter or the loop guard skipped;
* ``known_max``: the queue's max offset (the offset the next message will get) as the last pull
  answer said, and when (``observed_at``).

``messages = max(0, known_max - verified)``: the messages the source held, as last observed, that
the target has not verifiably got. ``seconds``: 0 when no message is at risk; otherwise the span
of store time they cover, from the watermark message's store time to the newest at-risk message's
store time when the replicator pulled that message (``bound: exact``), else to ``observed_at``,
by which it was stored (``bound: upper``). With no watermark yet (the target never acknowledged a
message of the queue) the span starts at the store time of the first unreplicated message, when
the replicator tried to send it, else at the queue's first observation: never left out.

What is unknowable once the source is gone: messages produced after ``observed_at``. Nobody
outside the source cluster can count them; the totals say from when the count may be short.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Mapping

if TYPE_CHECKING:
    from ..storage import Stores


@dataclass(frozen=True)
class DataAtRisk:
    """Totals over queues: messages summed, seconds the largest, ``observed_at`` the oldest
    observation (production after it is unknown)."""

    messages: int = 0
    seconds: float = 0.0
    observed_at: float | None = None
    queues: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"messages": self.messages, "seconds": round(self.seconds, 3), "observed_at": self.observed_at,
                "queues": self.queues}


def queue_at_risk(partition: Mapping[str, Any], synced: Mapping[str, Any] | None,
                  committed: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """One source queue's data at risk from its stored sync item (``watermark``, ``source``) and
    the replicator's committed offset (``{"queue_offset": next offset to read}``)."""
    synced = synced or {}
    watermark = synced.get("watermark")
    source = synced.get("source")
    verified = watermark["source_offset"] + 1 if watermark else 0
    if committed is not None:
        verified = max(verified, int(committed["queue_offset"]))
    known_max = max(verified, int(source["max_offset"])) if source else verified
    messages = known_max - verified
    out: dict[str, Any] = {"partition": dict(partition), "verified_offset": verified, "known_max_offset": known_max,
                           "messages": messages, "seconds": 0.0, "bound": "exact",
                           "observed_at": source.get("observed_at") if source else None}
    if messages == 0:
        return out
    newest_is_last = source.get("newest_offset") == known_max - 1 and source.get("newest_store_timestamp")
    newest_ms = float(source["newest_store_timestamp"]) if newest_is_last else float(source["observed_at"]) * 1000
    out["bound"] = "exact" if newest_is_last else "upper"
    base_ms = watermark.get("store_timestamp") if watermark else None
    out["seconds"] = round(max(0.0, newest_ms - float(base_ms or _unverified_since_ms(source, verified))) / 1000, 3)
    return out


def _unverified_since_ms(source: Mapping[str, Any], verified: int) -> float:
    """Without a watermark's store time (nothing verified yet): the store time of the first message
    not replicated when a send of it was seen, else the first observation of the queue (the messages
    at risk are at least that old), else the observation itself."""
    oldest = source.get("oldest_unreplicated")
    if oldest and oldest.get("offset") == verified and oldest.get("store_timestamp"):
        return float(oldest["store_timestamp"])
    return float(source.get("first_observed_at") or source["observed_at"]) * 1000


def link_partitions(stores: "Stores", name: str, cluster: str) -> list[dict[str, Any]]:
    """A link's source queues: those its tasks read now, then any other with a stored sync item
    (a queue of an earlier split)."""
    from .replicator import sync_namespace
    from ..api.record import partition_key

    out = {partition_key(p): p for p in (
        {"cluster": cluster, "broker": b, "topic": t, "queue": q}
        for config in stores.configs.get_task_configs(name) for b, t, q in config.get("queues", []))}
    for partition, _ in stores.offsets.read_all(sync_namespace(name)).pairs():
        out.setdefault(partition_key(partition), dict(partition))
    return sorted(out.values(), key=lambda p: (str(p["topic"]), str(p["broker"]), int(p["queue"])))


def of_link(stores: "Stores", name: str, partitions: list[dict[str, Any]], *,
            observe: Callable[[dict[str, Any]], dict[str, Any]] | None = None) -> DataAtRisk:
    """The data at risk of link ``name`` over ``partitions``, from its stored sync items and
    committed offsets; ``observe(partition)``: a fresh observation (``max_offset``, ``observed_at``)
    to use in place of the stored one. The one computation the API, the CLI and the failover show."""
    from .replicator import sync_namespace

    syncs = stores.offsets.read(sync_namespace(name), partitions)
    committed = stores.offsets.read(name, partitions)
    queues = []
    for partition in partitions:
        synced = dict(syncs[partition]) if partition in syncs else {}
        if observe is not None:
            synced["source"] = {**(synced.get("source") or {}), **observe(partition)}
        queues.append(queue_at_risk(partition, synced, committed.get(partition)))
    return total(queues)


def total(queues: list[dict[str, Any]]) -> DataAtRisk:
    seconds = [q["seconds"] for q in queues if q["seconds"] is not None]
    observed = [q["observed_at"] for q in queues if q["observed_at"] is not None]
    return DataAtRisk(messages=sum(q["messages"] for q in queues), seconds=max(seconds, default=0.0),
                      observed_at=min(observed, default=None), queues=queues)
