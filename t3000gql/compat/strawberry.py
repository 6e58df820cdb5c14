"""strawberry's view, WebSocket handler and execution internals that api/view.py, api/websocket.py and
api/execution.py build on: imported from their private module paths here only, and checked.

Our view and handlers subclass strawberry's and override methods that are not a documented extension API
(`execute_single`, `process_result`, `handle_connection_init`, the WebSocket adapter's `send_json`, ...), and read
attributes set in strawberry's constructors (`ws`, `view`, `websocket`, `connection_acknowledged`,
`keep_alive_interval`). When an upgrade renames one, an override would silently stop being called: `check()`
and `override_problems()` (run by tests/compat/test_fences.py) say so, naming the versions.
"""

from __future__ import annotations

import ast
import inspect
import textwrap
from collections.abc import Callable, Mapping
from typing import Any

from starlette.websockets import WebSocketDisconnect
from strawberry.asgi import ASGIWebSocketAdapter, GraphQL
from strawberry.http.base import BaseRequestProtocol
from strawberry.http.exceptions import WebSocketDisconnected
from strawberry.schema.exceptions import InvalidOperationTypeError
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
    Operation,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    _OperationStreamClosed as OperationStreamClosed,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import ConnectionInitMessage
from strawberry.subscriptions.protocols.graphql_transport_ws.types import Message as TransportWSMessage
from strawberry.subscriptions.protocols.graphql_ws.handlers import BaseGraphQLWSHandler
from strawberry.subscriptions.protocols.graphql_ws.types import (
    ConnectionInitMessage as LegacyConnectionInitMessage,
)
from strawberry.subscriptions.protocols.graphql_ws.types import OperationMessage

from t3000gql.compat import LibraryChanged, require

DISTRIBUTION = "strawberry-graphql"
WRITTEN_AGAINST = "0.341.2"

__all__ = [
    "BaseGraphQLTransportWSHandler",
    "BaseGraphQLWSHandler",
    "BaseRequestProtocol",
    "ConnectionInitMessage",
    "InvalidOperationTypeError",
    "LegacyConnectionInitMessage",
    "Operation",
    "OperationMessage",
    "OperationStreamClosed",
    "StrawberryGraphQLCoreExecutionContext",
    "TextWebSocketAdapter",
    "TransportWSMessage",
]


class TextWebSocketAdapter(ASGIWebSocketAdapter):
    """Sends text frames: `encode_json` gives bytes (for HTTP), which strawberry would send as binary frames,
    and browser GraphQL WebSocket clients parse text only."""

    async def send_json(self, message: Mapping[str, object]) -> None:
        try:
            await self.ws.send_text(self.view.encode_json_string(message))
        except WebSocketDisconnect as exc:
            raise WebSocketDisconnected from exc

    async def send_text(self, text: str) -> None:
        """Sends text already serialized (a shared subscription's message, api/shared_subscriptions.py)."""
        try:
            await self.ws.send_text(text)
        except WebSocketDisconnect as exc:
            raise WebSocketDisconnected from exc


CONSTRUCTOR_ATTRIBUTES: dict[type, tuple[str, ...]] = {
    ASGIWebSocketAdapter: ("ws",),
    BaseGraphQLTransportWSHandler: (
        "view",
        "websocket",
        "connection_acknowledged",
        "connection_init_received",
        "context",
        "operations",
        "root_value",
        "schema",
    ),
    BaseGraphQLWSHandler: ("view", "websocket", "context", "tasks"),
    GraphQL: ("keep_alive_interval",),
}
"""Attributes our subclasses read that strawberry sets in `__init__` (no class attribute declares them)."""

METHODS_USED: dict[type, tuple[str, ...]] = {
    GraphQL: ("encode_json_string", "run", "should_render_graphql_ide", "request_adapter_class"),
    BaseGraphQLTransportWSHandler: (
        "send_message",
        "handle_invalid_message",
        "handle_task_exception",
        "_send_result_stream",
    ),
    BaseGraphQLWSHandler: ("send_message",),
    StrawberryGraphQLCoreExecutionContext: ("build_per_event_executor",),
}
"""Methods our subclasses call on strawberry's classes without overriding them."""


def assigned_in_init(cls: type) -> set[str]:
    """The `self.X = ...` attributes of a class's own `__init__` (from its source)."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(cls.__init__)))  # type: ignore[misc]
    names: set[str] = set()
    for node in ast.walk(tree):
        targets = (
            node.targets
            if isinstance(node, ast.Assign)
            else [node.target]
            if isinstance(node, ast.AnnAssign)
            else []
        )
        for target in targets:
            if (
                isinstance(target, ast.Attribute)
                and isinstance(target.value, ast.Name)
                and target.value.id == "self"
            ):
                names.add(target.attr)
    return names


def check() -> None:
    for cls, attributes in CONSTRUCTOR_ATTRIBUTES.items():
        missing = set(attributes) - assigned_in_init(cls)
        require(
            not missing,
            DISTRIBUTION,
            WRITTEN_AGAINST,
            f"{cls.__qualname__}.__init__ no longer sets {sorted(missing)}",
        )
    for cls, methods in METHODS_USED.items():
        missing = {name for name in methods if not hasattr(cls, name)}
        require(not missing, DISTRIBUTION, WRITTEN_AGAINST, f"{cls.__qualname__} no longer has {sorted(missing)}")


def override_problems(cls: type, own: set[str]) -> list[str]:
    """What is wrong with a subclass of strawberry's: a method that overrides nothing in strawberry (a hook was
    renamed or removed), one whose parameters differ from strawberry's, or one listed as `own` that strawberry
    now defines too (we would override it by accident)."""
    problems = []
    bases = cls.__mro__[1:]
    for name, value in vars(cls).items():
        if not callable(value) or (name.startswith("__") and name != "__call__") or isinstance(value, type):
            continue
        inherited = next((vars(base)[name] for base in bases if name in vars(base)), None)
        if name in own:
            if inherited is not None:
                problems.append(f"{cls.__name__}.{name} is ours, but strawberry defines it too now")
            continue
        if inherited is None:
            problems.append(f"{cls.__name__}.{name} overrides nothing in strawberry")
        elif _parameters(value) != _parameters(inherited) and not _takes_anything(value):
            problems.append(
                f"{cls.__name__}.{name}{inspect.signature(value)} no longer matches strawberry's "
                f"{name}{inspect.signature(inherited)}"
            )
    return problems


def require_overrides(cls: type, own: set[str]) -> None:
    problems = override_problems(cls, own)
    if problems:
        raise LibraryChanged(DISTRIBUTION, WRITTEN_AGAINST, "; ".join(problems))


def _parameters(function: Callable[..., Any]) -> list[str]:
    return list(inspect.signature(function).parameters)


def _takes_anything(function: Callable[..., Any]) -> bool:
    kinds = {p.kind for p in inspect.signature(function).parameters.values()}
    return {inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD} <= kinds
