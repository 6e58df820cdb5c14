"""The domain's enums as GraphQL enums: the same Python classes, so resolvers pass them straight through."""

from __future__ import annotations

import strawberry

from t3000gql.domain.points import PointType
from t3000gql.domain.samples import Aggregate

strawberry.enum(
    PointType,
    description="T3000's point types, numbered as T3000 numbers them (Point_type_equate): OUTPUT=0, INPUT=1, "
    "VARIABLE=2, CONTROLLER=3, WEEKLY_SCHEDULE=4, ANNUAL_SCHEDULE=5, PROGRAM=6, TABLE=7, TIME_ZONE=8, MONITOR=9, "
    "GROUP=10, ARRAY=11, ALARM=12, UNIT=13, USER_NAME=14, ALARM_SET=15, WR_TIME=16, AR_DATA=17.",
)
strawberry.enum(
    Aggregate,
    description="How the samples of one bucket become one value. FIRST and LAST take the earliest and the "
    "latest sample of the bucket; COUNT is the number of samples.",
)

__all__ = ["Aggregate", "PointType"]
