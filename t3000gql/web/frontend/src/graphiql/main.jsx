// GraphiQL at /graphql, served with everything it needs by this server (no CDN): the editor's workers, the
// explorer plugin, the schema's examples, and a Token control for servers that require one.

import "./workers.js";
import { createRoot } from "react-dom/client";
import { GraphiQL, HISTORY_PLUGIN } from "graphiql";
import { explorerPlugin } from "@graphiql/plugin-explorer";
import "graphiql/style.css";
import "@graphiql/plugin-explorer/style.css";
import "./graphiql.css";
import { fetcher } from "./fetcher.js";
import { examplesPlugin } from "./examples.jsx";
import { mountTokenControl } from "../shared/token.js";

const DEFAULT_QUERY = `# t3000gql: building-automation data over GraphQL.
# The Examples panel (book icon, left) holds ready operations; Ctrl-Enter runs the one under the cursor.

query Devices {
  devices {
    deviceId
    deviceName
    online
    points {
      pointType
      pointNumber
      pointName
      unitSymbol
    }
  }
}
`;

// /graphql#query=…&variables=… opens a shared link's operation (in the fragment: a GET with ?query= is a
// GraphQL request to this same URL, which the server executes).
const params = new URLSearchParams(location.hash.slice(1));
const plugins = [HISTORY_PLUGIN, examplesPlugin, explorerPlugin()];

mountTokenControl(document.getElementById("token"));
createRoot(document.getElementById("graphiql")).render(
  <GraphiQL
    fetcher={fetcher}
    plugins={plugins}
    defaultQuery={DEFAULT_QUERY}
    initialQuery={params.get("query") || undefined}
    initialVariables={params.get("variables") || undefined}
    isHeadersEditorEnabled
    shouldPersistHeaders={false}
  />,
);
