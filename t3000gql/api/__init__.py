"""The GraphQL API: resolvers of a few lines over the services (docs/architecture.md shows the layers).

schema.py             composes Query / Mutation / Subscription from the area classes (extend it there)
devices.py            devices: list, look up, create or change, delete (over the registry service)
points.py             points: look up, define, delete (over the registry service); write current values
trend_logs.py         trend logs: list, look up, create or change, delete (over the registry service)
history.py            one point's time series, many points for a chart, storing samples in bulk
buckets.py            calendar or fixed buckets with start/end, TWA/DELTA/RANGE, fill, the value at the start
quality.py            gaps and dataQuality: where one point's history is missing or suspicious (docs/quality.md)
sample_quality.py     each history sample's quality (GOOD, UNCERTAIN, BAD), computed on read when selected
collection.py         collect a trend log now, refresh a point from its device, write a value to a device
stations.py           power stations and their readings, the station monitor, the powerReadings subscription
subscriptions.py      pointValues and deviceStatus, fed by the live bus
shared_subscriptions.py  identical subscriptions share one execution and one serialized message per event
types.py              object types over storage records; nested fields use the loaders
faults.py             RefreshError and PointFailure: why a device gave no value, as data beside the values
station_types.py      object types of stations, their connections, readings and buckets
mapping.py            fills an object type from the record it shows (same-named fields copied)
ids.py                global ids (`id: ID!`, base64 of "Type:key") from external keys
nodes.py              the Node lookups behind `node(id:)`
inputs.py             input types and their conversion to domain inputs
station_inputs.py     input types of stations and readings, and their conversion to domain inputs
scalars.py            DateTime and the column scalars
enums.py              the closed sets as GraphQL enums (PointType, DeviceProtocol, DataSource, ...), storage strings
                      as values
context.py            the typed Context (services, registry, loaders, request) that every resolver gets
loaders.py            per-request DataLoaders (the read path)
history_reads.py      history requests: argument checks, limits, reads (no GraphQL)
errors.py             the one mapping of errors to `extensions.code`, and of domain field names to argument names;
                      device errors' details for admins only
limits.py             document limits, list caps, the request's history budget, the request gate (concurrency,
                      timeout)
access.py             the role each field needs (`needs`), checked before its resolver runs
authentication.py     who an HTTP request acts as (bearer token), the per-token rate limit, 401 / 429 (called by the edge)
edge.py               one ASGI layer before every route: Host and Origin checks, body cap, WebSocket cap, identity
tokens.py             `me`, and API tokens for admins (list, create, revoke)
audit_log.py          the audit trail for admins (auditLog)
execution.py          the schema's execution context: lists and objects completed by plans, a fix for long-lived
                      subscriptions, the operation's type
list_plans.py         which fields complete without graphql-core's per-field walk, lined up per selection
resolver_calls.py     resolvers called without strawberry's per-call wrapper, arguments converted once a request
gc_policy.py          how the server process collects cyclic garbage (API_GC_THRESHOLD)
view.py               the ASGI endpoint: GraphQL over HTTP, WebSocket, GraphiQL
websocket.py          the WebSocket protocols' keep-alive and message checks
persisted_queries.py  automatic persisted queries (Apollo's protocol): query texts by SHA-256, a bounded LRU
metrics.py            /metrics, written by prometheus-client (with health's histograms and states)
health.py             the health query and the healthAlerts subscription
health_routes.py      /health, /health/live, /health/ready
"""
