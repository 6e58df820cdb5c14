// Monaco (GraphiQL's editor) runs its language services in web workers. They are built beside the page
// (scripts/build_web.sh) and started from this server: nothing is fetched from a CDN.

const BASE = "/static/workers/";

globalThis.MonacoEnvironment = {
  getWorker(_workerId, label) {
    const name = label === "json" ? "json.worker" : label === "graphql" ? "graphql.worker" : "editor.worker";
    return new Worker(`${BASE}${name}.js`, { name: label });
  },
};
