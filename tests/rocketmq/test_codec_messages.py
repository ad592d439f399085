"""The stored message format, the batch format and message properties: golden bytes laid out as
MessageDecoder.java writes them, round trips over arbitrary messages, and the property rules."""

from __future__ import annotations

import re
import socket
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connect_core.rocketmq.codes import (SYSFLAG_BORNHOST_V6, SYSFLAG_COMPRESSED, SYSFLAG_NEED_UNWRAP,
                                         SYSFLAG_STOREHOST_V6)
from connect_core.rocketmq.errors import ProtocolError
from connect_core.rocketmq.message import (MAGIC_V2, Message, MessageExt, body_crc, decode_batch_body, decode_message,
                                           decode_messages, encode_batch_body, encode_message_ext, new_unique_id,
                                           offset_msg_id, parse_offset_msg_id, properties_to_string,
                                           string_to_properties, wire_properties, encode_properties)

# Topic "T", body "hi", queue 3, flag 5, queue offset 7, commit log offset 4096, sys flag 0,
# born 1600000000000 at 10.0.0.1:5000, stored 1600000000123 at 127.0.0.1:10911, reconsumed twice,
# properties TAGS=a.
STORED_V4 = bytes.fromhex(
    "00000065" "daa320a7" "58932aac"          # size 101, magic V1 (-626843481), body CRC
    "00000003" "00000005"                    # queue id, flag
    "0000000000000007" "0000000000001000"    # queue offset, commit log offset
    "00000000" "00000174876e8000"            # sys flag, born timestamp
    "0a000001" "00001388"                    # born host 10.0.0.1, port 5000
    "00000174876e807b"                       # store timestamp
    "7f000001" "00002a9f"                    # store host 127.0.0.1, port 10911
    "00000002" "0000000000000000"            # reconsume times, prepared transaction offset
    "00000002" "6869"                        # body "hi"
    "01" "54"                                # topic length (1 byte in V1), "T"
    "0007" "5441475301" "6102")              # properties "TAGS\x01a\x02"

# Born host [::1]:1234 and store host [fe80::1]:10911 (sys flags 0x10 | 0x20): 16-byte addresses.
STORED_V6 = bytes.fromhex(
    "00000076" "daa320a7" "00000000" "00000000" "00000000"
    "0000000000000001" "0000000000000063" "00000030" "0000000000000001"
    "00000000000000000000000000000001" "000004d2"
    "0000000000000002"
    "fe800000000000000000000000000001" "00002a9f"
    "00000000" "0000000000000000" "00000002" "6869" "0154" "0000")

# Sys flag 1: the body "hello hello hello" is zlib-compressed (level 5, as the Java producer does).
STORED_ZLIB = bytes.fromhex(
    "0000006c" "daa320a7" "00000000" "00000000" "00000000"
    "0000000000000000" "0000000000000000" "00000001" "0000000000000000"
    "7f000001" "00000001" "0000000000000000" "7f000001" "00000002"
    "00000000" "0000000000000000"
    "00000010" "785ecb48cdc9c957c84090003a2e067d" "0154" "0000")

# MessageDecoder.encodeMessages of ("x", flag 1, KEYS=k) and ("yz", flag 0, no properties).
BATCH = bytes.fromhex(
    "0000001e" "00000000" "00000000" "00000001" "00000001" "78" "0007" "4b455953016b02"
    "00000018" "00000000" "00000000" "00000000" "00000002" "797a" "0000")


def test_golden_ipv4_message_decodes():
    m, end = decode_message(STORED_V4, broker_name="broker-a")

    assert end == len(STORED_V4) == m.store_size
    assert (m.topic, m.body, m.tags, m.keys, m.properties) == ("T", b"hi", "a", [], {})
    assert (m.queue_id, m.flag, m.queue_offset, m.commit_log_offset) == (3, 5, 7, 4096)
    assert (m.born_timestamp, m.born_host) == (1600000000000, "10.0.0.1:5000")
    assert (m.store_timestamp, m.store_host) == (1600000000123, "127.0.0.1:10911")
    assert (m.reconsume_times, m.sys_flag, m.prepared_transaction_offset) == (2, 0, 0)
    assert m.body_crc == body_crc(b"hi")
    assert m.msg_id == "7F00000100002A9F0000000000001000"  # store host + port + commit log offset
    assert m.unique_id == m.msg_id  # no UNIQ_KEY: the offset id stands in, as in the Java client
    assert m.system_properties == {"TAGS": "a"} and m.queue.broker_name == "broker-a"


def test_golden_ipv6_message_decodes_with_16_byte_hosts():
    m, _ = decode_message(STORED_V6)

    assert m.sys_flag == SYSFLAG_BORNHOST_V6 | SYSFLAG_STOREHOST_V6
    assert m.born_host == "[::1]:1234" and m.store_host == "[fe80::1]:10911"
    assert m.msg_id == "FE80000000000000000000000000000100002A9F0000000000000063"
    assert parse_offset_msg_id(m.msg_id) == ("[fe80::1]:10911", 99)


