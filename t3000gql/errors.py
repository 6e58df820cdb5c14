"""The one exception tree of t3000gql.

    T3000Error                      base: everything we raise on purpose
    ├── ConfigError                 an environment variable has a value we cannot use
    ├── ValidationError             input that breaks a rule (names field, index, value)  -> BAD_USER_INPUT
    ├── NotFoundError               a device, point, trend log or station that does not exist -> NOT_FOUND
    ├── ConflictError               a uniqueness rule would be broken                       -> BAD_USER_INPUT
    ├── StorageError                the database failed or refused                         -> INTERNAL
    │   ├── MigrationError          the schema cannot be brought to the code's version
    │   └── DatabaseUnavailable     the database cannot take writes now (locked, read-only, disk full)
    ├── DeviceError                 a controller answered with an error                     -> DEVICE_ERROR
    │   ├── DeviceTimeout           a controller did not answer in time                     -> DEVICE_TIMEOUT
    │   └── DeviceOffline           a controller that did not answer is skipped for now     -> DEVICE_OFFLINE
    ├── Unauthenticated             no credentials, or a bad, expired or revoked token      -> UNAUTHENTICATED
    ├── Forbidden                   the caller's role may not do this                       -> FORBIDDEN
    ├── LimitExceeded               a request asks for more than the server allows          -> RATE_LIMITED
    ├── RequestTimeout              a request ran longer than API_REQUEST_TIMEOUT_SECONDS   -> TIMEOUT
    └── LiveBusError                the live bus cannot reach its broker (BROADCAST_URL)    -> INTERNAL

Third-party errors are converted where they enter our code (`raise ... from exc`), so the API maps errors to
GraphQL codes in one place (`t3000gql.api.errors`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, ClassVar


class T3000Error(Exception):
    """Base of every error t3000gql raises on purpose. `extensions` are added to the GraphQL error's."""

    code = "INTERNAL"
    extensions: ClassVar[dict[str, Any]] = {}


class ConfigError(T3000Error):
    def __init__(self, variable: str, value: str, accepted: str) -> None:
        self.variable = variable
        self.value = value
        self.accepted = accepted
        super().__init__(f"{variable}={value!r} is not valid: expected {accepted}")


class ValidationError(T3000Error):
    """Bad input. `field`, `index` and `value` say where, so a caller can fix exactly that item.

    Fields carry the domain's names (`device_name`, `channel_names.muxPower1`); the API renames them to its
    argument names in one place (t3000gql.api.errors). `mentions` lists other fields the reason names, so they
    are renamed too ("give exactly one of device_id, name or uuid").
    """

    code = "BAD_USER_INPUT"

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        index: int | None = None,
        value: Any = None,
        mentions: tuple[str, ...] = (),
    ) -> None:
        self.field = field
        self.index = index
        self.value = value
        self.reason = message
        self.mentions = mentions
        super().__init__(self.describe())

    def describe(self, name: Callable[[str], str] | None = None) -> str:
        """The message, with every field it names as `name` gives it (the domain's own names by default)."""
        rename = name or _same
        reason = self.reason
        if self.mentions:
            names = "|".join(re.escape(mentioned) for mentioned in self.mentions)
            reason = re.sub(rf"\b(?:{names})\b", lambda match: rename(match.group()), reason)
        where = []
        if self.index is not None:
            where.append(f"item {self.index}")
        if self.field is not None:
            where.append(f"field {rename(self.field)!r}")
        return f"{', '.join(where)}: {reason}" if where else reason


def _same(name: str) -> str:
    return name


class NotFoundError(T3000Error):
    code = "NOT_FOUND"


class ConflictError(T3000Error):
    code = "BAD_USER_INPUT"


class StorageError(T3000Error):
    code = "INTERNAL"


class MigrationError(StorageError):
    pass


class DatabaseUnavailable(StorageError):
    """The database cannot take writes right now; callers that must not lose data spool instead."""

    code = "DATABASE_UNAVAILABLE"


class DeviceError(T3000Error):
    code = "DEVICE_ERROR"


class DeviceTimeout(DeviceError):
    """No answer in time: timeout, connection refused, no route (after the driver's retries)."""

    code = "DEVICE_TIMEOUT"


class DeviceOffline(DeviceError):
    """Nothing was sent: the device did not answer lately and is skipped until `retry_at_ms`
    (COLLECTOR_ERROR_RETRY_SECONDS after its last silence), which the message and the API both give."""

    code = "DEVICE_OFFLINE"

    def __init__(self, message: str, *, retry_at_ms: int) -> None:
        super().__init__(message)
        self.retry_at_ms = retry_at_ms


class Unauthenticated(T3000Error):
    """The request carries no usable credentials: HTTP 401, a WebSocket closed with 4401."""

    code = "UNAUTHENTICATED"


class Forbidden(T3000Error):
    """The caller is known, and its role does not allow this; nothing of it was done."""

    code = "FORBIDDEN"


class LimitExceeded(T3000Error):
    code = "RATE_LIMITED"


class RequestTimeout(T3000Error):
    code = "TIMEOUT"


class LiveBusError(T3000Error):
    """The live bus cannot connect to or hear back from its broker (Redis, PostgreSQL)."""
