"""Subscriptions that share work: one execution and one serialized message per event for every subscriber of
the same operation, instead of one GraphQL execution per subscriber per event (what made 1,000 subscribers of
one point wait up to a second for each change).

    subscribe ──► the subscriber's own strawberry stream: checks, arguments, its initial values (snapshot) ──┐
                  └ joins the group of its key (registers its queue, before the snapshot is taken)        │
    group: ONE bus subscriber ─► ONE strawberry stream (one execution per event) ─► payload JSON, once     │
           └──► each member's bounded queue ──► its own task sends `{"id":…,"type":"next","payload":…}` ◄──┘

Key: the query text, the operation name, the variables (as canonical JSON) and the caller's role. Roles are
what decide which fields a caller may see (api/access.py), so subscribers in one group would get the same
answer from their own executions: the group runs with the first member's identity, and a test compares the
shared messages with the unshared ones. Only graphql-transport-ws operations whose root field opted in
(`pointValues`, `deviceStatus`: their resolvers call `LiveShare.join`) are shared; any other operation, and
everything while LIVE_SHARED_SUBSCRIPTIONS is false, runs as strawberry runs it.

A member's initial values and any error its arguments cause come from its own execution (the same code as
unshared, up to `join`); the group only streams the changes. No gap and no repeat between the two: the member
is registered with the group (and the group with the bus, synchronously, by the first member) before its
snapshot is read, and the member's queue skips what the snapshot already showed (`Subscriber.ignore_through`).

Backpressure: each member has its own bounded queue (LIVE_QUEUE_SIZE messages) and its own task doing the
sends, so a slow socket delays nobody else. Past the bound, a member's queue keeps the latest message per point
(per device for deviceStatus) and counts the rest as coalesced, as an unshared subscription does. The group
itself never waits for a member: it puts each message in every queue and goes on with the next event.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Callable, Hashable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, NamedTuple, TypeVar

from graphql import OperationDefinitionNode, OperationType, parse
from graphql.language import FieldNode
from strawberry.types import ExecutionResult

from t3000gql.live.subscriber import Counters, Subscriber

if TYPE_CHECKING:
    from strawberry.schema import BaseSchema

    from t3000gql.api.context import Context

log = logging.getLogger(__name__)

T = TypeVar("T")

SHARED_FIELDS = frozenset({"pointValues", "deviceStatus"})
"""Root fields whose resolvers take part (they call `LiveShare.join`)."""
MAX_PARSED = 1024
"""Documents whose root field is remembered (an LRU of query texts)."""


class SharedMessage(NamedTuple):
    """One event's `next` payload, serialized once: `key` and `stamp` are the event's point (or device) and
    time, for coalescing and for skipping what a member's snapshot already showed."""

    key: Hashable
    stamp: int
    payload: str


def message_key(message: SharedMessage) -> Hashable:
    return message.key


def message_stamp(message: SharedMessage) -> int:
    return message.stamp


@dataclass(frozen=True, slots=True)
class ShareKey:
    query: str
    operation_name: str | None
    variables: str
    role: int


def next_payload(result: ExecutionResult) -> dict[str, Any]:
    """What strawberry's graphql-transport-ws handler puts in a `next` message (Operation.send_next)."""
    payload: dict[str, Any] = {"data": result.data}
    if result.errors:
        payload["errors"] = [error.formatted for error in result.errors]
    if result.extensions:
        payload["extensions"] = result.extensions
    return payload


class Group(Generic[T]):
    """The subscribers of one key: one bus subscriber, one strawberry stream, many member queues."""

    def __init__(
        self,
        hub: SharedSubscriptions,
        key: ShareKey,
        source: Subscriber[T],
        event_key: Callable[[T], Hashable],
        event_stamp: Callable[[T], int],
    ) -> None:
        self.hub = hub
        self.key = key
        self.source = source
        self.event_key = event_key
        self.event_stamp = event_stamp
        self.members: dict[Subscriber[SharedMessage], None] = {}  # insertion-ordered set
        self.current: tuple[Hashable, int] = (None, 0)
        self.task: asyncio.Task[None] | None = None

    def add_member(self) -> Subscriber[SharedMessage]:
        member: Subscriber[SharedMessage] = Subscriber(
            capacity=self.hub.queue_size,
            key=message_key,
            stamp=message_stamp,
            counters=self.hub.counters,
            on_close=self._left,
        )
        self.members[member] = None
        return member

    def _left(self, member: Subscriber[SharedMessage]) -> None:
        self.members.pop(member, None)
        if not self.members:
            self.hub.forget(self)

    async def events(self) -> AsyncIterator[T]:
        """The bus events, for the group's own resolver: each one's key and time noted before it is yielded."""
        async for event in self.source:
            self.current = (self.event_key(event), self.event_stamp(event))
            yield event

    async def run(
        self, schema: BaseSchema, context: Context, query: str, variables: Any, name: str | None
    ) -> None:
        """Executes the operation once per event and hands the serialized payload to every member."""
        try:
            stream = await schema.stream(
                query, variable_values=variables, context_value=context, operation_name=name
            )
            async with contextlib.aclosing(stream):
                async for result in stream:
                    if not isinstance(result, ExecutionResult) or not self.members:
                        continue
                    key, stamp = self.current
                    message = SharedMessage(key, stamp, self.hub.encode(next_payload(result)))
                    for member in self.members:
                        member.offer(message)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("a shared subscription ended by an error")
        finally:
            self.source.close()
            self.hub.forget(self)
            for member in list(self.members):
                member.close()


