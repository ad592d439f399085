"""Messages and their two byte formats (MessageDecoder.java).

The stored format is what a pull answer's body holds, messages back to back::

    int32 total size      int32 magic (V1: 1-byte topic length, V2: 2-byte)   int32 body CRC
    int32 queue id        int32 flag            int64 queue offset            int64 commit log offset
    int32 sys flag        int64 born timestamp  born host (4-byte IPv4 or 16-byte IPv6 by sys flag, int32 port)
    int64 store timestamp store host (as born host)   int32 reconsume times   int64 prepared transaction offset
    int32 body length + body (zlib when sys flag bit 0)   topic length + topic   int16 properties length + properties

The batch format is a SEND_BATCH_MESSAGE body: per message ``int32 size, int32 magic (0), int32 body CRC (0),
int32 flag, int32 body length, body, int16 properties length, properties``.

Properties are ``name \\x01 value \\x02`` pairs in UTF-8. Keys and tags travel as the KEYS (space separated)
and TAGS properties; those and every other MessageConst name are *system* properties, kept apart from
the user's own properties here.
"""

from __future__ import annotations

import calendar
import itertools
import os
import socket
import struct
import time
import zlib
from dataclasses import dataclass, field
from typing import Iterable, Mapping

from .codes import (SYSFLAG_BORNHOST_V6, SYSFLAG_COMPRESSED, SYSFLAG_COMPRESSION_TYPE_MASK,
                    SYSFLAG_NEED_UNWRAP, SYSFLAG_STOREHOST_V6)
from .errors import ProtocolError

MAGIC_V1 = -626843481  # topic length in 1 byte
MAGIC_V2 = -626843477  # topic length in 2 bytes (topics longer than 127 bytes)
BLANK_MAGIC = -875286124

NAME_VALUE_SEPARATOR = "\x01"
PROPERTY_SEPARATOR = "\x02"
MAX_PROPERTIES_BYTES = 32767  # the properties length is a signed 16-bit field

PROPERTY_KEYS = "KEYS"
PROPERTY_TAGS = "TAGS"
PROPERTY_WAIT_STORE_MSG_OK = "WAIT"
PROPERTY_UNIQ_KEY = "UNIQ_KEY"
PROPERTY_CLUSTER = "CLUSTER"
TRANSIENT_PREFIX = "__RMQ.TRANSIENT."

# Every property name MessageConst.java defines (5.3): the broker and the official clients own them.
SYSTEM_PROPERTIES = frozenset({
    "KEYS", "TAGS", "WAIT", "DELAY", "RETRY_TOPIC", "REAL_TOPIC", "REAL_QID", "TRAN_MSG", "PGROUP",
    "MIN_OFFSET", "MAX_OFFSET", "BUYER_ID", "ORIGIN_MESSAGE_ID", "TRANSFER_FLAG", "CORRECTION_FLAG",
    "MQ2_FLAG", "RECONSUME_TIME", "MSG_REGION", "TRACE_ON", "UNIQ_KEY", "EXTEND_UNIQ_INFO",
    "MAX_RECONSUME_TIMES", "CONSUME_START_TIME", "INNER_NUM", "INNER_BASE", "DUP_INFO",
    "CHECK_IMMUNITY_TIME_IN_SECONDS", "TRAN_PREPARED_QUEUE_OFFSET", "__transactionId__",
    "TRANSACTION_CHECK_TIMES", "INSTANCE_ID", "CORRELATION_ID", "REPLY_TO_CLIENT", "TTL", "ARRIVE_TIME",
    "PUSH_REPLY_TIME", "CLUSTER", "MSG_TYPE", "POP_CK", "POP_CK_OFFSET", "1ST_POP_TIME", "__SHARDINGKEY",
    "PROPERTY_FORWARD_QUEUE_ID", "REDIRECT", "INNER_MULTI_DISPATCH", "INNER_MULTI_QUEUE_OFFSET",
    "TRACE_CONTEXT", "TIMER_DELAY_SEC", "TIMER_DELIVER_MS", "__BORNHOST", "BORN_TIMESTAMP",
    "TIMER_ENQUEUE_MS", "TIMER_DEQUEUE_MS", "TIMER_ROLL_TIMES", "TIMER_OUT_MS", "TIMER_DEL_UNIQKEY",
    "TIMER_DELAY_LEVEL", "TIMER_DELAY_MS", "__CRC32#", "DLQ_ORIGIN_TOPIC", "DLQ_ORIGIN_MESSAGE_ID",
})


