// GraphQL for the trend page: queries over HTTP POST, subscriptions over one graphql-ws connection
// (graphql-transport-ws). Both carry the user's token when one is set.

import { createClient } from "graphql-ws";
import { authHeaders, bearer, connectionParams, onTokenChange } from "./token.js";
import { graphqlHttpUrl, graphqlWsUrl } from "./site.js";

export class GraphQLError extends Error {
  constructor(errors) {
    super(errors.map((e) => e.message).join("; "));
    this.errors = errors;
  }
}

export async function query(text, variables = {}, { signal } = {}) {
  const response = await fetch(graphqlHttpUrl(), {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "application/json", ...authHeaders() },
    body: JSON.stringify({ query: text, variables }),
    signal,
  });
  let body;
  try {
    body = await response.json();
  } catch {
    throw new Error(`the server answered ${response.status} ${response.statusText}`);
  }
  if (body.errors && body.errors.length) throw new GraphQLError(body.errors);
  return body.data;
}

let client = null;

function wsClient() {
  if (client === null) {
    client = createClient({
      url: graphqlWsUrl(),
      connectionParams: () => connectionParams(bearer()),
      lazy: true,
      retryAttempts: Infinity,
      shouldRetry: () => true,
    });
  }
  return client;
}

// A new token means a new connection_init: drop the connection; subscriptions resubscribe on the new one.
onTokenChange(() => {
  if (client !== null) client.terminate();
});

// Calls onData with each result's data until the returned function is called.
export function subscribe(text, variables, { onData, onError }) {
  return wsClient().subscribe(
    { query: text, variables },
    {
      next: (result) => {
        if (result.errors && result.errors.length) onError?.(new GraphQLError(result.errors));
        else onData(result.data);
      },
      error: (error) => onError?.(error instanceof Error ? error : new Error(String(error?.reason || error))),
      complete: () => {},
    },
  );
}
