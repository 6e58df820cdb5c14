"""graphql-core's `Executor._relevant_sub_fields`: the memo of collected subfields, given a fresh one per event.

graphql-core 3.3.2 runs each subscription event on a shallow copy of the subscription's executor
(`Executor.build_per_event_executor`), so every event shares one memo, keyed by the id of a field list that is
built anew for each event: the memo never hits across events and keeps every list alive, so a long-running
subscription grows by about 1.4 KB per event (api/execution.py applies the fix).
"""

from __future__ import annotations

from typing import Any

from graphql import build_schema, parse
from graphql.execution.executor import Executor

from t3000gql.compat import LibraryChanged, require

DISTRIBUTION = "graphql-core"
WRITTEN_AGAINST = "3.3.2"
MEMO = "_relevant_sub_fields"


def fresh_subfield_memo(executor: Any) -> None:
    """Gives a per-event executor a memo of its own (all a memo is good for: lists within one result)."""
    setattr(executor, MEMO, {})


def check() -> None:
    """The memo is a dict on each executor, shared by the per-event copies, and what `collect_subfields` fills."""
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
