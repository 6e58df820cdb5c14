"""Who may call a route: each route names the role it needs in its signature (`services: Viewer`), and that one
dependency is the route's only door to the services. Roles are t3000gql.auth's, each including the ones before it:
viewer (reads), ingest (pushing data), operator (commanding hardware), admin (changing the registry).

`Access.__call__` is the access policy's one call per request (t3000gql/auth, docs/security.md): the bearer
token is checked (401 UNAUTHENTICATED), counted against API_RATE_LIMIT_PER_MINUTE (429 RATE_LIMITED), and its
role compared with the route's (403 FORBIDDEN), all before the route runs. The identity stays in the scope for
the audit trail (`actor_of`).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends
from starlette.requests import Request

from t3000gql.auth import Role as AuthRole
from t3000gql.auth import require
from t3000gql.domain.audit import Actor
from t3000gql.services import Services

IDENTITY = "t3000gql.rest.identity"
"""The scope key of the caller's identity, once `Access` admitted it."""
EDGE = "t3000gql.rest.edge"
"""The scope key under which the mounted REST app finds what the server runs (see `t3000gql.rest.app`)."""


class Role(enum.Enum):
    VIEWER = "viewer"
    INGEST = "ingest"
    OPERATOR = "operator"
    ADMIN = "admin"


@dataclass(frozen=True)
class Access:
    """The dependency a route declares: admits the caller for `role` and hands over the services."""

    role: Role

    async def __call__(self, request: Request) -> Services:
        services: Services = request.scope[EDGE].services
        identity = services.auth.authenticate(request.headers.get("authorization"))
        services.auth.admit(identity)
        require(identity, AuthRole[self.role.name], what=f"{request.method} {request.url.path}")
        request.scope[IDENTITY] = identity
        return services


def actor_of(request: Request) -> Actor:
    """Who called, for the audit trail: the token's name (or `anonymous`) and the client's address."""
    identity = request.scope.get(IDENTITY)
    return Actor(
        identity.name if identity is not None else "unknown", request.client.host if request.client else None
    )


Viewer = Annotated[Services, Depends(Access(Role.VIEWER))]
Ingest = Annotated[Services, Depends(Access(Role.INGEST))]
Admin = Annotated[Services, Depends(Access(Role.ADMIN))]
