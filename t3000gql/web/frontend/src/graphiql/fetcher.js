// GraphiQL's fetcher: queries and mutations as HTTP POST, subscriptions over graphql-ws.
// Headers from GraphiQL's headers editor go with every HTTP request; the token (from the page's Token
// control) is sent as `Authorization: Bearer TOKEN` unless the headers editor gives an Authorization of its
// own. A subscription opens its own graphql-ws connection whose connection_init payload carries that same
// authorization as {"authorization": "Bearer TOKEN"}, so what the user sees in the editor is what is sent.

import { createClient } from "graphql-ws";
import { getOperationAST, parse } from "graphql";
import { bearer, connectionParams } from "../shared/token.js";
import { graphqlHttpUrl, graphqlWsUrl } from "../shared/site.js";

function operationType(params, documentAST) {
  try {
    const document = documentAST || parse(params.query);
    return getOperationAST(document, params.operationName || undefined)?.operation || "query";
  } catch {
    return "query"; // let the server explain the syntax error
  }
}

function authorizationOf(headers) {
  for (const [name, value] of Object.entries(headers || {})) {
    if (name.toLowerCase() === "authorization" && value) return String(value);
  }
  return bearer();
}

async function overHttp(params, headers) {
  const authorization = authorizationOf(headers);
  const response = await fetch(graphqlHttpUrl(), {
    method: "POST",
    headers: {
      Accept: "application/graphql-response+json, application/json",
      "Content-Type": "application/json",
      ...headers,
      ...(authorization ? { Authorization: authorization } : {}),
    },
    body: JSON.stringify(params),
  });
  const text = await response.text();
  try {
    return JSON.parse(text);
  } catch {
    return { errors: [{ message: `HTTP ${response.status}: ${text.slice(0, 500)}` }] };
  }
}

function overWebSocket(params, headers) {
  const client = createClient({
    url: graphqlWsUrl(),
    connectionParams: connectionParams(authorizationOf(headers)),
    lazy: true,
    retryAttempts: 0,
  });
  const iterator = client.iterate({
    query: params.query,
    variables: params.variables || {},
    operationName: params.operationName || undefined,
  });
  return {
    [Symbol.asyncIterator]() {
      return {
        next: () => iterator.next(),
        return: async () => {
          await iterator.return?.();
          await client.dispose();
          return { done: true, value: undefined };
        },
      };
    },
  };
}

export function fetcher(params, opts = {}) {
  const headers = opts.headers || {};
  if (operationType(params, opts.documentAST) === "subscription") return overWebSocket(params, headers);
  return overHttp(params, headers);
}
