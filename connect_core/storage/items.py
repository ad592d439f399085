"""How store values become stored items: key names, JSON text and order keys.

Both implementations use these, so an in-memory test and a DynamoDB run agree byte for byte.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Sequence

from ..api.record import Offset, OffsetMap, partition_key
from ..errors import OffsetRegressionError
from .base import OffsetPairs

CONFIG_SK = "config"
STATUS_SK = "status"
TASK_PREFIX = "task#"
TASK_STATUS_PREFIX = "status#task#"
LEASE_PREFIX = "lease#task#"

MAX_ATOMIC_COMMIT = 99
"""Partitions per offsets transaction: DynamoDB allows 100 items and one is the epoch check."""


STAGE_PREFIX = "stage#"
QUEUE_SK = "binding"


def stage_prefix(generation: int) -> str:
    return f"{STAGE_PREFIX}{generation}#task#"  # the state machine writes these with States.Format


def stage_sk(generation: int, task: int) -> str:
    return f"{stage_prefix(generation)}{task}"


def queue_pk(queue_arn: str) -> str:
    return f"queue#{queue_arn}"


def connector_pk(name: str) -> str:
    return f"connector#{name}"


def task_sk(task: int) -> str:
    return f"{TASK_PREFIX}{task}"


def task_status_sk(task: int) -> str:
    return f"{TASK_STATUS_PREFIX}{task}"


def lease_sk(task: int) -> str:
    return f"{LEASE_PREFIX}{task}"


def task_of(sk: str, prefix: str) -> int:
    return int(sk[len(prefix):])


def to_json(value: Any) -> str:
    """Stored as text, not as a DynamoDB map, so floats and nesting round-trip exactly."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def from_json(text: str) -> Any:
    return json.loads(text)


@dataclass(frozen=True)
class OffsetWrite:
    """One partition's offset as a commit writes it."""

    key: str
    partition: dict[str, Any]
    offset: dict[str, Any] | None
    ord: str | None


def offset_writes(offsets: OffsetPairs, order: Sequence[str] = (), *,
                  allow_none: bool = False) -> list[OffsetWrite]:
    """One write per partition, the last one winning.

    With ``order``, a partition listed twice must not go backwards within the call either.
    ``allow_none`` lets an offset of None stand for "remove" (alter only).
    """
    pairs = offsets.pairs() if isinstance(offsets, OffsetMap) else offsets
    writes: dict[str, OffsetWrite] = {}
    for partition, offset in pairs:
        if offset is None and not allow_none:
            raise ValueError(f"partition {dict(partition)!r}: an offset to commit cannot be None")
        key = partition_key(partition)
        ord_ = order_key(offset, order) if order and offset is not None else None
        earlier = writes.get(key)
        if earlier is not None and ord_ is not None and earlier.ord is not None and ord_ < earlier.ord:
            raise OffsetRegressionError(
                f"partition {key}: offset {dict(offset)!r} is listed after the higher "
                f"{earlier.offset!r} in the same commit")
        writes[key] = OffsetWrite(key, dict(partition), None if offset is None else dict(offset), ord_)
    return list(writes.values())


def regression_message(connector: str, write: OffsetWrite, committed: Offset | None) -> str:
    was = f" from {dict(committed)!r}" if committed is not None else ""
    return (f"connector {connector!r}, partition {write.key}: commit would move the offset "
            f"backwards{was} to {write.offset!r}; nothing was written")


def order_key(offset: Offset, order: Sequence[str]) -> str:
    """A string whose plain order (code points, equally UTF-8 bytes) is the tuple order of
    ``order``'s fields in ``offset``.

    Each field encodes self-delimiting, so concatenated fields keep tuple order: null sorts first,
    then numbers (ints and floats by value), then strings. Other types raise ValueError.
    """
    parts = []
    for name in order:
        if name not in offset:
            raise ValueError(f"offset {dict(offset)!r} lacks the order field {name!r}")
        parts.append(_encode(name, offset[name]))
    return "".join(parts)


_EXP_BIAS = 5000  # decimal exponents in (-5000, 5000) encode as 4 digits


def _encode(name: str, value: Any) -> str:
    if value is None:
        return "0"
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"order field {name!r} must be a number, a string or null, "
                         f"not {type(value).__name__}")
    if isinstance(value, str):
        # Hex of the UTF-8 bytes keeps byte order; "." sorts below every hex digit, so a string
        # sorts before the longer strings it is a prefix of.
        return "5" + value.encode("utf-8").hex() + "."
    number = Decimal(value) if isinstance(value, int) else Decimal(repr(value))
    if not number.is_finite():
        raise ValueError(f"order field {name!r} must be finite, not {value!r}")
    if number == 0:
        return "2"
    sign, digits, exponent = number.normalize().as_tuple()
    magnitude = exponent + len(digits)  # value = 0.d1d2... x 10**magnitude
    if not -_EXP_BIAS < magnitude < _EXP_BIAS:
        raise ValueError(f"order field {name!r} is out of range: {value!r}")
    if not sign:
        return "3" + f"{magnitude + _EXP_BIAS:04d}" + "".join(map(str, digits)) + "."
    # Negative: complement exponent and digits so larger magnitudes sort first; "~" sorts above
    # every digit, so -0.12 (fewer digits) sorts after -0.123.
    flipped = "".join(str(9 - d) for d in digits)
    return "1" + f"{9999 - (magnitude + _EXP_BIAS):04d}" + flipped + "~"
