"""Topic routes and cluster membership as the name server describes them.

GET_ROUTEINFO_BY_TOPIC answers ``{"brokerDatas": [{"cluster", "brokerName", "brokerAddrs": {id: addr}}],
"queueDatas": [{"brokerName", "readQueueNums", "writeQueueNums", "perm", "topicSysFlag"}], ...}`` and
GET_BROKER_CLUSTER_INFO ``{"brokerAddrTable": {name: brokerData}, "clusterAddrTable": {cluster: [names]}}``.
The server writes them with fastjson, which leaves integer map keys unquoted (``{0:"127.0.0.1:10911"}``)
unless the client asks for standard JSON, and only routes can be asked for it: so the parser accepts both.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass, field

from .codes import PERM_READ, PERM_WRITE
from .errors import ProtocolError
from .message import MessageQueue

MASTER_ID = 0

_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.S)
_BARE_NUMBER_KEY = re.compile(r"([{,]\s*)(-?\d+)(\s*:)")


def loads_lenient(data: bytes) -> object:
    """json.loads that also takes fastjson's unquoted integer keys."""
    text = data.decode("utf-8")
    try:
        return json.loads(text)
    except ValueError:
        pass
    out, last = [], 0
    for m in _JSON_STRING.finditer(text):
        out.append(_BARE_NUMBER_KEY.sub(r'\1"\2"\3', text[last:m.start()]))
        out.append(m.group(0))
        last = m.end()
    out.append(_BARE_NUMBER_KEY.sub(r'\1"\2"\3', text[last:]))
    try:
        return json.loads("".join(out))
    except ValueError as e:
        raise ProtocolError(f"undecodable JSON body: {e}: {text[:200]!r}") from e


@dataclass(frozen=True)
class BrokerData:
    broker_name: str
    cluster: str
    addrs: dict[int, str] = field(default_factory=dict)  # broker id -> "host:port"; 0 is the master

    @property
    def master_addr(self) -> str | None:
        return self.addrs.get(MASTER_ID)

    def any_addr(self) -> str | None:
        """The master, else the replica with the lowest id (reads only)."""
        if MASTER_ID in self.addrs:
            return self.addrs[MASTER_ID]
        return self.addrs[min(self.addrs)] if self.addrs else None

    @classmethod
    def from_json(cls, d: dict) -> "BrokerData":
        addrs = {int(k): str(v) for k, v in (d.get("brokerAddrs") or {}).items()}
        return cls(broker_name=str(d["brokerName"]), cluster=str(d.get("cluster") or ""), addrs=addrs)


@dataclass(frozen=True)
class QueueData:
    broker_name: str
    read_queue_nums: int
    write_queue_nums: int
    perm: int
    topic_sys_flag: int = 0

    @property
    def readable(self) -> bool:
        return bool(self.perm & PERM_READ)

    @property
    def writable(self) -> bool:
        return bool(self.perm & PERM_WRITE)

    @classmethod
    def from_json(cls, d: dict) -> "QueueData":
        return cls(broker_name=str(d["brokerName"]), read_queue_nums=int(d.get("readQueueNums", 0)),
                   write_queue_nums=int(d.get("writeQueueNums", 0)), perm=int(d.get("perm", 0)),
                   topic_sys_flag=int(d.get("topicSysFlag", 0)))


@dataclass(frozen=True)
class TopicRoute:
    topic: str
    brokers: dict[str, BrokerData]  # by broker name
    queues: list[QueueData]

    @classmethod
    def from_json(cls, topic: str, body: bytes) -> "TopicRoute":
        data = loads_lenient(body)
        if not isinstance(data, dict):
            raise ProtocolError(f"route of {topic!r} is not a JSON object")
        brokers = {b.broker_name: b for b in map(BrokerData.from_json, data.get("brokerDatas") or [])}
        queues = sorted(map(QueueData.from_json, data.get("queueDatas") or []), key=lambda q: q.broker_name)
        return cls(topic=topic, brokers=brokers, queues=queues)

    @property
    def clusters(self) -> set[str]:
        return {b.cluster for b in self.brokers.values()}

    @functools.cached_property
    def readable_queues(self) -> tuple[MessageQueue, ...]:
        """Readable queues of the route's brokers, sorted by (broker name, queue id); worked out
        once per route (a route is cached and asked for its queues per send)."""
        return tuple(sorted(MessageQueue(q.broker_name, self.topic, i)
                            for q in self.queues if q.readable and q.broker_name in self.brokers
                            for i in range(q.read_queue_nums)))

    @functools.cached_property
    def writable_queues(self) -> tuple[MessageQueue, ...]:
        """Writable queues on brokers with a master, sorted by (broker name, queue id)."""
        return tuple(sorted(MessageQueue(q.broker_name, self.topic, i)
                            for q in self.queues if q.writable and self._has_master(q.broker_name)
                            for i in range(q.write_queue_nums)))

    def _has_master(self, broker_name: str) -> bool:
        broker = self.brokers.get(broker_name)
        return broker is not None and bool(broker.master_addr)


@dataclass(frozen=True)
class ClusterInfo:
    brokers: dict[str, BrokerData]  # by broker name
    clusters: dict[str, list[str]]  # cluster name -> broker names

    @classmethod
    def from_json(cls, body: bytes) -> "ClusterInfo":
        data = loads_lenient(body)
        if not isinstance(data, dict):
            raise ProtocolError("cluster info is not a JSON object")
        brokers = {name: BrokerData.from_json({"brokerName": name, **d})
                   for name, d in (data.get("brokerAddrTable") or {}).items()}
        clusters = {name: sorted(names) for name, names in (data.get("clusterAddrTable") or {}).items()}
        return cls(brokers=brokers, clusters=clusters)
