"""A connector's transforms, built once and applied to each record in order."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Callable

from ..api.record import ConnectRecord
from .base import Predicate, PredicateConfigBase, TransformConfigBase, Transformation, TransformError
from .registry import PREDICATES, TRANSFORMS

_Step = tuple[Callable[[ConnectRecord], "ConnectRecord | None"], "Callable[[ConnectRecord], bool] | None", bool]


class TransformChain:
    """Transforms in order, each applied where its predicate holds (or, negated, where not).

    ``apply`` returns the transformed record, or None once a transform drops it; a failure is a
    :class:`TransformError` naming the transform's place in the config (``transforms[1]``).
    """

    __slots__ = ("transformations", "_steps")

    def __init__(self, steps: Sequence[tuple[Transformation, Predicate | None, bool]] = ()) -> None:
        self.transformations = tuple(t for t, _, _ in steps)
        self._steps: tuple[_Step, ...] = tuple(
            (t.apply, p.test if p is not None else None, negate) for t, p, negate in steps)

    def apply(self, record: ConnectRecord) -> ConnectRecord | None:
        steps = self._steps
        if not steps:
            return record
        index = 0
        try:
            for transform, predicate, negate in steps:
                if predicate is None or (not predicate(record)) is negate:
                    record = transform(record)  # type: ignore[assignment]
                    if record is None:
                        return None
                index += 1
        except TransformError as exc:
            raise TransformError(f"transforms[{index}]: {exc}") from exc
        except Exception as exc:
            name = type(self.transformations[index]).__name__
            raise TransformError(f"transforms[{index}]: {name} failed: {type(exc).__name__}: {exc}") from exc
        return record

    def __len__(self) -> int:
        return len(self._steps)

    def __repr__(self) -> str:
        return f"TransformChain({[type(t).__name__ for t in self.transformations]})"


def build_chain(transforms: Sequence[TransformConfigBase],
                predicates: Mapping[str, PredicateConfigBase] | None = None) -> TransformChain:
    """The chain for a connector's ``transforms`` and the ``predicates`` they name.

    Raises :class:`TransformError` naming the option (``transforms[0].predicate``) when a
    transform refers to a predicate that is not defined.
    """
    predicates = predicates or {}
    built: dict[str, Predicate] = {}
    steps: list[tuple[Transformation, Predicate | None, bool]] = []
    for index, config in enumerate(transforms):
        try:
            transformation_class = TRANSFORMS[config.type][1]
        except KeyError:
            raise TransformError(f"transforms[{index}].type: unknown transform {config.type!r} "
                                 f"(known: {', '.join(sorted(TRANSFORMS))})") from None
        predicate = None
        if config.predicate is not None:
            if config.predicate not in predicates:
                known = ", ".join(sorted(predicates)) or "none defined"
                raise TransformError(f"transforms[{index}].predicate: unknown predicate "
                                     f"{config.predicate!r} (predicates: {known})")
            predicate = built.get(config.predicate)
            if predicate is None:
                predicate = built[config.predicate] = _build_predicate(config.predicate, predicates[config.predicate])
        elif config.negate:
            raise TransformError(f"transforms[{index}].negate: negate needs a predicate")
        steps.append((transformation_class(config), predicate, config.negate))
    return TransformChain(steps)


def _build_predicate(name: str, config: PredicateConfigBase) -> Predicate:
    try:
        return PREDICATES[config.type][1](config)
    except KeyError:
        raise TransformError(f"predicates.{name}.type: unknown predicate type {config.type!r} "
                             f"(known: {', '.join(sorted(PREDICATES))})") from None
