"""API tokens and the caller's own identity through GraphQL: `me` for everyone; listing, creating and revoking
tokens for admins (as `t3000gql token` does on the command line). A new token's secret is in the answer once."""

from __future__ import annotations

import enum
from datetime import datetime

import strawberry

from t3000gql.api.access import needs
from t3000gql.api.context import Info
from t3000gql.auth import Role as AuthRole
from t3000gql.domain.timeutil import to_datetime
from t3000gql.storage.tokens import TokenRecord


@strawberry.enum(description="What a token may do; each role includes the ones before it.")
class Role(enum.Enum):
    VIEWER = strawberry.enum_value("viewer", description="Every query and subscription.")
    INGEST = strawberry.enum_value(
        "ingest", description="+ pushing data: storeTimeSeries, updateDeviceData, recordPowerReading(s)."
    )
    OPERATOR = strawberry.enum_value(
        "operator",
        description="+ commanding hardware: writePointValue, releasePointValue, refreshPoint, collectNow.",
    )
    ADMIN = strawberry.enum_value(
        "admin", description="+ everything else: registry changes, deletes, tokens, the audit log."
    )

    @classmethod
    def of(cls, role: AuthRole) -> Role:
        return cls(role.label)

    def to_auth(self) -> AuthRole:
        return AuthRole.parse(str(self.value))


def _when(ts_ms: int | None) -> datetime | None:
    return None if ts_ms is None else to_datetime(ts_ms)


@strawberry.type(description="Who this request acts as.")
class Me:
    name: str = strawberry.field(description="The token's name; `anonymous` without one (AUTH_REQUIRED false).")
    role: Role
    expires_at: datetime | None


@strawberry.type(description="An API token as stored: never its secret.")
class ApiToken:
    name: str
    role: Role
    created_at: datetime
    created_by: str
    last_used_at: datetime | None = strawberry.field(description="Recorded once a minute, not per request.")
    expires_at: datetime | None
    revoked_at: datetime | None

    @classmethod
    def of(cls, record: TokenRecord) -> ApiToken:
        return cls(
            name=record.name,
            role=Role(record.role),
            created_at=to_datetime(record.created_at),
            created_by=record.created_by,
            last_used_at=_when(record.last_used_at),
            expires_at=_when(record.expires_at),
            revoked_at=_when(record.revoked_at),
        )


@strawberry.type(description="A new token: send `Authorization: Bearer <token>`. The secret is shown only here.")
class CreatedApiToken:
    token: str
    api_token: ApiToken


@strawberry.type
class TokenQueries:
    @strawberry.field(description="Who this request acts as, and with which role.")
    def me(self, info: Info) -> Me | None:
        identity = info.context.identity
        if identity is None:
            return None
        return Me(name=identity.name, role=Role.of(identity.role), expires_at=_when(identity.expires_at))

    @strawberry.field(
        description="The API tokens (revoked ones too with includeRevoked), by name. Needs the admin role.",
        extensions=needs(AuthRole.ADMIN),
    )
    async def api_tokens(self, info: Info, include_revoked: bool = False) -> list[ApiToken] | None:
        records = await info.context.store.tokens.list(include_revoked=include_revoked)
        return [ApiToken.of(record) for record in records]


@strawberry.type
class TokenMutations:
    @strawberry.mutation(
        description="Creates a token (a name no token that is not revoked has) with a role, expiring after "
        "expiresInDays if given. Needs the admin role; audited.",
        extensions=needs(AuthRole.ADMIN),
    )
    async def create_api_token(
        self, info: Info, name: str, role: Role, expires_in_days: int | None = None
    ) -> CreatedApiToken | None:
        created = await info.context.services.auth.create(
            name=name, role=role.to_auth(), expires_days=expires_in_days, actor=info.context.actor
        )
        return CreatedApiToken(token=created.secret, api_token=ApiToken.of(created.record))

    @strawberry.mutation(
        description="Revokes the token of that name: its requests are refused from now on and its WebSockets "
        "closed. Needs the admin role; audited.",
        extensions=needs(AuthRole.ADMIN),
    )
    async def revoke_api_token(self, info: Info, name: str) -> ApiToken | None:
        return ApiToken.of(await info.context.services.auth.revoke(name=name, actor=info.context.actor))
