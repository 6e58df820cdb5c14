// Runs the Apollo Client snippet of docs/clients.md against a live t3000gql: `node check.mjs SNIPPET.mjs`.
// tests/api/test_clients_doc.py writes the snippet (its server URLs pointed at the test's server, its imports at
// the files Node's ES module resolver needs) and runs this. It prints one JSON line of what it saw and exits 0,
// or throws (exit 1) naming the step that failed.
//
// fetch is wrapped before Apollo loads (HttpLink takes the global fetch when it is imported), to record what
// goes over the wire: the method, and whether the query text or only its hash was sent.

import { pathToFileURL } from "node:url";

import { WebSocket } from "ws";

globalThis.WebSocket = WebSocket; // Node 20 has no global WebSocket; browsers do

const requests = [];
const realFetch = globalThis.fetch;
globalThis.fetch = async (url, init = {}) => {
  const method = (init.method || "GET").toUpperCase();
  const params = new URL(url).searchParams;
  const body = method === "POST" ? JSON.parse(init.body) : Object.fromEntries(params);
  const extensions = typeof body.extensions === "string" ? JSON.parse(body.extensions) : body.extensions;
  requests.push({ method, text: Boolean(body.query), hash: Boolean(extensions && extensions.persistedQuery) });
  return realFetch(url, init);
};

const { client, wsClient } = await import(pathToFileURL(process.argv[2]).href);
const { gql } = await import("@apollo/client/core/index.js");

function check(condition, what, seen) {
  if (!condition) throw new Error(`${what}: ${JSON.stringify(seen)}`);
}

const variables = { deviceId: 1001 };
const HISTORY = gql`
  query History($deviceId: Int!) {
    point(deviceId: $deviceId, pointType: INPUT, pointNumber: 1) {
      id
      history(start: "2024-12-31T00:00:00Z", end: "2025-01-01T00:00:00Z") { totalPoints }
    }
  }
`;
const NAME = gql`
  query Name($deviceId: Int!) {
    point(deviceId: $deviceId, pointType: INPUT, pointNumber: 1) { id pointName }
  }
`;

// 1. Persisted queries: the hash alone by GET, a miss, then the text by POST.
const first = await client.query({ query: HISTORY, variables });
check(first.data.point.history.totalPoints === 96, "history", first.data);
const firstRequests = requests.splice(0);
check(
  JSON.stringify(firstRequests) ===
    JSON.stringify([
      { method: "GET", text: false, hash: true },
      { method: "POST", text: true, hash: true },
    ]),
  "a new query: hash by GET, then the text by POST",
  firstRequests,
);

// 2. The cache loss: another selection of the same point must not make the first query unreadable.
const second = await client.query({ query: NAME, variables });
check(second.data.point.pointName === "Supply air", "name", second.data);
const cached = client.readQuery({ query: HISTORY, variables });
check(cached && cached.point.history.totalPoints === 96, "history still readable from the cache", cached);
const key = client.cache.identify(second.data.point);
check(key === `MonitoringPoint:${second.data.point.id}`, "cache key", key);
requests.splice(0);

// 3. A known query again from the network: the hash alone, by GET.
await client.query({ query: HISTORY, variables, fetchPolicy: "network-only" });
const again = requests.splice(0);
check(JSON.stringify(again) === JSON.stringify([{ method: "GET", text: false, hash: true }]), "hash only", again);

// 4. node(id:) refetches the point by its id.
const NODE = gql`query Node($id: ID!) { node(id: $id) { id ... on MonitoringPoint { pointName } } }`;
const node = await client.query({ query: NODE, variables: { id: second.data.point.id } });
check(node.data.node.pointName === "Supply air", "node", node.data);

// 5. errorPolicy "all": data beside the error, nothing thrown.
const UNKNOWN = gql`{ device(deviceId: 7) { id deviceName } }`;
const unknown = await client.query({ query: UNKNOWN });
const code = unknown.errors && unknown.errors[0].extensions.code;
check(unknown.data.device === null && code === "NOT_FOUND", "errors beside data", unknown);

// 6. A subscription over graphql-transport-ws: the first current value.
const VALUES = gql`subscription { pointValues(deviceId: 1001) { deviceId pointType pointNumber value source } }`;
const live = await new Promise((resolve, reject) => {
  const subscription = client.subscribe({ query: VALUES }).subscribe({
    next: ({ data }) => {
      subscription.unsubscribe();
      resolve(data.pointValues);
    },
    error: reject,
  });
});
check(live.deviceId === 1001, "subscription", live);
await wsClient.dispose();

console.log(JSON.stringify({ pointId: second.data.point.id, cacheKey: key, firstRequests, again, live }));
