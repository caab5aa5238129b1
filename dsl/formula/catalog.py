"""What a formula can see: entities and their fields, with types.

The app model builds a Catalog from the checked definition (dsl.model); tests and plugins can build one by
hand. The formula checker needs nothing else from the model.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from dsl.formula.types import Kind, Type


@dataclass(frozen=True, slots=True)
class FieldInfo:
    name: str
    type: Type  # RECORD(entity) for a link, ROWS(child entity) for a table, LIST(...) for a many-link
    labels: tuple[str, ...] = ()  # every label it may be called by in braces ({数量}, {Qty})
    scale: int | None = None  # digits after the point for stored decimals (storage of SQLite needs it)
    storage: str | None = None  # how the engine stores it when not obvious from the type ("scaled")


@dataclass(frozen=True, slots=True)
class EntityInfo:
    name: str
    fields: Mapping[str, FieldInfo]
    parent: str | None = None  # child-table entities: the entity whose rows they are (`parent.x`)
    _by_label: Mapping[str, tuple[FieldInfo, ...]] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def build(cls, name: str, fields: list[FieldInfo], parent: str | None = None) -> EntityInfo:
        by_label: dict[str, list[FieldInfo]] = {}
        for info in fields:
            for label in info.labels:
                by_label.setdefault(label.strip().casefold(), []).append(info)
        return cls(
            name=name,
            fields=MappingProxyType({f.name: f for f in fields}),
            parent=parent,
            _by_label=MappingProxyType({k: tuple(v) for k, v in by_label.items()}),
        )

    def by_label(self, label: str) -> tuple[FieldInfo, ...]:
        return self._by_label.get(label.strip().casefold(), ())

    def all_labels(self) -> list[str]:
        return sorted({label for info in self.fields.values() for label in info.labels})


@dataclass(frozen=True, slots=True)
class Catalog:
    entities: Mapping[str, EntityInfo]

    @classmethod
    def build(cls, entities: list[EntityInfo]) -> Catalog:
        return cls(MappingProxyType({e.name: e for e in entities}))

    def entity(self, name: str) -> EntityInfo | None:
        return self.entities.get(name)

    def child_entity(self, info: FieldInfo) -> EntityInfo | None:
        if info.type.kind is Kind.ROWS and info.type.entity:
            return self.entities.get(info.type.entity)
        return None
