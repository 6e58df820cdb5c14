"""The audit trail through GraphQL, for admins: who changed what, when, from where, and how it ended."""

from __future__ import annotations

import enum
from datetime import datetime

import strawberry
from strawberry.scalars import JSON

from t3000gql.api.access import needs
from t3000gql.api.context import Info
from t3000gql.api.enums import PointType
from t3000gql.auth import Role
from t3000gql.domain.timeutil import to_datetime
from t3000gql.errors import ValidationError
from t3000gql.storage.audit import AuditEntry as AuditRecord
from t3000gql.storage.audit import AuditQuery, cursor_of, id_of_cursor

MAX_AUDIT_PAGE = 1000


@strawberry.enum(description="How an audited change ended.")
class AuditOutcome(enum.Enum):
    DONE = strawberry.enum_value("done", description="It happened.")
    PENDING = strawberry.enum_value(
        "pending",
        description="A command sent to a device whose outcome is not known: the server stopped before it heard.",
    )
    FAILED = strawberry.enum_value("failed", description="It did not happen; `detail.error` says why.")


@strawberry.type(description="One entry of the audit trail.")
class AuditEntry:
    id: str = strawberry.field(description="A cursor: `after` takes it to continue below this entry.")
    at: datetime
    user: str | None = strawberry.field(description="The token's name, `anonymous`, `system` or `cli`.")
    client: str | None = strawberry.field(description="The client's address (behind a proxy: X-Forwarded-For).")
    operation: str = strawberry.field(description="What was done, e.g. write_point_value, delete_device.")
    outcome: AuditOutcome
    device_id: int | None
    point_type: PointType | None
    point_number: int | None
    old_value: float | None
    new_value: float | None
    source: str
    detail: JSON = strawberry.field(
        description="What else: fields changed ([old, new]), samples deleted, the BACnet priority, the error."
    )

    @classmethod
    def of(cls, record: AuditRecord) -> AuditEntry:
        return cls(
            id=cursor_of(record.id),
            at=to_datetime(record.ts_ms),
            user=record.user_id,
            client=record.client,
            operation=record.operation,
            outcome=AuditOutcome(record.outcome),
            device_id=record.device_id,
            point_type=record.point_type,
            point_number=record.point_number,
            old_value=record.old_value,
            new_value=record.new_value,
            source=record.source,
            detail=JSON(record.detail),
        )


@strawberry.type(description="A page of the audit trail, newest first.")
class AuditLogPage:
    entries: list[AuditEntry]
    has_more: bool
    next_cursor: str | None = strawberry.field(description="Give it as `after` for the next (older) page.")


@strawberry.type
class AuditQueries:
    @strawberry.field(
        description="The audit trail, newest first, filtered by time [since, until), user, device and operation; "
        "`limit` entries a page (1..1000), continued with `after`. Needs the admin role.",
        extensions=needs(Role.ADMIN),
    )
    async def audit_log(
        self,
        info: Info,
        since: datetime | None = None,
        until: datetime | None = None,
        user: str | None = None,
        device_id: int | None = None,
        operation: str | None = None,
        limit: int = 100,
        after: str | None = None,
    ) -> AuditLogPage | None:
        if not 1 <= limit <= MAX_AUDIT_PAGE:
            raise ValidationError(f"must be from 1 to {MAX_AUDIT_PAGE}", field="limit", value=limit)
        context = info.context
        query = AuditQuery(
            since_ms=None if since is None else context.epoch_ms(since),
            until_ms=None if until is None else context.epoch_ms(until),
            user=user,
            device_id=device_id,
            operation=operation,
            limit=limit + 1,
            before_id=None if after is None else id_of_cursor(after),
        )
        found = await context.store.audit.query(query)
        page = [AuditEntry.of(record) for record in found[:limit]]
        more = len(found) > limit
        return AuditLogPage(entries=page, has_more=more, next_cursor=page[-1].id if more else None)
