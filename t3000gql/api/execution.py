"""The execution context class of our schema: strawberry's, with lists of plain objects completed in one loop and
a fix for long-lived subscriptions.

Lists: graphql-core completes each field of each list item on its own (`execute_fields` -> `execute_field` ->
`complete_value` per field). For a list of objects whose selected fields are mostly attributes (samples, points,
current values) `complete_iterable_value` here completes those fields in one loop per item with the plan of
api/list_plans.py (built once per list field and request, from accesses kept for the schema's life), and leaves
only the other fields (resolvers, nested objects) and any item that is not plain to graphql-core's own code. The
answer, its errors and their paths are the same (tests/api/test_execution_plans.py compares them).

Subscriptions: graphql-core 3.3.2 runs each subscription event on a shallow copy of the subscription's executor, so
every event shares one memo of collected subfields, keyed by the id of a field list that is built anew for each
event. The memo never hits across events and keeps every list alive: a subscription grows by about 1.4 KB per
event for as long as it runs (100,000 events made a server 200 MB larger). Each event gets a memo of its own here
(the list plans' memo too), which is all the memo is good for (lists within one result). The internals touched
are fenced in t3000gql/compat/.

It also tells the request's context which kind of operation runs (`Context.operation_type`), for the API's
request-time histogram: known here for the price of one attribute, where the HTTP view would parse again.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from graphql import GraphQLNonNull, GraphQLObjectType, GraphQLOutputType, GraphQLResolveInfo
from graphql.pyutils import gather_with_cancel

from t3000gql.api.list_plans import ListPlan, NotPlain, build_plan, complete_fast_fields, merged
from t3000gql.api.resolver_calls import ResolverCall, resolver_call, shareable
from t3000gql.compat.graphql_core import fresh_subfield_memo, get_argument_values, to_nodes
from t3000gql.compat.strawberry import StrawberryGraphQLCoreExecutionContext


class SubscriptionSafeExecutionContext(StrawberryGraphQLCoreExecutionContext):
    _list_plans: dict[int, tuple[Any, ListPlan | None]]
    _object_plans: dict[tuple[int, int], tuple[Any, ListPlan | None]]
    _arguments: dict[tuple[int, int, int], tuple[Any, dict[str, Any]]]
    _direct: bool | None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._list_plans = {}
        self._object_plans = {}
        self._arguments = {}
        self._direct = None

    def execute_operation(self, serially: bool | None = None) -> Any:
        context = self.context_value
        if hasattr(context, "operation_type"):
            context.operation_type = self.operation.operation.value
        return super().execute_operation(serially)

    def build_per_event_executor(self, payload: Any) -> Any:
        executor = super().build_per_event_executor(payload)
        fresh_subfield_memo(executor)
        executor._list_plans = {}  # type: ignore[attr-defined]
        executor._object_plans = {}  # type: ignore[attr-defined]
        executor._arguments = {}  # type: ignore[attr-defined]
        return executor

    def execute_field(
        self,
        parent_type: GraphQLObjectType,
        source: Any,
        field_details_list: Any,
        path: Any,
        position_context: Any,
    ) -> Any:
        """graphql-core's `execute_field`, with a resolver that nothing wraps called directly (api/resolver_calls.py)
        and its arguments converted once per request. Anything else, and any argument that fails to convert, takes
        graphql-core's and strawberry's own path, which reports errors as always."""
        if (
            not self._direct_calls()
            or parent_type is self.schema.query_type
            or parent_type is self.schema.mutation_type
        ):
            return super().execute_field(parent_type, source, field_details_list, path, position_context)
        first = field_details_list[0]
        node = first.node
        field_def = self.schema.get_field(parent_type, node.name.value)
        call = resolver_call(self.schema, field_def) if field_def is not None else None
        if call is None:
            return super().execute_field(parent_type, source, field_details_list, path, position_context)
        info = self.build_resolve_info(field_def, to_nodes(field_details_list), parent_type, path)  # type: ignore[arg-type]
        arguments = self._converted(call, field_def, first, info)
        if arguments is None:
            return super().execute_field(parent_type, source, field_details_list, path, position_context)
        return_type = field_def.type  # type: ignore[union-attr]
        try:
            result = call.call(source, info, arguments)
            if self.is_awaitable(result):
                return self.complete_awaitable_value(
                    return_type, field_details_list, info, path, result, position_context
                )
            completed = self.complete_value(return_type, field_details_list, info, path, result, position_context)
            if self.is_awaitable(completed):
                return _await_completed(self, completed, return_type, field_details_list, path)
        except Exception as raw_error:
            self.handle_field_error(raw_error, return_type, field_details_list, path)
            return None
        return completed

    def _direct_calls(self) -> bool:
        direct = self._direct
        if direct is None:
            direct = self._plans_enabled() and not (
                self.middleware_manager is not None and self.middleware_manager.middlewares
            )
            self._direct = direct
        return direct

    def _converted(self, call: ResolverCall, field_def: Any, first: Any, info: Any) -> dict[str, Any] | None:
        """The field's arguments as strawberry converts them (memoized per request when immutable), or None when
        they fail to: strawberry's own path then raises the same error where it always did."""
        if not field_def.args and not first.node.arguments:
            return {}
        fragment_variables = first.fragment_variable_values
        key = (id(field_def), id(first.node), id(fragment_variables))
        known = self._arguments.get(key)
        if known is not None:
            return known[1]
        try:
            raw = get_argument_values(
                field_def, first.node, self.variable_values, fragment_variables, self.hide_suggestions
            )
            converted = call.convert(raw, call.info(info))
        except Exception:
            return None
        if shareable(converted):
            self._arguments[key] = ((field_def, first.node, fragment_variables), converted)
        return converted

    def complete_iterable_value(
        self,
        item_type: GraphQLOutputType,
        field_details_list: Any,
        info: GraphQLResolveInfo,
        path: Any,
        items: Iterable[Any],
        position_context: Any,
    ) -> Any:
        plan = self._list_plan(item_type, field_details_list, path, position_context)
        if plan is None:
            return super().complete_iterable_value(
                item_type, field_details_list, info, path, items, position_context
            )
        return self._complete_planned(plan, item_type, field_details_list, info, path, items)

    def _list_plan(
        self, item_type: GraphQLOutputType, field_details_list: Any, path: Any, position_context: Any
    ) -> ListPlan | None:
        """The plan for this list field, or None where graphql-core's own path must run: @defer or @stream in
        play, middleware (a schema extension's `resolve`), items that are not of one object type."""
        if position_context is not None:
            return None
        key = id(field_details_list)
        memo = self._list_plans.get(key)
        if memo is not None:
            return memo[1]
        plan = self._new_plan(item_type, field_details_list, path) if self._plans_enabled() else None
        self._list_plans[key] = (field_details_list, plan)  # the list kept alive: its id stays its own
        return plan

    def collect_and_execute_subfields(
        self,
        return_type: GraphQLObjectType,
        field_details_list: Any,
        path: Any,
        result: Any,
        position_context: Any,
    ) -> Any:
        """One object (not a list item: those go through `complete_iterable_value`), e.g. `current { value }` of
        each point: its fast fields by the plan, the rest by `execute_fields`, as for list items."""
        plan = self._object_plan(return_type, field_details_list, position_context)
        if plan is not None:
            try:
                fast = complete_fast_fields(plan, result)
            except NotPlain:
                pass
            else:
                if plan.all_fast:
                    return fast
                slow = self.execute_fields(return_type, result, path, plan.slow, None)
                if self.is_awaitable(slow):
                    return _merge_later(plan, fast, slow)
                return merged(plan, fast, slow)  # type: ignore[arg-type]
        return super().collect_and_execute_subfields(
            return_type, field_details_list, path, result, position_context
        )

    def _object_plan(
        self, object_type: GraphQLObjectType, field_details_list: Any, position_context: Any
    ) -> ListPlan | None:
        if position_context is not None:
            return None
        key = (id(field_details_list), id(object_type))
        memo = self._object_plans.get(key)
        if memo is not None:
            return memo[1]
        plan = None
        if self._plans_enabled() and not (self.middleware_manager and self.middleware_manager.middlewares):
            grouped_field_set, new_defer_usages, _ = self.collect_subfields(object_type, field_details_list)
            if not new_defer_usages:
                plan = build_plan(self.schema, object_type, grouped_field_set)
        self._object_plans[key] = (field_details_list, plan)
        return plan

    def _plans_enabled(self) -> bool:
        """API_LIST_PLANS of the request's server (on when the context carries no settings)."""
        settings = getattr(self.context_value, "settings", None)
        return bool(getattr(settings, "api_list_plans", True))

    def _new_plan(self, item_type: GraphQLOutputType, field_details_list: Any, path: Any) -> ListPlan | None:
        object_type = item_type.of_type if isinstance(item_type, GraphQLNonNull) else item_type
        if not isinstance(object_type, GraphQLObjectType):
            return None
        if self.middleware_manager is not None and self.middleware_manager.middlewares:
            return None
        if self.get_stream_usage(field_details_list, path) is not None:
            return None
        grouped_field_set, new_defer_usages, _ = self.collect_subfields(object_type, field_details_list)
        if new_defer_usages:
            return None
        return build_plan(self.schema, object_type, grouped_field_set, for_list=True)

    def _complete_planned(
        self,
        plan: ListPlan,
        item_type: GraphQLOutputType,
        field_details_list: Any,
        info: GraphQLResolveInfo,
        path: Any,
        items: Iterable[Any],
    ) -> Any:
        """graphql-core's `complete_iterable_value` (no @stream), with plain items completed by the plan."""
        if not plan.all_fast:
            return self._complete_mixed(plan, item_type, field_details_list, info, path, items)
        is_type_of = plan.item_type.is_type_of
        is_awaitable = self.is_awaitable
        completed: list[Any] = []
        append = completed.append
        awaitable_indices: list[int] = []
        iterator = iter(items)
        index = 0
        try:
            for item in iterator:
                if item is not None and not isinstance(item, Exception) and not is_awaitable(item):
                    try:
                        if is_type_of is not None and is_type_of(item, info) is not True:
                            raise NotPlain
                        append(complete_fast_fields(plan, item))
                        index += 1
                        continue
                    except NotPlain:
                        pass
                if self._complete_item(item, completed, item_type, field_details_list, info, path.add_key(index)):
                    awaitable_indices.append(index)
                index += 1
        except Exception:
            self._settle(completed, awaitable_indices, iterator)
            raise
        return self._gathered(completed, awaitable_indices)

    def _complete_mixed(
        self,
        plan: ListPlan,
        item_type: GraphQLOutputType,
        field_details_list: Any,
        info: GraphQLResolveInfo,
        path: Any,
        items: Iterable[Any],
    ) -> Any:
        """As `_complete_planned`, for a selection with fields the plan leaves to `execute_fields`."""
        object_type = plan.item_type
        is_type_of = object_type.is_type_of
        is_awaitable = self.is_awaitable
        completed: list[Any] = []
        append = completed.append
        awaitable_indices: list[int] = []
        iterator = iter(items)
        index = 0
        try:
            for item in iterator:
                item_path = path.add_key(index)
                if item is not None and not isinstance(item, Exception) and not is_awaitable(item):
                    try:
                        if is_type_of is not None and is_type_of(item, info) is not True:
                            raise NotPlain
                        fast = complete_fast_fields(plan, item)
                    except NotPlain:
                        pass
                    else:
                        try:
                            slow = self.execute_fields(object_type, item, item_path, plan.slow, None)
                        except Exception as raw_error:
                            self.handle_field_error(raw_error, item_type, field_details_list, item_path)
                            append(None)
                        else:
                            if is_awaitable(slow):
                                append(
                                    self._await_mixed(plan, fast, slow, item_type, field_details_list, item_path)
                                )
                                awaitable_indices.append(index)
                            else:
                                append(merged(plan, fast, slow))  # type: ignore[arg-type]
                        index += 1
                        continue
                if self._complete_item(item, completed, item_type, field_details_list, info, item_path):
                    awaitable_indices.append(index)
                index += 1
        except Exception:
            self._settle(completed, awaitable_indices, iterator)
            raise
        return self._gathered(completed, awaitable_indices)

    async def _await_mixed(
        self,
        plan: ListPlan,
        fast: dict[str, Any],
        slow: Any,
        item_type: GraphQLOutputType,
        field_details_list: Any,
        item_path: Any,
    ) -> Any:
        try:
            answered: dict[str, Any] = await slow
            return merged(plan, fast, answered)
        except Exception as raw_error:
            self.handle_field_error(raw_error, item_type, field_details_list, item_path)
            return None

    def _complete_item(
        self,
        item: Any,
        completed: list[Any],
        item_type: GraphQLOutputType,
        field_details_list: Any,
        info: GraphQLResolveInfo,
        item_path: Any,
    ) -> bool:
        """One item by graphql-core's own path (appended to `completed`); True when what it appended awaits."""
        if self.is_awaitable(item):
            completed.append(
                self.complete_awaitable_list_item_value(item, item_type, field_details_list, info, item_path, None)
            )
            return True
        return bool(
            self.complete_list_item_value(item, completed, item_type, field_details_list, info, item_path, None)
        )

    def _settle(self, completed: list[Any], awaitable_indices: list[int], iterator: Any) -> None:
        pending = [completed[index] for index in awaitable_indices]
        pending.extend(item for item in iterator if self.is_awaitable(item))
        if pending:
            self.settle_in_background(pending)

    def _gathered(self, completed: list[Any], awaitable_indices: list[int]) -> Any:
        if not awaitable_indices:
            return completed
        return _gather_into(completed, awaitable_indices)


async def _await_completed(
    executor: Any, completed: Any, return_type: Any, field_details_list: Any, path: Any
) -> Any:
    try:
        return await completed
    except Exception as raw_error:
        executor.handle_field_error(raw_error, return_type, field_details_list, path)
        return None


async def _merge_later(plan: ListPlan, fast: dict[str, Any], slow: Any) -> dict[str, Any]:
    answered: dict[str, Any] = await slow
    return merged(plan, fast, answered)


async def _gather_into(completed: list[Any], awaitable_indices: list[int]) -> list[Any]:
    if len(awaitable_indices) == 1:
        index = awaitable_indices[0]
        completed[index] = await completed[index]
        return completed
    results = await gather_with_cancel(*(completed[index] for index in awaitable_indices))
    for index, result in zip(awaitable_indices, results, strict=True):
        completed[index] = result
    return completed
