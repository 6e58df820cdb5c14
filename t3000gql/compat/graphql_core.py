"""graphql-core's `Executor._relevant_sub_fields`: the memo of collected subfields, given a fresh one per event.

graphql-core 3.3.2 runs each subscription event on a shallow copy of the subscription's executor
(`Executor.build_per_event_executor`), so every event shares one memo, keyed by the id of a field list that is
built anew for each event: the memo never hits across events and keeps every list alive, so a long-running
subscription grows by about 1.4 KB per event (api/execution.py applies the fix).
"""

from __future__ import annotations

import inspect
from typing import Any

from graphql import build_schema, parse
from graphql.execution.executor import Executor, to_nodes
from graphql.execution.values import get_argument_values

from t3000gql.compat import LibraryChanged, require

DISTRIBUTION = "graphql-core"
WRITTEN_AGAINST = "3.3.2"
MEMO = "_relevant_sub_fields"


EXECUTOR_METHODS_USED: dict[str, tuple[str, ...]] = {
    "complete_iterable_value": ("item_type", "field_details_list", "info", "path", "items", "position_context"),
    "collect_and_execute_subfields": ("return_type", "field_details_list", "path", "result", "position_context"),
    "execute_fields": ("parent_type", "source_value", "path", "grouped_field_set", "position_context"),
    "complete_list_item_value": (
        "item",
        "complete_results",
        "item_type",
        "field_details_list",
        "info",
        "item_path",
        "position_context",
    ),
    "complete_awaitable_list_item_value": (
        "item",
        "item_type",
        "field_details_list",
        "info",
        "item_path",
        "position_context",
    ),
    "handle_field_error": ("raw_error", "return_type", "field_details_list", "path"),
    "get_stream_usage": ("field_details_list", "path"),
    "collect_subfields": ("return_type", "field_details_list"),
    "settle_in_background": ("awaitables",),
    "execute_field": ("parent_type", "source", "field_details_list", "path", "position_context"),
    "build_resolve_info": ("field_def", "field_nodes", "parent_type", "path"),
    "complete_awaitable_value": (
        "return_type",
        "field_details_list",
        "info",
        "path",
        "result",
        "position_context",
    ),
    "complete_value": ("return_type", "field_details_list", "info", "path", "result", "position_context"),
}
"""The Executor methods api/execution.py overrides or calls (list and object plans), with their parameters."""


__all__ = ["Executor", "fresh_subfield_memo", "get_argument_values", "to_nodes"]


def fresh_subfield_memo(executor: Any) -> None:
    """Gives a per-event executor a memo of its own (all a memo is good for: lists within one result)."""
    setattr(executor, MEMO, {})


def check_executor_methods() -> None:
    """Each method the list plans override or call is there with the parameters they pass."""
    for name, parameters in EXECUTOR_METHODS_USED.items():
        method = getattr(Executor, name, None)
        require(method is not None, DISTRIBUTION, WRITTEN_AGAINST, f"Executor.{name} is gone")
        found = tuple(inspect.signature(method).parameters)[1:]  # type: ignore[arg-type]
        require(
            found == parameters,
            DISTRIBUTION,
            WRITTEN_AGAINST,
            f"Executor.{name} takes {found}, not {parameters}",
        )


def check() -> None:
    """The memo is a dict on each executor, shared by the per-event copies, and what `collect_subfields` fills."""
    check_executor_methods()
    schema = build_schema("type Query { a: A } type A { b: Int } type Subscription { a: A }")
    executor = Executor.build(schema, parse("subscription { a { b } }"))
    if not isinstance(executor, Executor):
        raise LibraryChanged(DISTRIBUTION, WRITTEN_AGAINST, f"Executor.build refused a subscription: {executor}")
    require(
        isinstance(getattr(executor, MEMO, None), dict),
        DISTRIBUTION,
        WRITTEN_AGAINST,
        f"an Executor no longer has the dict `{MEMO}`",
    )
    event = executor.build_per_event_executor({"a": {"b": 1}})
    require(
        getattr(event, MEMO, None) is getattr(executor, MEMO),
        DISTRIBUTION,
        WRITTEN_AGAINST,
        f"per-event executors no longer share `{MEMO}` (the leak may be fixed: the fence may be dropped)",
    )
    fresh_subfield_memo(event)
    memo: dict[Any, Any] = getattr(event, MEMO)
    event.collect_subfields(schema.get_type("A"), [])  # type: ignore[arg-type]
    require(
        len(memo) == 1,
        DISTRIBUTION,
        WRITTEN_AGAINST,
        f"`Executor.collect_subfields` no longer memoizes in `{MEMO}`",
    )