def test_golden_compressed_message_decodes_to_the_plain_body():
    m, _ = decode_message(STORED_ZLIB)
    assert m.sys_flag & SYSFLAG_COMPRESSED and m.body == b"hello hello hello"


@pytest.mark.parametrize("golden", [STORED_V4, STORED_V6, STORED_ZLIB], ids=["ipv4", "ipv6", "zlib"])
def test_encoder_reproduces_the_golden_bytes(golden: bytes):
    m, _ = decode_message(golden)
    assert encode_message_ext(m, compress=bool(m.sys_flag & SYSFLAG_COMPRESSED)) == golden


def test_messages_back_to_back_decode_in_order():
    messages = decode_messages(STORED_V4 + STORED_V6 + STORED_ZLIB)
    assert [m.body for m in messages] == [b"hi", b"hi", b"hello hello hello"]


def test_golden_batch_body():
    assert encode_batch_body([(1, b"x", {"KEYS": "k"}), (0, b"yz", {})]) == BATCH
    assert decode_batch_body(BATCH) == [(1, b"x", {"KEYS": "k"}), (0, b"yz", {})]


def test_inner_batch_message_is_unwrapped_with_consecutive_offsets():
    inner = encode_batch_body([(0, b"one", {"UNIQ_KEY": "U1", "TAGS": "t", "color": "red"}), (2, b"two", {})])
    outer = MessageExt(topic="T", body=inner, born_timestamp=1, born_host="127.0.0.1:1", store_host="127.0.0.1:2",
                       queue_offset=10, commit_log_offset=500, sys_flag=SYSFLAG_NEED_UNWRAP)

    parts = decode_messages(encode_message_ext(outer))

    assert [(p.queue_offset, p.body, p.flag) for p in parts] == [(10, b"one", 0), (11, b"two", 2)]
    assert parts[0].unique_id == "U1" and parts[0].tags == "t" and parts[0].properties == {"color": "red"}
    assert parts[1].unique_id == parts[1].msg_id == offset_msg_id(bytes([127, 0, 0, 1, 0, 0, 0, 2]), 500)


# -------------------------------------------------------------------------------------------- round trips

names = st.text(st.characters(blacklist_characters="\x01\x02", blacklist_categories=("Cs",)), min_size=1, max_size=12)
user_names = names.filter(lambda n: n.upper() == n.lower() or not n.isupper()).filter(
    lambda n: n not in {"KEYS", "TAGS"} and not n.startswith("__"))
values = st.text(st.characters(blacklist_characters="\x01\x02", blacklist_categories=("Cs",)), min_size=1, max_size=20)
keys = st.text(st.characters(blacklist_characters="\x01\x02 ", blacklist_categories=("Cs",)), min_size=1, max_size=10)
ipv4 = st.ip_addresses(v=4).map(str)
ipv6 = st.ip_addresses(v=6).map(lambda a: f"[{socket.inet_ntop(socket.AF_INET6, a.packed)}]")
hosts = st.builds(lambda ip, port: f"{ip}:{port}", ipv4 | ipv6, st.integers(0, 65535))


@st.composite
def stored_messages(draw):
    props = draw(st.dictionaries(user_names, values, max_size=5))
    from connect_core.rocketmq.message import is_system_property
    props = {k: v for k, v in props.items() if not is_system_property(k)}
    system = {"UNIQ_KEY": draw(st.text("0123456789ABCDEF", min_size=32, max_size=32)), "CLUSTER": "C"}
    body = draw(st.binary(max_size=2000) | st.text(max_size=500).map(str.encode))
    return MessageExt(
        topic=draw(st.text("abcXYZ_-%|0123456789", min_size=1, max_size=200)),
        body=body, tags=draw(st.none() | values), keys=draw(st.lists(keys, max_size=3)), properties=props,
        flag=draw(st.integers(-2**31, 2**31 - 1)), born_timestamp=draw(st.integers(0, 2**62)),
        unique_id=system["UNIQ_KEY"], queue_id=draw(st.integers(0, 2**31 - 1)),
        queue_offset=draw(st.integers(0, 2**62)), commit_log_offset=draw(st.integers(0, 2**62)),
        born_host=draw(hosts), store_timestamp=draw(st.integers(0, 2**62)), store_host=draw(hosts),
        reconsume_times=draw(st.integers(0, 100)), body_crc=body_crc(body),
        prepared_transaction_offset=draw(st.integers(0, 2**62)), system_properties=system)


@settings(max_examples=200, deadline=None)
@given(stored_messages(), st.booleans())
def test_stored_messages_round_trip(message: MessageExt, compress: bool):
    raw = encode_message_ext(message, compress=compress)

    decoded, end = decode_message(raw)

    assert end == len(raw) == decoded.store_size
    assert struct.unpack(">i", raw[4:8])[0] == (MAGIC_V2 if len(message.topic.encode()) > 127 else -626843481)
    assert bool(decoded.sys_flag & SYSFLAG_COMPRESSED) == compress
    assert bool(decoded.sys_flag & SYSFLAG_BORNHOST_V6) == message.born_host.startswith("[")
    for name in ("topic", "body", "tags", "keys", "properties", "flag", "born_timestamp", "unique_id", "queue_id",
                 "queue_offset", "commit_log_offset", "born_host", "store_timestamp", "store_host",
                 "reconsume_times", "body_crc", "prepared_transaction_offset"):
        assert getattr(decoded, name) == getattr(message, name), name
    assert decoded.system_properties["UNIQ_KEY"] == message.unique_id
    assert parse_offset_msg_id(decoded.msg_id) == (message.store_host, message.commit_log_offset)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(-2**31, 2**31 - 1), st.binary(max_size=300),
                          st.dictionaries(names, values, max_size=4)), max_size=5))