def is_system_property(name: str) -> bool:
    return name in SYSTEM_PROPERTIES or name.startswith(TRANSIENT_PREFIX)


@dataclass(frozen=True, order=True)
class MessageQueue:
    broker_name: str
    topic: str
    queue_id: int


@dataclass
class Message:
    """A message to send. ``properties`` are the user's own; ``born_timestamp`` (epoch ms) None means now;
    ``unique_id`` is the UNIQ_KEY (the client message id) to send with, None to have one generated."""

    topic: str
    body: bytes
    tags: str | None = None
    keys: list[str] = field(default_factory=list)
    properties: dict[str, str] = field(default_factory=dict)
    flag: int = 0
    born_timestamp: int | None = None
    unique_id: str | None = None


@dataclass
class MessageExt(Message):
    """A stored message as pulled. ``msg_id`` is the offset message id (store host + commit log offset);
    ``unique_id`` the UNIQ_KEY, or ``msg_id`` when the producer set none; ``system_properties`` every
    MessageConst property as stored (TAGS, KEYS, UNIQ_KEY, CLUSTER, ...). Sending a MessageExt again
    keeps its tags, keys, user properties, flag, born timestamp and UNIQ_KEY."""

    queue_id: int = 0
    queue_offset: int = 0
    commit_log_offset: int = 0
    msg_id: str = ""
    born_host: str = ""
    store_timestamp: int = 0
    store_host: str = ""
    reconsume_times: int = 0
    sys_flag: int = 0
    body_crc: int = 0
    prepared_transaction_offset: int = 0
    system_properties: dict[str, str] = field(default_factory=dict)
    store_size: int = 0
    broker_name: str | None = None

    @property
    def queue(self) -> MessageQueue | None:
        return None if self.broker_name is None else MessageQueue(self.broker_name, self.topic, self.queue_id)


# ---------------------------------------------------------------------------------------------------
# properties

def properties_to_string(properties: Mapping[str, str]) -> str:
    if not properties:
        return ""
    return PROPERTY_SEPARATOR.join(map(NAME_VALUE_SEPARATOR.join, properties.items())) + PROPERTY_SEPARATOR


def string_to_properties(text: str) -> dict[str, str]:
    """MessageDecoder.string2messageProperties: an item without a name or a value is dropped."""
    out: dict[str, str] = {}
    for item in text.split(PROPERTY_SEPARATOR):
        name, sep, value = item.partition(NAME_VALUE_SEPARATOR)
        if sep and name and value:
            out[name] = value
    return out


