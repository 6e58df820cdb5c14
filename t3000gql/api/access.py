"""Roles at the GraphQL edge: which role each field needs, checked before its resolver runs.

Every mutation declares the role it needs with `extensions=needs(Role.X)`; `build_schema` refuses a Mutation
field without one, so a new mutation cannot be open by accident. Queries and subscriptions need no more than
viewer (every identity is one) unless they say so (`auditLog`, `apiTokens`: admin). A field the caller's role
may not run is null with a FORBIDDEN error, and its resolver never runs: nothing is written or sent.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from strawberry.extensions import FieldExtension
from strawberry.types.base import StrawberryObjectDefinition
from strawberry.types.field import StrawberryField
from strawberry.utils.str_converters import to_camel_case

from t3000gql.api.context import Context, Info
from t3000gql.auth import Role, allows, require


class Needs(FieldExtension):
    """The caller's role must be `role` or above: else a FORBIDDEN error naming the field and the role, and the
    resolver does not run. (A field extension of our own, not strawberry's PermissionExtension, whose
    `resolve_async(next_, source, ...)` clashes with a field argument named `source`.)"""

    def __init__(self, role: Role) -> None:
        self.role = role

    # `root`, not strawberry's `source`: see the class docstring (strawberry calls it positionally).
    def resolve(self, next_: Callable[..., Any], root: Any, info: Info, **kwargs: Any) -> Any:  # type: ignore[override]
        require(info.context.identity, self.role, what=info.field_name)
        return next_(root, info, **kwargs)

    async def resolve_async(  # type: ignore[override]
        self, next_: Callable[..., Awaitable[Any]], root: Any, info: Info, **kwargs: Any
    ) -> Any:
        require(info.context.identity, self.role, what=info.field_name)
        return await next_(root, info, **kwargs)


def needs(role: Role) -> list[FieldExtension]:
    """The field extensions that make a field need `role` (pass as `extensions=` of a field)."""
    return [Needs(role)]


def role_of(field: StrawberryField) -> Role | None:
    """The role a field was declared to need, if any."""
    return next((extension.role for extension in field.extensions if isinstance(extension, Needs)), None)


def check_every_mutation_declares_a_role(mutation_types: Iterable[type]) -> None:
    """Raises naming the mutation fields that declare no role (called when the schema is built)."""
    missing = []
    for cls in mutation_types:
        definition: StrawberryObjectDefinition = cls.__strawberry_definition__  # type: ignore[attr-defined]
        missing += [to_camel_case(field.python_name) for field in definition.fields if role_of(field) is None]
    if missing:
        raise TypeError(f"mutations without a role (add extensions=needs(Role.…)): {', '.join(missing)}")


def is_admin(context: Context) -> bool:
    return allows(context.identity, Role.ADMIN)
