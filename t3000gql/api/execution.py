"""The execution context class of our schema: strawberry's, with a fix for long-lived subscriptions.

graphql-core 3.3.2 runs each subscription event on a shallow copy of the subscription's executor, so every event
shares one memo of collected subfields, keyed by the id of a field list that is built anew for each event. The
memo never hits across events and keeps every list alive: a subscription grows by about 1.4 KB per event for as
long as it runs (100,000 events made a server 200 MB larger). Each event gets a memo of its own here, which is
all the memo is good for (lists within one result). The internals touched are fenced in t3000gql/compat/.

It also tells the request's context which kind of operation runs (`Context.operation_type`), for the API's
request-time histogram: known here for the price of one attribute, where the HTTP view would parse again.
"""

from __future__ import annotations

from typing import Any

from t3000gql.compat.graphql_core import fresh_subfield_memo
from t3000gql.compat.strawberry import StrawberryGraphQLCoreExecutionContext


class SubscriptionSafeExecutionContext(StrawberryGraphQLCoreExecutionContext):
    def execute_operation(self, serially: bool | None = None) -> Any:
        context = self.context_value
        if hasattr(context, "operation_type"):
            context.operation_type = self.operation.operation.value
        return super().execute_operation(serially)

    def build_per_event_executor(self, payload: Any) -> Any:
        executor = super().build_per_event_executor(payload)
        fresh_subfield_memo(executor)
        return executor
