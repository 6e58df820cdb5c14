"""Who may call a route: each route names the role it needs in its signature (`services: Viewer`), and that one
dependency is the route's only door to the services. Roles are issue 9's, each including the ones before it:
viewer (reads), ingest (pushing data), operator (commanding hardware), admin (changing the registry).

Today the server has no identities (as for GraphQL), so every caller is let through; the role is still declared
on every route, shown in the OpenAPI document (`x-required-role`), and checked by a test, so that the access
policy of `t3000gql/auth/` has exactly one call to make per request when it lands: in `Access.__call__`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends
from starlette.requests import Request

from t3000gql.services import Services

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
        return services


Viewer = Annotated[Services, Depends(Access(Role.VIEWER))]
Ingest = Annotated[Services, Depends(Access(Role.INGEST))]
Admin = Annotated[Services, Depends(Access(Role.ADMIN))]