class LiveShare:
    """What a shareable operation's resolver finds in `context.live_share`.

    In a subscriber's own stream (`group is None`), `join` registers it with the group of its key (creating the
    group, and its bus subscriber by `open_source`, if it is the first) and returns the queue its shared
    messages will come in; the resolver then yields the initial values and returns. In a group's stream,
    `group` is set and the resolver streams `group.events()` instead.
    """

    def __init__(self, hub: SharedSubscriptions, key: ShareKey, context: Context, operation: Any) -> None:
        self.hub = hub
        self.key = key
        self.context = context
        self.operation = operation
        self.group: Group[Any] | None = None
        self.member: Subscriber[SharedMessage] | None = None

    def join(
        self,
        open_source: Callable[[], Subscriber[T]],
        event_key: Callable[[T], Hashable],
        event_stamp: Callable[[T], int],
    ) -> Subscriber[SharedMessage]:
        group = self.hub.groups.get(self.key)
        if group is None:
            group = Group(self.hub, self.key, open_source(), event_key, event_stamp)
            self.hub.groups[self.key] = group
            group_context = self.context.for_shared_group()
            group_context.live_share = LiveShare(self.hub, self.key, group_context, self.operation)
            group_context.live_share.group = group
            group.task = asyncio.create_task(
                group.run(
                    self.hub.schema,
                    group_context,
                    self.operation.query,
                    self.operation.variables,
                    self.operation.operation_name,
                ),
                name=f"shared subscription {self.operation.operation_name or ''}",
            )
        self.member = group.add_member()
        return self.member

    def leave(self) -> None:
        if self.member is not None:
            self.member.close()


class SharedSubscriptions:
    """The groups of one server process (kept by the GraphQL view)."""

    def __init__(
        self, schema: BaseSchema, *, enabled: bool, queue_size: int, encode: Callable[[object], str]
    ) -> None:
        self.schema = schema
        self.enabled = enabled
        self.queue_size = queue_size
        self.encode = encode
        self.counters = Counters()
        self.groups: dict[ShareKey, Group[Any]] = {}
        self._root_fields: dict[tuple[str, str | None], str | None] = {}

    def forget(self, group: Group[Any]) -> None:
        if self.groups.get(group.key) is group:
            del self.groups[group.key]
            group.source.close()  # also when its task is cancelled before it ever ran
            if group.task is not None and group.task is not asyncio.current_task():
                group.task.cancel()

    def share_for(self, operation: Any, context: Context) -> LiveShare | None:
        """A `LiveShare` for an operation that may be shared, else None (it runs unshared)."""
        if not self.enabled or context.identity is None:
            return None
        if self._root_field(operation.query, operation.operation_name) not in SHARED_FIELDS:
            return None
        try:
            variables = json.dumps(operation.variables or {}, sort_keys=True, separators=(",", ":"))
        except (TypeError, ValueError):
            return None
        key = ShareKey(operation.query, operation.operation_name, variables, int(context.identity.role))
        return LiveShare(self, key, context, operation)

    def _root_field(self, query: str, operation_name: str | None) -> str | None:
        """The one root field of the subscription `operation_name` names (None: not a plain subscription)."""
        cache_key = (query, operation_name)
        if cache_key in self._root_fields:
            return self._root_fields[cache_key]
        found: str | None = None
        with contextlib.suppress(Exception):  # strawberry reports a bad document as it always does
            operations = [
                node
                for node in parse(query, no_location=True).definitions
                if isinstance(node, OperationDefinitionNode)
            ]
            chosen = [
                node
                for node in operations
                if operation_name is None or (node.name is not None and node.name.value == operation_name)
            ]
            if len(chosen) == 1 and chosen[0].operation == OperationType.SUBSCRIPTION:
                selections = chosen[0].selection_set.selections
                if len(selections) == 1 and isinstance(selections[0], FieldNode) and not selections[0].directives:
                    found = selections[0].name.value
        if len(self._root_fields) >= MAX_PARSED:
            self._root_fields.pop(next(iter(self._root_fields)))
        self._root_fields[cache_key] = found
        return found
