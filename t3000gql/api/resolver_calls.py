"""Resolvers called without strawberry's per-call wrapper, their arguments converted once per request.

For each field with a resolver, strawberry wraps the resolver in a function that, on every call, builds an
`Info`, converts the field's arguments (graphql-core's coerced dict, then strawberry's `convert_arguments`:
names, enums, scalars) and threads them through its field-extension chain. Under a list of 12,800 points that is
12,800 conversions of the same `history(start: ..., end: ...)` arguments (~25% of the nested query) and a
wrapper around every `current` (~37% of 100,000 current values).

A `ResolverCall`, decided once per field for the schema's life, says how strawberry would call the resolver when
nothing stands around it: the field has a resolver and no field extensions (permission classes are extensions),
the schema has no exception handlers (they may turn errors into results) and no middleware (checked by the
caller), and it is not a subscription field. Then the call is the resolver itself with `self`/`root`/`info`
filled in as strawberry fills them; its arguments are converted by strawberry's own `convert_arguments`, once per
(field, field node, variables) in a request when every converted value is immutable (scalars, enums, dates:
shared between calls safely), else per call. Whatever cannot be converted goes to strawberry's own wrapper,
which then reports the error exactly as before.
"""

from __future__ import annotations

import datetime
import decimal
import enum
import uuid
from dataclasses import dataclass
from typing import Any

from graphql import GraphQLField, GraphQLResolveInfo, GraphQLSchema
from strawberry.schema.schema_converter import GraphQLCoreConverter
from strawberry.types.arguments import convert_arguments
from strawberry.types.field import StrawberryField

DEFINITION = GraphQLCoreConverter.DEFINITION_BACKREF
IMMUTABLE = (
    str,
    int,
    float,
    bool,
    bytes,
    datetime.date,
    datetime.time,
    datetime.timedelta,
    decimal.Decimal,
    uuid.UUID,
    enum.Enum,
    type(None),
)


@dataclass(frozen=True, slots=True)
class ResolverCall:
    """How strawberry calls one field's resolver, without its wrapper."""

    definition: StrawberryField
    function: Any
    self_source: bool
    source_names: tuple[str, ...]
    info_name: str | None
    info_class: Any
    scalar_registry: Any
    config: Any

    def info(self, raw: GraphQLResolveInfo) -> Any:
        return self.info_class(_raw_info=raw, _field=self.definition)

    def convert(self, raw_arguments: dict[str, Any], info: Any) -> dict[str, Any]:
        """strawberry's conversion of graphql-core's argument values (Python names, enums, input types)."""
        return convert_arguments(
            raw_arguments,
            self.definition.arguments,
            scalar_registry=self.scalar_registry,
            config=self.config,
            info=info,
        )

    def call(self, source: Any, raw: GraphQLResolveInfo, arguments: dict[str, Any]) -> Any:
        kwargs = dict(arguments)
        for name in self.source_names:
            kwargs[name] = source
        if self.info_name is not None:
            kwargs[self.info_name] = self.info(raw)
        if self.self_source:
            return self.function(source, **kwargs)
        return self.function(**kwargs)


def shareable(arguments: dict[str, Any]) -> bool:
    """True when every converted argument is immutable: one conversion may serve every call of a request."""
    return all(isinstance(value, IMMUTABLE) for value in arguments.values())


_CALLS: dict[int, tuple[GraphQLField, ResolverCall | None]] = {}
"""id(field_def) -> (the field kept alive, its call or None)."""


def resolver_call(schema: GraphQLSchema, field_def: GraphQLField) -> ResolverCall | None:
    """The wrapper-free call of `field_def`'s resolver, or None where strawberry's wrapper must run."""
    known = _CALLS.get(id(field_def))
    if known is not None and known[0] is field_def:
        return known[1]
    call = _build(schema, field_def)
    _CALLS[id(field_def)] = (field_def, call)
    return call


def _build(schema: GraphQLSchema, field_def: GraphQLField) -> ResolverCall | None:
    definition = (field_def.extensions or {}).get(DEFINITION)
    strawberry_schema = getattr(schema, "_strawberry_schema", None)
    if not isinstance(definition, StrawberryField) or strawberry_schema is None:
        return None
    resolver = definition.base_resolver
    if resolver is None or definition.extensions or definition.is_subscription:
        return None
    if getattr(strawberry_schema, "exception_handlers", ()):
        return None
    function = resolver.wrapped_func
    if not callable(function):
        return None
    source_names = tuple(
        parameter.name
        for parameter in (resolver.parent_parameter, resolver.root_parameter)
        if parameter is not None
    )
    info_parameter = resolver.info_parameter
    converter = strawberry_schema.schema_converter
    return ResolverCall(
        definition=definition,
        function=function,
        self_source=resolver.self_parameter is not None,
        source_names=source_names,
        info_name=info_parameter.name if info_parameter is not None else None,
        info_class=strawberry_schema.config.info_class,
        scalar_registry=converter.scalar_registry,
        config=strawberry_schema.config,
    )
