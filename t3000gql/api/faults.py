"""Why a value could not be read from its device, as data rather than as GraphQL errors.

A stale value carries its `refreshError`, a device's data lists the points it has no value for, a collection run
lists the points that failed, and a device's status lists its failing points: all as fields, because standard
clients (Apollo's and urql's default error policies) drop a response's `data` when it has `errors`.
"""

from __future__ import annotations

from datetime import datetime

import strawberry

from t3000gql.api.access import is_admin
from t3000gql.api.context import Info
from t3000gql.api.enums import PointType
from t3000gql.domain.faults import Fault, PointFault
from t3000gql.domain.timeutil import to_datetime


@strawberry.type(description="Why a value could not be read from its device.")
class RefreshError:
    code: str = strawberry.field(
        description="As `extensions.code` of errors: DEVICE_TIMEOUT (the device did not answer in time), "
        "DEVICE_OFFLINE (it did not answer lately and is not asked again before retryAt), DEVICE_ERROR (it "
        "answered with an error for this point or request; the message gives its reason), BAD_USER_INPUT (the "
        "point cannot be read as configured, e.g. a bad register map)."
    )
    reason: strawberry.Private[str]
    since: datetime = strawberry.field(
        description="When this run of failures began: the point's first failed read, or the first time an "
        "offline device did not answer."
    )
    retry_at: datetime | None = strawberry.field(
        description="DEVICE_OFFLINE only: when the device is tried again."
    )

    @classmethod
    def of(cls, fault: Fault) -> RefreshError:
        return cls(
            code=fault.code,
            reason=fault.reason,
            since=to_datetime(fault.since_ms),
            retry_at=None if fault.retry_at_ms is None else to_datetime(fault.retry_at_ms),
        )

    @strawberry.field(
        description="The device's reason, as it answered; for callers who are not admins only what the code "
        "means (device errors name addresses and ports)."
    )
    def message(self, info: Info) -> str:
        return self.reason if is_admin(info.context) else _MEANING.get(self.code, self.code)


_MEANING = {
    "DEVICE_TIMEOUT": "the device did not answer in time (an admin sees the details)",
    "DEVICE_OFFLINE": "the device did not answer lately and is not asked again before retryAt",
    "DEVICE_ERROR": "the device answered with an error (an admin sees the details)",
    "BAD_USER_INPUT": "the point cannot be read as configured (an admin sees the details)",
}


@strawberry.type(description="A point of a device whose value could not be read, and why.")
class PointFailure:
    point_type: PointType
    point_number: int
    error: RefreshError

    @classmethod
    def of(cls, failure: PointFault) -> PointFailure:
        return cls(
            point_type=failure.point.point_type,
            point_number=failure.point.point_number,
            error=RefreshError.of(failure.fault),
        )
