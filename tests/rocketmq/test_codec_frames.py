"""Remoting frames and name server bodies: golden bytes in the Java layout, and round trips."""

from __future__ import annotations

import json
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connect_core.rocketmq.errors import ProtocolError
from connect_core.rocketmq.protocol import (FLAG_RESPONSE, SERIALIZE_JSON, SERIALIZE_ROCKETMQ,
                                            RemotingCommand, decode_frame)
from connect_core.rocketmq.route import ClusterInfo, TopicRoute, loads_lenient

# RocketMQSerializable layout: int16 code, int8 language, int16 version, int32 opaque, int32 flag,
# int32 remark length + remark, int32 extFields length + (int16 key length, key, int32 value length, value)*.
# A response (flag 1), code 17, JAVA, version 0, opaque 42, remark "no topic", {"k": "v"}, body 01 02 03.
BINARY_FRAME = bytes.fromhex(
    "0000002c"            # total length: 4 + 37 + 3
    "01000025"            # serialize type 1 (ROCKETMQ) in the top byte, header length 37
    "0011" "00" "0000"    # code 17, language JAVA, version 0
    "0000002a" "00000001"  # opaque 42, flag: response
    "00000008" "6e6f20746f706963"  # "no topic"
    "00000008" "0001" "6b" "00000001" "76"  # {"k": "v"}
    "010203")

# A JSON answer as a Java broker writes it (fastjson: fields sorted, every extFields value a string).
JAVA_JSON_HEADER = (b'{"code":0,"extFields":{"offset":"3"},"flag":1,"language":"JAVA","opaque":5,'
                    b'"serializeTypeCurrentRPC":"JSON","version":479}')


def test_binary_header_frame_decodes_like_the_java_serializer_wrote_it():
    cmd = decode_frame(BINARY_FRAME[4:])

    assert (cmd.code, cmd.opaque, cmd.flag, cmd.version) == (17, 42, FLAG_RESPONSE, 0)
    assert cmd.language == "JAVA" and cmd.remark == "no topic"
    assert cmd.ext_fields == {"k": "v"} and cmd.body == b"\x01\x02\x03"
    assert cmd.is_response and cmd.serialize_type == SERIALIZE_ROCKETMQ


def test_binary_header_frame_encodes_to_the_same_bytes():
    cmd = RemotingCommand(code=17, ext_fields={"k": "v"}, body=b"\x01\x02\x03", opaque=42, flag=FLAG_RESPONSE,
                          remark="no topic", language="JAVA", version=0, serialize_type=SERIALIZE_ROCKETMQ)
    assert cmd.encode() == BINARY_FRAME


def test_json_frame_from_a_java_broker_decodes():
    frame = struct.pack(">I", len(JAVA_JSON_HEADER)) + JAVA_JSON_HEADER + b"body"

    cmd = decode_frame(frame)

    assert (cmd.code, cmd.opaque, cmd.flag, cmd.version, cmd.language) == (0, 5, 1, 479, "JAVA")
    assert cmd.ext_fields == {"offset": "3"} and cmd.body == b"body" and cmd.remark is None


def test_json_request_frame_layout():
    cmd = RemotingCommand(code=105, ext_fields={"topic": "T"}, opaque=7)

    frame = cmd.encode()

    total, header_word = struct.unpack(">iI", frame[:8])
    header_len = header_word & 0xFFFFFF
    assert header_word >> 24 == SERIALIZE_JSON
    assert total == len(frame) - 4 == 4 + header_len
    assert json.loads(frame[8:8 + header_len]) == {
        "code": 105, "language": "PYTHON", "version": 401, "opaque": 7, "flag": 0, "extFields": {"topic": "T"}}


def test_request_stringifies_header_fields_like_java_and_drops_none():
    cmd = RemotingCommand.request(11, {"queueOffset": 12, "order": False, "force": True, "skip": None})

    assert cmd.ext_fields == {"queueOffset": "12", "order": "false", "force": "true"}
    assert cmd.flag == 0 and not cmd.is_response
    assert RemotingCommand.request(11).opaque != cmd.opaque


