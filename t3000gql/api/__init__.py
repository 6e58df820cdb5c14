"""The GraphQL API.

schema.py      composes Query / Mutation / Subscription from the area classes (extend it there)
devices.py, points.py, trend_logs.py, history.py    one area each: its queries and mutations
types.py       object types over storage records; nested fields use the loaders
inputs.py      input types and their conversion to domain inputs
scalars.py     DateTime and the column scalars
enums.py       the closed sets as GraphQL enums (PointType, DeviceProtocol, DataSource, ...), storage strings as values
ids.py         global ids (`id: ID!`, base64 of "Type:key") from external keys
nodes.py       the Node lookups behind `node(id:)`
context.py     the typed Context (services, loaders, request) that every resolver gets
loaders.py     per-request DataLoaders
history_reads.py  history requests: argument checks, limits, reads (no GraphQL)
errors.py      the one mapping of errors to `extensions.code`
limits.py      document limits and the request gate (concurrency, timeout)
view.py        the ASGI endpoint: GraphQL over HTTP, WebSocket, GraphiQL
persisted_queries.py  automatic persisted queries (Apollo's protocol): query texts by SHA-256, a bounded LRU
metrics.py     /metrics
"""
