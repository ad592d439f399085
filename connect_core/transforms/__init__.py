"""Single message transforms (SMTs) and predicates: Kafka Connect's core set and RocketMQ Connect's.

``build_chain(config.transforms, config.predicates).apply(record)`` is the front door.
"""

from .base import (
    KeyOrValueConfig,
    Predicate,
    PredicateConfigBase,
    TransformConfigBase,
    Transformation,
    TransformError,
)
from .chain import TransformChain, build_chain
from .registry import PREDICATES, TRANSFORMS, PredicateConfig, TransformConfig

__all__ = [
    "KeyOrValueConfig",
    "PREDICATES",
    "Predicate",
    "PredicateConfig",
    "PredicateConfigBase",
    "TRANSFORMS",
    "TransformChain",
    "TransformConfig",
    "TransformConfigBase",
    "TransformError",
    "Transformation",
    "build_chain",
]