texts = st.text(max_size=30)
commands = st.builds(
    RemotingCommand,
    code=st.integers(-32768, 32767),
    ext_fields=st.dictionaries(texts, texts, max_size=6),
    body=st.binary(max_size=300),
    opaque=st.integers(0, 2**31 - 1),
    flag=st.integers(0, 3),
    remark=st.none() | st.text(min_size=1, max_size=40),
    language=st.sampled_from(["JAVA", "PYTHON", "GO", "CPP"]),
    version=st.integers(0, 32767),
    serialize_type=st.sampled_from([SERIALIZE_JSON, SERIALIZE_ROCKETMQ]),
)


@settings(max_examples=200, deadline=None)
@given(commands)
def test_frames_round_trip(cmd: RemotingCommand):
    frame = cmd.encode()

    assert struct.unpack(">i", frame[:4])[0] == len(frame) - 4
    assert decode_frame(frame[4:]) == cmd


@pytest.mark.parametrize("frame, error", [
    (b"\x00\x00", "too short"),
    (struct.pack(">I", 50) + b"{}", "exceeds"),
    (struct.pack(">I", (7 << 24) | 2) + b"{}", "unknown serialize type"),
    (struct.pack(">I", 3) + b"{x}", "undecodable JSON"),
    (struct.pack(">I", 2) + b"{}", "without a code"),
    (struct.pack(">I", (1 << 24) | 5) + b"\x00\x01\x00\x00\x00", "undecodable binary"),
])
def test_malformed_frames_raise_protocol_errors(frame: bytes, error: str):
    with pytest.raises(ProtocolError, match=error):
        decode_frame(frame)


# What a 5.3 name server answered to GET_BROKER_CLUSTER_INFO: fastjson leaves the broker ids unquoted.
CLUSTER_INFO_BODY = (b'{"brokerAddrTable":{"broker-a":{"brokerAddrs":{0:"127.0.0.1:20911",1:"127.0.0.1:20921"},'
                     b'"brokerName":"broker-a","cluster":"DefaultCluster","enableActingMaster":false}},'
                     b'"clusterAddrTable":{"DefaultCluster":["broker-a"]}}')


def test_cluster_info_with_unquoted_integer_keys_parses():
    info = ClusterInfo.from_json(CLUSTER_INFO_BODY)

    assert info.clusters == {"DefaultCluster": ["broker-a"]}
    broker = info.brokers["broker-a"]
    assert broker.addrs == {0: "127.0.0.1:20911", 1: "127.0.0.1:20921"}
    assert broker.master_addr == "127.0.0.1:20911" and broker.cluster == "DefaultCluster"


def test_lenient_json_leaves_strings_that_look_like_keys_alone():
    body = b'{"a":{0:"{1:2}","s":"x, 3: y"},"b":[{7 : "z"}]}'
    assert loads_lenient(body) == {"a": {"0": "{1:2}", "s": "x, 3: y"}, "b": [{"7": "z"}]}


def test_lenient_json_reports_garbage_as_protocol_error():
    with pytest.raises(ProtocolError, match="undecodable JSON"):
        loads_lenient(b'{"a":')


def test_topic_route_in_standard_json():
    body = json.dumps({
        "brokerDatas": [{"brokerAddrs": {"0": "127.0.0.1:10911"}, "brokerName": "b", "cluster": "C"},
                        {"brokerAddrs": {"1": "127.0.0.1:10921"}, "brokerName": "a", "cluster": "C"}],
        "queueDatas": [{"brokerName": "b", "perm": 6, "readQueueNums": 4, "topicSysFlag": 0, "writeQueueNums": 2},
                       {"brokerName": "a", "perm": 4, "readQueueNums": 1, "topicSysFlag": 0, "writeQueueNums": 1}],
        "filterServerTable": {}}).encode()

    route = TopicRoute.from_json("T", body)

    assert [q.broker_name for q in route.queues] == ["a", "b"]
    assert route.brokers["a"].master_addr is None and route.brokers["a"].any_addr() == "127.0.0.1:10921"
    assert route.queues[0].readable and not route.queues[0].writable
    assert route.queues[1].write_queue_nums == 2 and route.clusters == {"C"}
