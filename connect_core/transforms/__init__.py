"""PLACEHOLDER, replaced by the transforms implementation."""
from typing import Annotated, Literal, Union
from pydantic import Field
from .base import TransformConfigBase, PredicateConfigBase, Transformation, Predicate, TransformError, KeyOrValueConfig

class FilterConfig(TransformConfigBase):
    type: Literal["Filter"] = "Filter"

class _Other(TransformConfigBase):
    type: Literal["Other"] = "Other"

class RecordIsTombstoneConfig(PredicateConfigBase):
    type: Literal["RecordIsTombstone"] = "RecordIsTombstone"

class _OtherP(PredicateConfigBase):
    type: Literal["OtherP"] = "OtherP"

TransformConfig = Annotated[Union[FilterConfig, _Other], Field(discriminator="type")]
PredicateConfig = Annotated[Union[RecordIsTombstoneConfig, _OtherP], Field(discriminator="type")]
