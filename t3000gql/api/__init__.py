"""The GraphQL API.

schema.py      composes Query / Mutation / Subscription from the area classes (extend it there)
devices.py, points.py, trend_logs.py, history.py    one area each: its queries and mutations
types.py       object types over storage records; nested fields use the loaders
faults.py      RefreshError and PointFailure: why a device gave no value, as data beside the values
inputs.py      input types and their conversion to domain inputs
scalars.py     DateTime and the column scalars
enums.py       PointType and Aggregate as GraphQL enums
context.py     the typed Context (services, loaders, request) that every resolver gets
loaders.py     per-request DataLoaders
history_reads.py  history requests: argument checks, limits, reads (no GraphQL)
errors.py      the one mapping of errors to `extensions.code`
limits.py      document limits and the request gate (concurrency, timeout)
view.py        the ASGI endpoint: GraphQL over HTTP, WebSocket, GraphiQL
metrics.py     /metrics
"""
