"""Every transform and predicate by its ``type`` name, and the config unions that pick among them."""

from __future__ import annotations

from typing import Annotated, Union

from pydantic import Field

from .base import Predicate, PredicateConfigBase, TransformConfigBase, Transformation
from .fields import (
    ExtractField,
    ExtractFieldConfig,
    InsertField,
    InsertFieldConfig,
    MaskField,
    MaskFieldConfig,
    ReplaceField,
    ReplaceFieldConfig,
    ValueToKey,
    ValueToKeyConfig,
)
from .predicates import (
    HasHeaderKey,
    HasHeaderKeyConfig,
    RecordIsTombstone,
    RecordIsTombstoneConfig,
    TopicNameMatches,
    TopicNameMatchesConfig,
)
from .rocketmq import (
    ChangeCase,
    ChangeCaseConfig,
    PatternFilter,
    PatternFilterConfig,
    PatternRename,
    PatternRenameConfig,
)
from .routing import Filter, FilterConfig, RegexRouter, RegexRouterConfig

#: ``type`` -> (config model, implementation).
TRANSFORMS: dict[str, tuple[type[TransformConfigBase], type[Transformation]]] = {
    "InsertField": (InsertFieldConfig, InsertField),
    "ReplaceField": (ReplaceFieldConfig, ReplaceField),
    "MaskField": (MaskFieldConfig, MaskField),
    "ValueToKey": (ValueToKeyConfig, ValueToKey),
    "ExtractField": (ExtractFieldConfig, ExtractField),
    "RegexRouter": (RegexRouterConfig, RegexRouter),
    "Filter": (FilterConfig, Filter),
    "ChangeCase": (ChangeCaseConfig, ChangeCase),
    "PatternFilter": (PatternFilterConfig, PatternFilter),
    "PatternRename": (PatternRenameConfig, PatternRename),
}

PREDICATES: dict[str, tuple[type[PredicateConfigBase], type[Predicate]]] = {
    "TopicNameMatches": (TopicNameMatchesConfig, TopicNameMatches),
    "HasHeaderKey": (HasHeaderKeyConfig, HasHeaderKey),
    "RecordIsTombstone": (RecordIsTombstoneConfig, RecordIsTombstone),
}

TransformConfig = Annotated[
    Union[
        InsertFieldConfig,
        ReplaceFieldConfig,
        MaskFieldConfig,
        ValueToKeyConfig,
        ExtractFieldConfig,
        RegexRouterConfig,
        FilterConfig,
        ChangeCaseConfig,
        PatternFilterConfig,
        PatternRenameConfig,
    ],
    Field(discriminator="type"),
]

PredicateConfig = Annotated[
    Union[TopicNameMatchesConfig, HasHeaderKeyConfig, RecordIsTombstoneConfig],
    Field(discriminator="type"),
]
