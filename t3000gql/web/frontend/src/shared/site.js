// What the server tells the page about the site: its time zone, how long a value is fresh, its clock.
// The server writes this JSON into the page (no extra request before the first paint).

const element = document.getElementById("t3000gql-site");
export const site = Object.assign(
  { timezone: "UTC", cacheDurationSeconds: 60, serverNowMs: Date.now(), graphqlPath: "/graphql" },
  element ? JSON.parse(element.textContent || "{}") : {},
);
const clockOffset = site.serverNowMs - Date.now();

// "Now" on the server's clock: staleness and live ranges follow the server, not this computer.
export function serverNow() {
  return Date.now() + clockOffset;
}

export function graphqlHttpUrl() {
  return site.graphqlPath;
}

export function graphqlWsUrl() {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${location.host}${site.graphqlPath}`;
}
