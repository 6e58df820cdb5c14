"""The one place where errors become GraphQL errors with `extensions.code`.

    our errors (t3000gql.errors)    their `.code`; ValidationError adds field, index and value, its field
                                    renamed from the domain's name to the argument's (`argument_name`);
                                    DeviceOffline (DEVICE_OFFLINE) adds retryAt, when the device is tried again
    a syntax error, too many tokens GRAPHQL_PARSE_FAILED
    failed validation, too deep,    GRAPHQL_VALIDATION_FAILED
      too many aliases
    a variable of the wrong type    BAD_USER_INPUT
    anything else                   INTERNAL, with a reference to the server log and no details

A device error's message names the device's address and the protocol's reply; callers who are not admins get
what it means instead (`redacted`), so nobody can scan ports through the errors of a device they cannot
configure anyway. `extensions` an error declares (a command's `deviceWrite`) are kept.

HTTP-level failures (bad JSON, wrong method or media type, too many requests at once, a timeout) never reach
execution; `request_error` gives them the same shape and `HTTP_CODES` their code.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from typing import Any

from graphql import GraphQLError, GraphQLSyntaxError
from strawberry.extensions import SchemaExtension
from strawberry.utils.str_converters import to_camel_case

from t3000gql.api.scalars import serialize_datetime
from t3000gql.auth import Role, allows
from t3000gql.domain.timeutil import to_datetime
from t3000gql.errors import DeviceError, DeviceOffline, DeviceTimeout, T3000Error, ValidationError

log = logging.getLogger(__name__)

HTTP_CODES = {
    400: "BAD_REQUEST",
    401: "UNAUTHENTICATED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    406: "NOT_ACCEPTABLE",
    413: "BAD_REQUEST",
    415: "UNSUPPORTED_MEDIA_TYPE",
}


def request_error(message: str, code: str) -> dict[str, Any]:
    """A response body for a request that failed before execution."""
    return {"errors": [{"message": message, "extensions": {"code": code}}]}


def argument_name(domain_name: str) -> str:
    """The GraphQL name of a field that lower layers name in the domain's words: `device_name` -> `deviceName`,
    `channel_names.muxPower1` -> `channelNames.muxPower1`. Inputs and arguments are the domain's names in
    Python, which strawberry turns into the schema's with this same converter; a name already in the schema's
    form is kept as it is."""
    return ".".join(to_camel_case(part) for part in domain_name.split("."))


def _json_safe(value: Any) -> Any:
    return value if isinstance(value, str | int | float | bool | type(None)) else str(value)


def coded(error: GraphQLError, *, validation_failed: bool = False, redact_devices: bool = False) -> GraphQLError:
    """The error as the client sees it: a code in `extensions`, and no internals. `redact_devices` replaces a
    device error's message (which names addresses and ports) by what it means: for callers who are not admins."""
    original = error.original_error
    extensions: dict[str, Any] = dict(error.extensions or {})
    message = error.message
    if isinstance(original, ValidationError):
        extensions["code"] = original.code
        message = original.describe(argument_name)
        extensions.update(
            {
                key: _json_safe(value)
                for key, value in (
                    ("field", None if original.field is None else argument_name(original.field)),
                    ("index", original.index),
                    ("value", original.value),
                )
                if value is not None
            }
        )
    elif isinstance(original, T3000Error):
        extensions["code"] = original.code
        extensions.update(original.extensions)
        message = redacted(original) if redact_devices and isinstance(original, DeviceError) else str(original)
        if isinstance(original, DeviceOffline):
            extensions["retryAt"] = serialize_datetime(to_datetime(original.retry_at_ms))
    elif isinstance(error, GraphQLSyntaxError):
        extensions["code"] = "GRAPHQL_PARSE_FAILED"
    elif validation_failed:
        extensions["code"] = "GRAPHQL_VALIDATION_FAILED"
    elif error.path is None and (original is None or isinstance(original, GraphQLError | ValueError | TypeError)):
        extensions["code"] = "BAD_USER_INPUT"  # variables that do not fit their types: found before any resolver
    else:
        reference = uuid.uuid4().hex[:12]
        log.error("internal error %s at %s: %s", reference, error.path, error.message, exc_info=original)
        extensions["code"] = "INTERNAL"
        message = f"internal error (reference {reference}); the server log has the details"
    return GraphQLError(
        message,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        original_error=original,
        extensions=extensions,
    )


def redacted(error: DeviceError) -> str:
    """What a device error means, without the device's address or the protocol's details (admins see those)."""
    if isinstance(error, DeviceTimeout):
        message = "the device did not answer in time"
    elif isinstance(error, DeviceOffline):
        message = "the device did not answer lately and is not asked again before retryAt"
    else:
        message = "the device answered with an error"
    outcome = error.extensions.get("deviceWrite")
    if outcome == "UNCONFIRMED":
        message += "; it did not confirm the command: it may or may not have taken it"
    elif outcome == "REFUSED":
        message += "; it refused the command: nothing was changed"
    return message + " (an admin sees the details)"


class ErrorCodes(SchemaExtension):
    """Gives every error of an operation its code (see the module docstring): of the one result of a query or
    mutation, and of each result of a stream (subscriptions) as it goes out."""

    def __init__(self) -> None:
        self._validation_errors: set[int] = set()
        self._streamed = False

    def on_validate(self) -> Iterator[None]:
        yield
        self._validation_errors = {id(error) for error in self.execution_context.pre_execution_errors or ()}

    def on_stream_result(self, result: Any) -> Iterator[None]:
        self._streamed = True
        self._code(result)
        yield

    def on_operation(self) -> Iterator[None]:
        yield
        if not self._streamed:
            self._code(self.execution_context.result)

    def _code(self, result: Any) -> None:
        errors = getattr(result, "errors", None)
        if errors:
            identity = getattr(self.execution_context.context, "identity", None)
            redact = not allows(identity, Role.ADMIN)
            result.errors = [
                coded(error, validation_failed=id(error) in self._validation_errors, redact_devices=redact)
                for error in errors
            ]
