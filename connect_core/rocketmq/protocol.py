"""The remoting frame (RemotingCommand.java): what goes over the TCP connection.

    int32 total length (everything after these 4 bytes)
    int32 header length, with the serialize type in its top byte (0 = JSON, 1 = ROCKETMQ binary)
    header
    body

The JSON header is ``{"code", "language", "version", "opaque", "flag", "remark", "extFields"}``;
every extFields value is a string. A response echoes the request's opaque and has flag bit 0 set.
This client writes JSON headers and reads both kinds (a broker started with
``rocketmq.serialize.type=ROCKETMQ`` answers in binary).
"""

from __future__ import annotations

import itertools
import json
import struct
from dataclasses import dataclass, field

from .errors import ProtocolError

SERIALIZE_JSON = 0
SERIALIZE_ROCKETMQ = 1

FLAG_RESPONSE = 0x1
FLAG_ONEWAY = 0x2

# LanguageCode.java. Brokers parse the JSON name into the enum; PYTHON is known to every 3.x-5.x broker.
LANGUAGE = "PYTHON"
LANGUAGE_CODES = {"JAVA": 0, "CPP": 1, "DOTNET": 2, "PYTHON": 3, "DELPHI": 4, "ERLANG": 5, "RUBY": 6,
                  "OTHER": 7, "HTTP": 8, "GO": 9, "PHP": 10, "OMS": 11, "RUST": 12, "NODE_JS": 13}
LANGUAGE_NAMES = {v: k for k, v in LANGUAGE_CODES.items()}

# MQVersion.Version.V4_9_4.ordinal(): from this version on, name servers answer routes in standard JSON.
CLIENT_VERSION = 401

# Larger than any sane answer (a pull answer is capped by the broker at a few MiB): a longer length
# prefix means the stream is out of step, not that a huge frame is coming.
MAX_FRAME_BYTES = 64 * 1024 * 1024

_opaques = itertools.count(1)


def next_opaque() -> int:
    return next(_opaques) & 0x7FFFFFFF


@dataclass
class RemotingCommand:
    code: int
    ext_fields: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    opaque: int = 0
    flag: int = 0
    remark: str | None = None
    language: str = LANGUAGE
    version: int = CLIENT_VERSION
    serialize_type: int = SERIALIZE_JSON
    #: On an answer: the code of the request it answers (set by the connection), for error messages.
    request_code: int | None = field(default=None, compare=False, repr=False)

    @classmethod
    def request(cls, code: int, fields: dict[str, object] | None = None, body: bytes = b"") -> "RemotingCommand":
        """A request with a fresh opaque. Field values are stringified the way Java's headers are
        (booleans as ``true``/``false``); None values are left out."""
        ext = {k: _ext_value(v) for k, v in (fields or {}).items() if v is not None}
        return cls(code=int(code), ext_fields=ext, body=bytes(body), opaque=next_opaque())

    @property
    def is_response(self) -> bool:
        return bool(self.flag & FLAG_RESPONSE)

    def encode(self) -> bytes:
        """The whole frame, length prefix included."""
        if self.serialize_type == SERIALIZE_ROCKETMQ:
            header = encode_binary_header(self)
        else:
            header = encode_json_header(self)
        if len(header) > 0xFFFFFF:
            raise ProtocolError(f"header too long: {len(header)} bytes")
        total = 4 + len(header) + len(self.body)
        return b"".join((struct.pack(">iI", total, (self.serialize_type << 24) | len(header)),
                         header, self.body))


def _ext_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def encode_json_header(cmd: RemotingCommand) -> bytes:
    header: dict[str, object] = {"code": cmd.code, "language": cmd.language, "version": cmd.version,
                                 "opaque": cmd.opaque, "flag": cmd.flag, "extFields": cmd.ext_fields}
    if cmd.remark is not None:
        header["remark"] = cmd.remark
    return json.dumps(header, separators=(",", ":")).encode("utf-8")


