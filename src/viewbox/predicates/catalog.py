"""What the predicate language may name: entities, attributes, relationships and their tables.

The default catalog is the schema contract (`viewbox.db.schema`). A different catalog (for
example one with extra attributes) can be passed to the compiler and the evaluator, so neither
hard-codes a table.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from sqlalchemy import Table

from viewbox.db import schema
from viewbox.db.schema import Attribute, Relationship
from viewbox.errors import PredicateError


@dataclass(frozen=True)
class Catalog:
    """Entities (OsiriX names) mapped to tables, attributes, relationships and link tables."""

    tables: Mapping[str, Table]
    attributes: Mapping[str, Mapping[str, Attribute]]
    relationships: Mapping[str, Mapping[str, Relationship]]
    links: Mapping[str, Table] = field(default_factory=dict)

    def entity(self, name: str, pos: int | None = None) -> str:
        """The canonical entity name for `name`, matched case-insensitively."""
        if isinstance(name, str):
            for entity in self.tables:
                if entity.lower() == name.lower():
                    return entity
        known = ", ".join(self.tables)
        raise PredicateError(f"unknown table {name!r} (expected one of {known})", pos)

    def attribute(self, entity: str, key: str) -> Attribute | None:
        return self.attributes.get(entity, {}).get(key)

    def relationship(self, entity: str, key: str) -> Relationship | None:
        return self.relationships.get(entity, {}).get(key)


DEFAULT_CATALOG = Catalog(
    tables=schema.TABLES,
    attributes=schema.ATTRIBUTES,
    relationships=schema.RELATIONSHIPS,
    links={"album_study": schema.album_study},
)
