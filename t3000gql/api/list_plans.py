"""Plans for completing lists of objects in one loop instead of field by field.

graphql-core completes every field of every object on its own: a `Path`, a resolve info, strawberry's resolver
wrapper, `complete_value`'s type dispatch and a leaf coercion per field. For 1,000 samples of two fields that is
~2,000 such walks (13-18 ms of a 15 ms request). Most list items we answer (history samples, points, current
values) are plain objects whose selected fields are attributes: what each of them does is `getattr` and the
scalar's serializer. A `FieldAccess` says so for one field of one type, once for the schema's life; a `ListPlan`
lines them up for one selection (one list field of one document, as graphql-core collected it for the request),
and `complete_item` completes one item with it.

A field is fast when strawberry answers it from an attribute with nothing around it (`StrawberryField.
is_basic_field`: no resolver, no permission classes, no field extensions), it takes no arguments, its type is a
scalar or enum (or non-null of one), and no schema extension wraps resolvers (middleware); `__typename` is fast
too. Everything else in the same selection (a resolver, a nested object) still runs through graphql-core's
`execute_fields`, per item. Whenever a fast field cannot be completed plainly (an attribute that raises, a null in
a non-null field, a serializer that refuses the value), the item is handed whole to graphql-core's own path,
which then reports the error exactly as it would have: a fast field has no side effects, so trying it twice
changes nothing.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from graphql import (
    GraphQLEnumType,
    GraphQLField,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLSchema,
    Undefined,
)
from strawberry.schema.schema_converter import GraphQLCoreConverter
from strawberry.types.field import StrawberryField

TYPENAME = "__typename"
DEFINITION = GraphQLCoreConverter.DEFINITION_BACKREF


class NotPlain(Exception):
    """This item cannot be completed by the plan: graphql-core's own path completes it (and reports why)."""


@dataclass(frozen=True, slots=True)
class FieldAccess:
    """How to complete one fast field: read it (`read(item)`), then coerce it with the scalar's serializer.
    `constant` is set instead for `__typename`."""

    read: Callable[[Any], Any] | None
    coerce: Callable[[Any], Any] | None
    non_null: bool
    constant: str | None = None


_ACCESS: dict[tuple[int, str], FieldAccess | None] = {}
"""(id of the schema's object type, field name) -> its access, or None for a field that is not fast. Types live
as long as the schema (the module-level one: for the process), so their ids are stable keys."""


def field_access(schema: GraphQLSchema, parent: GraphQLObjectType, name: str) -> FieldAccess | None:
    """The fast access of `parent.name`, or None when the field needs graphql-core's own completion."""
    key = (id(parent), name)
    try:
        return _ACCESS[key]
    except KeyError:
        pass
    access = _build_access(schema, parent, name)
    if schema.get_type(parent.name) is parent:  # only types of a live schema are remembered
        _ACCESS[key] = access
    return access


def _build_access(schema: GraphQLSchema, parent: GraphQLObjectType, name: str) -> FieldAccess | None:
    if name == TYPENAME:
        return FieldAccess(None, None, True, constant=parent.name)
    field_def: GraphQLField | None = schema.get_field(parent, name)
    if field_def is None or field_def.args:
        return None
    resolve = field_def.resolve
    definition = (field_def.extensions or {}).get(DEFINITION)
    if (
        resolve is None
        or not getattr(resolve, "_is_default", False)
        or not isinstance(definition, StrawberryField)
        or not definition.is_basic_field
    ):
        return None
    output: Any = field_def.type
    non_null = isinstance(output, GraphQLNonNull)
    leaf = output.of_type if non_null else output
    if not isinstance(leaf, GraphQLScalarType | GraphQLEnumType):
        return None
    default_resolver = definition.default_resolver
    python_name = definition.python_name
    if default_resolver is getattr:
        read: Callable[[Any], Any] = operator.attrgetter(python_name)
    else:

        def read(item: Any) -> Any:
            return default_resolver(item, python_name)

    return FieldAccess(read, leaf.coerce_output_value, non_null)


@dataclass(frozen=True, slots=True)
class ListPlan:
    """One selection on the items of one list: its fast fields in response order, the rest (`slow`, a grouped
    field set as graphql-core collected it) left to `execute_fields`. `order` is every response name in the
    order graphql-core would answer them."""

    item_type: GraphQLObjectType
    fast: tuple[tuple[str, FieldAccess], ...]
    slow: dict[str, Any]
    order: tuple[str, ...]

    @property
    def all_fast(self) -> bool:
        return not self.slow


def build_plan(
    schema: GraphQLSchema, item_type: GraphQLObjectType, grouped_field_set: Any, *, for_list: bool = False
) -> ListPlan | None:
    """The plan for a collected selection, or None when not one field of it is fast: nothing to gain for one
    object; list items still skip graphql-core's per-item dispatch to `execute_fields` (`for_list`)."""
    fast: list[tuple[str, FieldAccess]] = []
    slow: dict[str, Any] = {}
    order: list[str] = []
    for response_name, field_details_list in grouped_field_set.items():
        node = field_details_list[0].node
        field_name = node.name.value
        if schema.get_field(item_type, field_name) is None:
            return None  # graphql-core leaves such a field out; keep its own path for it
        access = None if node.arguments else field_access(schema, item_type, field_name)
        order.append(response_name)
        if access is None:
            slow[response_name] = field_details_list
        else:
            fast.append((response_name, access))
    if not fast and not for_list:
        return None
    return ListPlan(item_type, tuple(fast), slow, tuple(order))


def complete_fast_fields(plan: ListPlan, item: Any) -> dict[str, Any]:
    """The fast fields of one item, in response order; raises NotPlain when one cannot be completed plainly."""
    data: dict[str, Any] = {}
    try:
        for response_name, access in plan.fast:
            if access.read is None:
                data[response_name] = access.constant
                continue
            value = access.read(item)
            if value is None or value is Undefined:
                if access.non_null:
                    raise NotPlain
                data[response_name] = None
                continue
            coerced = access.coerce(value)  # type: ignore[misc]
            if coerced is None or coerced is Undefined:
                raise NotPlain
            data[response_name] = coerced
    except NotPlain:
        raise
    except Exception as exc:
        raise NotPlain from exc
    return data


def merged(plan: ListPlan, fast: dict[str, Any], slow: dict[str, Any]) -> dict[str, Any]:
    """One item's answer with its fields in the order graphql-core gives them."""
    return {name: fast[name] if name in fast else slow[name] for name in plan.order}