def test_batch_bodies_round_trip(entries):
    assert decode_batch_body(encode_batch_body(entries)) == entries


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(names, values, max_size=8))
def test_properties_round_trip(props):
    assert string_to_properties(properties_to_string(props)) == props


def test_property_items_without_name_or_value_are_dropped_as_java_does():
    assert string_to_properties("a\x01b\x02\x01x\x02c\x01\x02d\x02e\x01f") == {"a": "b", "e": "f"}


# ----------------------------------------------------------------------------------------- sending rules

def test_wire_properties_carry_keys_tags_uniq_key_and_user_properties():
    m = Message("T", b"x", tags="TagA", keys=["k1", "k2"], properties={"color": "grün", "n": "1"})

    props = wire_properties(m, "ABC")

    assert props == {"color": "grün", "n": "1", "TAGS": "TagA", "KEYS": "k1 k2", "UNIQ_KEY": "ABC", "WAIT": "true"}
    assert encode_properties(m, "ABC") == properties_to_string(props).encode()  # in this order on the wire


@pytest.mark.parametrize("message, error", [
    (Message("T", b"", properties={"KEYS": "x"}), "reserved RocketMQ system property"),
    (Message("T", b"", properties={"UNIQ_KEY": "x"}), "reserved"),
    (Message("T", b"", properties={"__RMQ.TRANSIENT.X": "x"}), "reserved"),
    (Message("T", b"", properties={"a": ""}), "must not be empty"),
    (Message("T", b"", properties={"a\x01": "b"}), "reserves"),
    (Message("T", b"", properties={"a": "b\x02"}), "reserves"),
    (Message("T", b"", properties={"a": 1}), "must be a string"),
    (Message("T", b"", keys=["has space"]), "contains a space"),
    (Message("T", b"", keys=[""]), "must not be empty"),
    (Message("T", b"", tags=""), "must not be empty"),
    (Message("T", b"", tags=7), "must be a string"),  # type: ignore[arg-type]
    (Message("", b""), "topic"),
    (Message("T", b"", properties={"big": "x" * 40000}), "more than the 32767"),
    # separators that balance out across properties, empty names in later positions, odd keys
    (Message("T", b"", properties={"a\x02": "b", "c": "d\x01"}), "reserves"),
    (Message("T", b"", properties={"a": "b", "": "c"}), "must not be empty"),
    (Message("T", b"", keys=["k", ""]), "must not be empty"),
    (Message("T", b"", keys=["k", 7]), "must be a string"),
    (Message("T", b"", properties={"a": "b"}), "unique_id"),  # with an empty unique id, below
])
def test_wire_properties_reject_what_the_format_or_the_broker_cannot_take(message: Message, error: str):
    with pytest.raises(ValueError, match=re.escape(error)):
        wire_properties(message, "" if error == "unique_id" else "ABC")


def test_property_values_may_contain_what_looks_like_a_system_name():
    m = Message("T", b"x", properties={"note": "__RMQ.TRANSIENT.not-a-name", "KEYS_x": "TAGS"})
    assert wire_properties(m, "ABC")["note"] == "__RMQ.TRANSIENT.not-a-name"
    assert encode_properties(m, "ABC") == properties_to_string(wire_properties(m, "ABC")).encode()


def test_unique_ids_look_like_java_client_ids_and_do_not_repeat():
    ids = [new_unique_id() for _ in range(5000)]
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"[0-9A-F]{32}", i) for i in ids)


def test_truncated_or_foreign_bytes_raise_protocol_errors():
    with pytest.raises(ProtocolError, match="claims"):
        decode_message(STORED_V4[:-3])
    with pytest.raises(ProtocolError, match="magic"):
        decode_message(b"\x00" * 80)
    with pytest.raises(ProtocolError, match="truncated"):
        decode_message(STORED_V4[:20])


def test_a_corrupt_compressed_body_raises_protocol_error():
    raw = bytearray(STORED_ZLIB)
    raw[-20:-6] = b"\xff" * 14
    with pytest.raises(ProtocolError, match="decompress"):
        decode_message(bytes(raw))


def test_lz4_bodies_name_the_missing_package():
    raw = bytearray(STORED_ZLIB)
    raw[36:40] = struct.pack(">i", SYSFLAG_COMPRESSED | (1 << 8))  # sys flag: compressed, type LZ4
    with pytest.raises(ProtocolError, match="lz4"):
        decode_message(bytes(raw))