def encode_binary_header(cmd: RemotingCommand) -> bytes:
    """RocketMQSerializable.rocketMQProtocolEncode."""
    remark = (cmd.remark or "").encode("utf-8")
    ext = b"".join(
        struct.pack(">H", len(k)) + k + struct.pack(">i", len(v)) + v
        for k, v in ((k.encode("utf-8"), v.encode("utf-8")) for k, v in cmd.ext_fields.items()))
    return b"".join((
        struct.pack(">hbhii", cmd.code, LANGUAGE_CODES.get(cmd.language, LANGUAGE_CODES["OTHER"]),
                    cmd.version, cmd.opaque, cmd.flag),
        struct.pack(">i", len(remark)), remark,
        struct.pack(">i", len(ext)), ext))


def decode_frame(frame: bytes | bytearray | memoryview) -> RemotingCommand:
    """Decode one frame without its 4-byte total-length prefix."""
    frame = memoryview(frame)
    if len(frame) < 4:
        raise ProtocolError(f"frame too short: {len(frame)} bytes")
    (raw,) = struct.unpack_from(">I", frame, 0)
    serialize_type, header_len = raw >> 24, raw & 0xFFFFFF
    if 4 + header_len > len(frame):
        raise ProtocolError(f"header length {header_len} exceeds frame length {len(frame)}")
    header = bytes(frame[4:4 + header_len])
    body = bytes(frame[4 + header_len:])
    if serialize_type == SERIALIZE_JSON:
        cmd = decode_json_header(header)
    elif serialize_type == SERIALIZE_ROCKETMQ:
        cmd = decode_binary_header(header)
    else:
        raise ProtocolError(f"unknown serialize type {serialize_type}")
    cmd.body = body
    return cmd


def decode_json_header(header: bytes) -> RemotingCommand:
    try:
        data = json.loads(header.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise ProtocolError(f"undecodable JSON header: {e}") from e
    if not isinstance(data, dict) or "code" not in data:
        raise ProtocolError(f"JSON header without a code: {header[:200]!r}")
    ext = data.get("extFields") or {}
    return RemotingCommand(
        code=int(data["code"]), ext_fields={str(k): str(v) for k, v in ext.items() if v is not None},
        opaque=int(data.get("opaque", 0)), flag=int(data.get("flag", 0)), remark=data.get("remark"),
        language=str(data.get("language", "JAVA")), version=int(data.get("version", 0)),
        serialize_type=SERIALIZE_JSON)


def decode_binary_header(header: bytes) -> RemotingCommand:
    """RocketMQSerializable.rocketMQProtocolDecode."""
    try:
        code, language, version, opaque, flag = struct.unpack_from(">hbhii", header, 0)
        pos = 13
        (remark_len,) = struct.unpack_from(">i", header, pos)
        pos += 4
        if pos + max(remark_len, 0) > len(header):
            raise ProtocolError(f"binary header: remark length {remark_len} exceeds the header")
        remark = header[pos:pos + remark_len].decode("utf-8") if remark_len > 0 else None
        pos += max(remark_len, 0)
        (ext_len,) = struct.unpack_from(">i", header, pos)
        pos += 4
        ext_end = pos + max(ext_len, 0)
        if ext_end > len(header):
            raise ProtocolError(f"binary header: extFields length {ext_len} exceeds the header")
        ext: dict[str, str] = {}
        while pos < ext_end:
            (klen,) = struct.unpack_from(">H", header, pos)
            key = header[pos + 2:pos + 2 + klen].decode("utf-8")
            pos += 2 + klen
            (vlen,) = struct.unpack_from(">i", header, pos)
            ext[key] = header[pos + 4:pos + 4 + vlen].decode("utf-8")
            pos += 4 + vlen
    except (struct.error, UnicodeDecodeError) as e:
        raise ProtocolError(f"undecodable binary header: {e}") from e
    return RemotingCommand(code=code, ext_fields=ext, opaque=opaque, flag=flag, remark=remark,
                           language=LANGUAGE_NAMES.get(language, "OTHER"), version=version,
                           serialize_type=SERIALIZE_ROCKETMQ)
