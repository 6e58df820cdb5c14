"""The policy: may this identity do this? Pure decisions, called at the edge of every API (GraphQL, REST)."""

from __future__ import annotations

from t3000gql.auth.roles import Identity, Role
from t3000gql.errors import Forbidden


def allows(identity: Identity | None, role: Role) -> bool:
    return identity is not None and identity.role >= role


def require(identity: Identity | None, role: Role, *, what: str = "this") -> Identity:
    """The identity when its role is `role` or above; else Forbidden, saying which role `what` needs."""
    if identity is None:
        raise Forbidden(f"{what} needs the {role.label} role, and the request has no identity")
    if identity.role < role:
        raise Forbidden(f"{what} needs the {role.label} role; {identity.describe()} may not")
    return identity
