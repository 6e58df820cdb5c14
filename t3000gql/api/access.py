"""Roles at the GraphQL edge: which role each field needs, checked before its resolver runs.

Every mutation declares the role it needs with `extensions=needs(Role.X)`; `build_schema` refuses a Mutation
field without one, so a new mutation cannot be open by accident. Queries and subscriptions need no more than
viewer (every identity is one) unless they say so (`auditLog`, `apiTokens`: admin). A field the caller's role
may not run is null with a FORBIDDEN error, and its resolver never runs: nothing is written or sent.
"""

from __future__ import annotations

from collections.abc import Awaitable, Iterable
from typing import Any

from strawberry.extensions import FieldExtension
from strawberry.permission import BasePermission, PermissionExtension
from strawberry.types.base import StrawberryObjectDefinition
from strawberry.types.field import StrawberryField
from strawberry.utils.str_converters import to_camel_case

from t3000gql.api.context import Context
from t3000gql.auth import Role, allows, require


class Needs(BasePermission):
    """The caller's role must be `role` or above (a FORBIDDEN error naming the field and the role if not)."""

    def __init__(self, role: Role) -> None:
        self.role = role

    def has_permission(self, source: Any, info: Any, **kwargs: Any) -> bool | Awaitable[bool]:
        context: Context = info.context
        require(context.identity, self.role, what=info.field_name)
        return True


def needs(role: Role) -> list[FieldExtension]:
    """The field extensions that make a field need `role` (pass as `extensions=` of a field)."""
    return [PermissionExtension(permissions=[Needs(role)], use_directives=False)]


def role_of(field: StrawberryField) -> Role | None:
    """The role a field was declared to need, if any."""
    for extension in field.extensions:
        if isinstance(extension, PermissionExtension):
            for permission in extension.permissions:
                if isinstance(permission, Needs):
                    return permission.role
    return None


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