def split_properties(props: Mapping[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """(user, system) properties."""
    user: dict[str, str] = {}
    system: dict[str, str] = {}
    for k, v in props.items():
        (system if is_system_property(k) else user)[k] = v
    return user, system


def _split_property_text(text: str) -> tuple[dict[str, str], dict[str, str]]:
    """``split_properties(string_to_properties(text))`` in one pass (every pulled message takes it)."""
    user: dict[str, str] = {}
    system: dict[str, str] = {}
    for item in text.split(PROPERTY_SEPARATOR):
        name, sep, value = item.partition(NAME_VALUE_SEPARATOR)
        if sep and name and value:
            if name in SYSTEM_PROPERTIES or name.startswith(TRANSIENT_PREFIX):
                system[name] = value
            else:
                user[name] = value
    return user, system


def _check_text(what: str, value: object) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{what} must be a string, got {type(value).__name__}")
    if not value:
        raise ValueError(f"{what} must not be empty")
    if NAME_VALUE_SEPARATOR in value or PROPERTY_SEPARATOR in value:
        raise ValueError(f"{what} {value!r} contains a \\x01 or \\x02 character, which the property format reserves")
    return value


def wire_properties(message: Message, unique_id: str) -> dict[str, str]:
    """The properties a message is sent with: its user properties plus KEYS, TAGS, UNIQ_KEY and WAIT.
    Raises ValueError for a user property that clashes with a system name, or that the format cannot carry."""
    encode_properties(message, unique_id)  # the checks
    props = dict(message.properties) if message.properties else {}
    if message.tags is not None:
        props[PROPERTY_TAGS] = message.tags
    keys = [message.keys] if isinstance(message.keys, str) else message.keys
    if keys:
        props[PROPERTY_KEYS] = " ".join(keys)
    props[PROPERTY_UNIQ_KEY] = unique_id
    props[PROPERTY_WAIT_STORE_MSG_OK] = "true"
    return props


def encode_properties(message: Message, unique_id: str) -> bytes:
    """``wire_properties`` in the format's bytes, as a send request carries them."""
    if not isinstance(message.topic, str) or not message.topic:
        raise ValueError("message topic must be a non-empty string")
    user, tags = message.properties, message.tags
    keys = [message.keys] if isinstance(message.keys, str) else message.keys
    # The text is built directly (every message sent takes this path), then checked at once: each
    # pair brings one of each separator, so more of either means a name or value holds one; names
    # and values must also be non-empty. Anything else (or a name that may be a system one) takes
    # the slow path, which names the property and the reason.
    try:
        pairs = 2
        text = _WIRE_TAIL_FORMAT.format(unique_id)
        if keys:
            for key in keys:
                if not key or not isinstance(key, str) or " " in key:
                    _check_keys(keys)
            text = f"{PROPERTY_KEYS}\x01{' '.join(keys)}\x02{text}"
            pairs += 1
        if tags is not None:
            text = f"{PROPERTY_TAGS}\x01{tags}\x02{text}"
            pairs += 1
        if user:
            text = PROPERTY_SEPARATOR.join(map(NAME_VALUE_SEPARATOR.join, user.items())) + PROPERTY_SEPARATOR + text
            pairs += len(user)
        fast = (type(unique_id) is str and unique_id != "" and (tags is None or (type(tags) is str and tags != ""))
                and text.count(NAME_VALUE_SEPARATOR) == pairs == text.count(PROPERTY_SEPARATOR)
                and not (user and ("" in user or "" in user.values() or not SYSTEM_PROPERTIES.isdisjoint(user)
                                   or TRANSIENT_PREFIX in text)))
    except TypeError:  # a name or value that is not a string
        fast = False
    if not fast:
        _check_properties(message, unique_id)
    encoded = text.encode("utf-8")
    if len(encoded) > MAX_PROPERTIES_BYTES:
        raise ValueError(f"message properties take {len(encoded)} bytes, "
                         f"more than the {MAX_PROPERTIES_BYTES} the format allows")
    return encoded


_WIRE_TAIL_FORMAT = f"{PROPERTY_UNIQ_KEY}\x01{{}}\x02{PROPERTY_WAIT_STORE_MSG_OK}\x01true\x02"


def _check_keys(keys: Iterable[object]) -> None:
    for key in keys:
        _check_text("message key", key)
        if " " in key:  # type: ignore[operator]
            raise ValueError(f"message key {key!r} contains a space, the key separator")


def _check_properties(message: Message, unique_id: str) -> None:
    """Every property one by one: raises ValueError naming the first the format cannot carry."""
    for name, value in (message.properties or {}).items():
        _check_text("property name", name)
        if is_system_property(name):
            raise ValueError(f"property {name!r} is a reserved RocketMQ system property (MessageConst); "
                             "use another name, or set tags/keys through the message fields")
        _check_text(f"property {name!r} value", value)
    if message.tags is not None:
        _check_text("tags", message.tags)
    _check_keys([message.keys] if isinstance(message.keys, str) else list(message.keys or ()))
    _check_text("unique_id", unique_id)


def body_bytes(message: Message) -> bytes:
    body = message.body
    if isinstance(body, (bytearray, memoryview)):
        return bytes(body)
    if not isinstance(body, bytes):
        raise ValueError(f"message body must be bytes, got {type(body).__name__}")
    if not body:
        raise ValueError("message body is empty, which brokers refuse (the Java client does too)")
    return body


# ---------------------------------------------------------------------------------------------------
# ids

_id_counter = itertools.count()
_id_prefix: str | None = None
_month: tuple[float, float] = (0.0, -1.0)  # [start, end) of the current month, epoch seconds


def new_unique_id() -> str:
    """A client message id in the shape MessageClientIDSetter makes (32 hex digits): a per-process
    prefix (random address part, pid, random) then milliseconds since the month began and a counter."""
    global _id_prefix, _month
    if _id_prefix is None:
        _id_prefix = (os.urandom(4) + struct.pack(">H", os.getpid() & 0xFFFF) + os.urandom(4)).hex().upper()
    now = time.time()
    month_start, month_end = _month
    if not month_start <= now < month_end:
        today = time.gmtime(now)
        month_start = calendar.timegm((today.tm_year, today.tm_mon, 1, 0, 0, 0))
        next_year, next_month = (today.tm_year + 1, 1) if today.tm_mon == 12 else (today.tm_year, today.tm_mon + 1)
        _month = (month_start, calendar.timegm((next_year, next_month, 1, 0, 0, 0)))
    millis = int((now - month_start) * 1000) & 0xFFFFFFFF
    return _id_prefix + _ID_TAIL.pack(millis, next(_id_counter) & 0xFFFF).hex().upper()


_ID_TAIL = struct.Struct(">IH")


def offset_msg_id(store_host: bytes, commit_log_offset: int) -> str:
    """Offset message id: store address bytes (4 or 16), int32 port, int64 commit log offset, in hex."""
    return (store_host + struct.pack(">q", commit_log_offset)).hex().upper()


def parse_offset_msg_id(msg_id: str) -> tuple[str, int]:
    """(``ip:port`` of the storing broker, commit log offset) from an offset message id."""
    try:
        raw = bytes.fromhex(msg_id)
    except ValueError as e:
        raise ValueError(f"not an offset message id: {msg_id!r}") from e
    if len(raw) not in (16, 28):
        raise ValueError(f"not an offset message id (32 or 56 hex digits): {msg_id!r}")
    host = format_host(raw[:-12], struct.unpack(">i", raw[-12:-8])[0])
    return host, struct.unpack(">q", raw[-8:])[0]


def format_host(ip: bytes, port: int) -> str:
    host = _hosts.get((ip, port))
    if host is None:
        if len(_hosts) > 4096:
            _hosts.clear()
        host = _hosts[(ip, port)] = _format_host(ip, port)
    return host


_hosts: dict[tuple[bytes, int], str] = {}  # a pull answer's messages share a few born and store hosts


def _format_host(ip: bytes, port: int) -> str:
    if len(ip) == 4:
        return f"{socket.inet_ntop(socket.AF_INET, ip)}:{port}"
    return f"[{socket.inet_ntop(socket.AF_INET6, ip)}]:{port}"


def parse_host(host: str) -> tuple[bytes, int]:
    """``ip:port`` or ``[ipv6]:port`` to (address bytes, port)."""
    addr, _, port = host.rpartition(":")
    addr = addr.strip("[]")
    family = socket.AF_INET6 if ":" in addr else socket.AF_INET
    return socket.inet_pton(family, addr), int(port)


# ---------------------------------------------------------------------------------------------------
# stored format

def _decompress(body: bytes, sys_flag: int) -> bytes:
    kind = (sys_flag & SYSFLAG_COMPRESSION_TYPE_MASK) >> 8
    if kind in (0, 3):  # 0: written before compression types existed, always zlib
        return zlib.decompress(body)
    if kind == 2:
        try:
            import zstandard  # type: ignore[import-not-found]
        except ImportError:
            raise ProtocolError("message body is ZSTD-compressed; install the zstandard package to read it") from None
        return zstandard.ZstdDecompressor().decompressobj().decompress(body)
    if kind == 1:
        try:
            import lz4.frame  # type: ignore[import-not-found]
        except ImportError:
            raise ProtocolError("message body is LZ4-compressed; install the lz4 package to read it") from None
        return lz4.frame.decompress(body)
    raise ProtocolError(f"unknown compression type {kind} in sys flag {sys_flag:#x}")


_FIXED_HEAD = struct.Struct(">iiiiiqqiq")  # size .. born timestamp: 4+4+4+4+4+8+8+4+8 = 48 bytes
# then, with IPv4 hosts: born ip, port, store timestamp, store ip, port, reconsume times, prepared
# transaction offset, body length
_V4_HOSTS = struct.Struct(">4siq4siiqi")


def decode_message(buf: bytes | memoryview, pos: int = 0, *, broker_name: str | None = None) -> tuple[MessageExt, int]:
    """Decode the stored message at ``pos``; returns it and the position after it."""
    data = buf if isinstance(buf, bytes) else bytes(buf)
    try:
        size, magic, body_crc, queue_id, flag, queue_offset, commit_log_offset, sys_flag, born_ts = \
            _FIXED_HEAD.unpack_from(data, pos)
        if magic != MAGIC_V1 and magic != MAGIC_V2:
            raise ProtocolError(f"bad message magic {magic & 0xFFFFFFFF:#010x} at byte {pos}")
        end = pos + size
        if size < _FIXED_HEAD.size or end > len(data):
            raise ProtocolError(f"message at byte {pos} claims {size} bytes, {len(data) - pos} remain")
        p = pos + _FIXED_HEAD.size
        if not sys_flag & (SYSFLAG_BORNHOST_V6 | SYSFLAG_STOREHOST_V6):  # IPv4 hosts: one unpack
            born_ip, born_port, store_ts, store_ip, store_port, reconsume_times, prepared_tx_offset, body_len = \
                _V4_HOSTS.unpack_from(data, p)
            p += _V4_HOSTS.size
        else:
            ip_len = 16 if sys_flag & SYSFLAG_BORNHOST_V6 else 4
            born_ip = data[p:p + ip_len]
            (born_port,) = struct.unpack_from(">i", data, p + ip_len)
            p += ip_len + 4
            (store_ts,) = struct.unpack_from(">q", data, p)
            p += 8
            ip_len = 16 if sys_flag & SYSFLAG_STOREHOST_V6 else 4
            store_ip = data[p:p + ip_len]
            store_port = struct.unpack_from(">i", data, p + ip_len)[0]
            p += ip_len + 4
            reconsume_times, prepared_tx_offset, body_len = struct.unpack_from(">iqi", data, p)
            p += 16
        body = data[p:p + body_len] if body_len > 0 else b""
        p += max(body_len, 0)
        if magic == MAGIC_V2:
            (topic_len,) = struct.unpack_from(">h", data, p)
            p += 2
        else:
            (topic_len,) = struct.unpack_from(">b", data, p)
            p += 1
        topic_raw = data[p:p + topic_len]
        topic = _topics.get(topic_raw)
        if topic is None:
            topic = _topic_name(topic_raw)
        p += topic_len
        (props_len,) = _PROPS_LENGTH.unpack_from(data, p)
        p += 2
        props_text = str(data[p:p + props_len], "utf-8", "replace") if props_len > 0 else ""
        p += max(props_len, 0)
        if p > end or len(body) < body_len:
            raise ProtocolError(f"message at byte {pos} overruns its declared size {size}")
    except struct.error as e:
        raise ProtocolError(f"truncated message at byte {pos}: {e}") from e
    if sys_flag & SYSFLAG_COMPRESSED and body:
        try:
            body = _decompress(body, sys_flag)
        except zlib.error as e:
            raise ProtocolError(f"message at queue offset {queue_offset}: body does not decompress: {e}") from e
    user, system = _split_property_text(props_text)
    store_host = format_host(store_ip, store_port)
    msg_id = offset_msg_id_of(store_host, store_ip, store_port, commit_log_offset)
    keys_text = system.get(PROPERTY_KEYS)
    message = MessageExt(
        topic, body, system.get(PROPERTY_TAGS), [k for k in keys_text.split(" ") if k] if keys_text else [],
        user, flag, born_ts, system.get(PROPERTY_UNIQ_KEY) or msg_id, queue_id, queue_offset, commit_log_offset,
        msg_id, format_host(born_ip, born_port), store_ts, store_host, reconsume_times, sys_flag, body_crc,
        prepared_tx_offset, system, size, broker_name)
    return message, end


_topics: dict[bytes, str] = {}  # the messages of a pull answer share their topic


def _topic_name(raw: bytes) -> str:
    if len(_topics) > 4096:
        _topics.clear()
    topic = _topics[raw] = raw.decode("utf-8", "replace")
    return topic


def offset_msg_id_of(store_host: str, ip: bytes, port: int, commit_log_offset: int) -> str:
    """``offset_msg_id`` with the store address's part looked up once per host."""
    prefix = _host_ids.get(store_host)
    if prefix is None:
        if len(_host_ids) > 4096:
            _host_ids.clear()
        prefix = _host_ids[store_host] = (ip + struct.pack(">i", port)).hex().upper()
    return prefix + format(commit_log_offset & 0xFFFFFFFFFFFFFFFF, "016X")


_host_ids: dict[str, str] = {}


def decode_messages(buf: bytes | memoryview, *, broker_name: str | None = None) -> list[MessageExt]:
    """Every message in a pull answer's body. Inner-batch messages (sys flag NEED_UNWRAP) are unwrapped
    into their parts, numbered from the batch's queue offset as the Java client does."""
    out: list[MessageExt] = []
    data = buf if isinstance(buf, bytes) else bytes(buf)
    pos, size = 0, len(data)
    while pos < size:
        message, pos = decode_message(data, pos, broker_name=broker_name)
        if message.sys_flag & SYSFLAG_NEED_UNWRAP:
            out.extend(_unwrap(message))
        else:
            out.append(message)
    return out


def _unwrap(outer: MessageExt) -> list[MessageExt]:
    parts = []
    for i, (flag, body, props) in enumerate(decode_batch_body(outer.body)):
        user, system = split_properties(props)
        parts.append(MessageExt(
            topic=outer.topic, body=body, tags=system.get(PROPERTY_TAGS),
            keys=[k for k in system.get(PROPERTY_KEYS, "").split(" ") if k], properties=user, flag=flag,
            born_timestamp=outer.born_timestamp, unique_id=system.get(PROPERTY_UNIQ_KEY) or outer.msg_id,
            queue_id=outer.queue_id, queue_offset=outer.queue_offset + i, commit_log_offset=outer.commit_log_offset,
            msg_id=outer.msg_id, born_host=outer.born_host, store_timestamp=outer.store_timestamp,
            store_host=outer.store_host, reconsume_times=outer.reconsume_times, sys_flag=outer.sys_flag,
            body_crc=outer.body_crc, prepared_transaction_offset=outer.prepared_transaction_offset,
            system_properties=system, store_size=outer.store_size, broker_name=outer.broker_name))
    return parts


def body_crc(body: bytes) -> int:
    """UtilAll.crc32: CRC-32 of the stored body, sign bit cleared."""
    return zlib.crc32(body) & 0x7FFFFFFF


def encode_message_ext(message: MessageExt, *, compress: bool = False) -> bytes:
    """The stored format of ``message`` (as a broker writes it; used to test the decoder). Host address
    widths and compression follow ``sys_flag``, which is adjusted to the hosts given and ``compress``.
    ``body_crc`` is written as given (``body_crc(body)`` computes the broker's value)."""
    born_ip, born_port = parse_host(message.born_host)
    store_ip, store_port = parse_host(message.store_host)
    sys_flag = message.sys_flag & ~(SYSFLAG_BORNHOST_V6 | SYSFLAG_STOREHOST_V6 | SYSFLAG_COMPRESSED)
    if len(born_ip) == 16:
        sys_flag |= SYSFLAG_BORNHOST_V6
    if len(store_ip) == 16:
        sys_flag |= SYSFLAG_STOREHOST_V6
    body = bytes(message.body)
    if compress:
        sys_flag |= SYSFLAG_COMPRESSED
        sys_flag &= ~SYSFLAG_COMPRESSION_TYPE_MASK
        body = zlib.compress(body, 5)
    props = dict(message.system_properties)
    if message.tags is not None:
        props.setdefault(PROPERTY_TAGS, message.tags)
    if message.keys:
        props.setdefault(PROPERTY_KEYS, " ".join(message.keys))
    props.update(message.properties)
    props_bytes = properties_to_string(props).encode("utf-8")
    topic = message.topic.encode("utf-8")
    magic = MAGIC_V1 if len(topic) <= 127 else MAGIC_V2
    topic_field = struct.pack(">b" if magic == MAGIC_V1 else ">h", len(topic)) + topic
    tail = b"".join((
        born_ip, struct.pack(">iq", born_port, message.store_timestamp),
        store_ip,
        struct.pack(">iiqi", store_port, message.reconsume_times, message.prepared_transaction_offset, len(body)),
        body, topic_field, struct.pack(">h", len(props_bytes)), props_bytes))
    size = _FIXED_HEAD.size + len(tail)
    head = _FIXED_HEAD.pack(size, magic, message.body_crc, message.queue_id, message.flag, message.queue_offset,
                            message.commit_log_offset, sys_flag, message.born_timestamp or 0)
    return head + tail


# ---------------------------------------------------------------------------------------------------
# batch format (SEND_BATCH_MESSAGE bodies, inner batches)

def encode_batch_body(entries: Iterable[tuple[int, bytes, Mapping[str, str] | bytes]]) -> bytes:
    """MessageDecoder.encodeMessages: (flag, body, properties) per message; properties as a mapping or
    already encoded (``encode_properties``)."""
    parts = []
    head, props_length = _BATCH_HEAD.pack, _PROPS_LENGTH.pack
    for flag, body, props in entries:
        props_bytes = props if isinstance(props, bytes) else properties_to_string(props).encode("utf-8")
        parts += (head(22 + len(body) + len(props_bytes), 0, 0, flag, len(body)), body,
                  props_length(len(props_bytes)), props_bytes)
    return b"".join(parts)


_BATCH_HEAD = struct.Struct(">iiiii")
_PROPS_LENGTH = struct.Struct(">h")


def decode_batch_body(buf: bytes) -> list[tuple[int, bytes, dict[str, str]]]:
    out = []
    pos = 0
    try:
        while pos < len(buf):
            size, _magic, _crc, flag, body_len = struct.unpack_from(">iiiii", buf, pos)
            body = bytes(buf[pos + 20:pos + 20 + body_len])
            (props_len,) = struct.unpack_from(">h", buf, pos + 20 + body_len)
            start = pos + 22 + body_len
            props = string_to_properties(bytes(buf[start:start + props_len]).decode("utf-8", "replace"))
            out.append((flag, body, props))
            if size <= 0:
                raise ProtocolError(f"batch entry at byte {pos} has size {size}")
            pos += size
    except struct.error as e:
        raise ProtocolError(f"truncated batch body at byte {pos}: {e}") from e
    return out
