"""Roles and identities: who a request acts as, and the four roles, each including the ones before it.

viewer    every query and subscription
ingest    + pushing data: storeTimeSeries, updateDeviceData, recordPowerReading(s) (machine clients)
operator  + commanding hardware: writePointValue, releasePointValue, refreshPoint, collectNow
admin     + everything else: registry changes, deletes, tokens, the audit log
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Final

from t3000gql.errors import ValidationError


class Role(enum.IntEnum):
    """Ordered: a role may do everything a lower one may."""

    VIEWER = 1
    INGEST = 2
    OPERATOR = 3
    ADMIN = 4

    @property
    def label(self) -> str:
        """The name as tokens, the CLI and messages write it (`operator`)."""
        return self.name.lower()

    @classmethod
    def parse(cls, text: str, *, field: str = "role") -> Role:
        try:
            return cls[text.strip().upper()]
        except KeyError:
            names = ", ".join(role.label for role in cls)
            raise ValidationError(f"must be one of {names}", field=field, value=text) from None


@dataclass(frozen=True, slots=True)
class Identity:
    """Who a request acts as: an API token (by its name), or `anonymous` when the server needs none."""

    name: str
    role: Role
    token_id: int | None = None
    """None for anonymous."""
    expires_at: int | None = None

    def describe(self) -> str:
        return "a request without a token" if self.token_id is None else f"token {self.name!r} ({self.role.label})"


ANONYMOUS: Final = Identity("anonymous", Role.ADMIN)
"""What a request without a token acts as while AUTH_REQUIRED is false: everything, as before there were tokens.
A request that does present a token acts as that token, and a bad token is refused even then."""
