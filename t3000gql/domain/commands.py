"""The rules a command to a device obeys, before anything is sent (docs/security.md, "Commanding hardware").

A point is commanded only when it is writable (outputs and variables by default), its device and itself are
active, the value lies within the point's limits, and a digital point gets 0 or 1. Each refusal names the rule
(the field of the point or device to look at), so an operator knows whether to fix the value or ask an admin.
BACnet commands go at a priority 1..16 (1 highest; 8 is manual operator).
"""

from __future__ import annotations

from dataclasses import dataclass

from t3000gql.domain.points import PointRef
from t3000gql.errors import ValidationError

PRIORITIES = range(1, 17)


@dataclass(frozen=True, slots=True)
class CommandState:
    """Who commands a point, as its device says: BACnet's 16 priority slots (index 0 is priority 1; None an
    empty slot) with the value used when all are empty, or a T3's auto/manual switch (manual: a person's value
    holds; auto: the controller's program sets it)."""

    priority_array: tuple[float | None, ...] | None = None
    relinquish_default: float | None = None
    manual: bool | None = None


@dataclass(frozen=True, slots=True)
class CommandTarget:
    """What the rules need to know of a point and its device."""

    ref: PointRef
    writable: bool
    point_active: bool
    device_active: bool
    digital: bool
    min_value: float | None = None
    max_value: float | None = None


def check_commandable(target: CommandTarget) -> None:
    """The rules that do not depend on the value (a release obeys them too)."""
    ref = target.ref
    if not target.writable:
        raise ValidationError(
            f"point {ref} is not writable: an admin can allow commands with writable: true on the point",
            field="writable",
            value=False,
        )
    if not target.device_active:
        raise ValidationError(
            f"device {ref.device_id} is inactive: commands go to active devices only",
            field="is_active",
            value=False,
            mentions=("is_active",),
        )
    if not target.point_active:
        raise ValidationError(
            f"point {ref} is inactive: commands go to active points only",
            field="is_active",
            value=False,
            mentions=("is_active",),
        )


def check_command(target: CommandTarget, value: float) -> float:
    """The value to send, or a ValidationError naming the rule it breaks."""
    check_commandable(target)
    if target.digital and value not in (0.0, 1.0):
        raise ValidationError(
            f"point {target.ref} is digital: it takes 0 (off) or 1 (on)", field="value", value=value
        )
    if target.min_value is not None and value < target.min_value:
        raise ValidationError(
            f"is below the point's min_value {target.min_value:g}",
            field="value",
            value=value,
            mentions=("min_value",),
        )
    if target.max_value is not None and value > target.max_value:
        raise ValidationError(
            f"is above the point's max_value {target.max_value:g}",
            field="value",
            value=value,
            mentions=("max_value",),
        )
    return value


def check_priority(priority: int) -> int:
    if isinstance(priority, bool) or not isinstance(priority, int) or priority not in PRIORITIES:
        raise ValidationError(
            "must be a BACnet priority from 1 (highest) to 16 (lowest)", field="priority", value=priority
        )
    return priority
