// The access token the user gave, shared by both pages (localStorage of this origin only).
// HTTP requests send it as `Authorization: Bearer TOKEN`; WebSocket subscriptions send
// {"authorization": "Bearer TOKEN"} as the payload of graphql-transport-ws's connection_init.

const KEY = "t3000gql.token";
const listeners = new Set();

export function getToken() {
  try {
    return localStorage.getItem(KEY) || "";
  } catch {
    return "";
  }
}

export function setToken(token) {
  const value = (token || "").trim();
  try {
    if (value) localStorage.setItem(KEY, value);
    else localStorage.removeItem(KEY);
  } catch {
    // storage refused (private mode): the token lasts as long as the page
  }
  for (const listener of listeners) listener(value);
}

export function onTokenChange(listener) {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

export function bearer(token = getToken()) {
  return token ? `Bearer ${token}` : "";
}

export function authHeaders(token = getToken()) {
  return token ? { Authorization: bearer(token) } : {};
}

export function connectionParams(authorization) {
  return authorization ? { authorization } : {};
}

// A small "Token" control for a page header: shows whether a token is set, lets the user set or clear it.
export function mountTokenControl(container) {
  const wrap = document.createElement("span");
  wrap.className = "token-control";
  const button = document.createElement("button");
  button.type = "button";
  button.className = "token-button";
  const form = document.createElement("form");
  form.className = "token-form";
  form.hidden = true;
  form.innerHTML =
    '<label>Token <input type="password" name="token" autocomplete="off" aria-label="access token"></label>' +
    '<button type="submit">Use</button><button type="button" data-clear>Clear</button>';
  const input = form.querySelector("input");
  const render = () => {
    const set = Boolean(getToken());
    button.textContent = set ? "Token ✓" : "Token";
    button.title = set ? "Requests carry your access token (click to change)" : "Give an access token";
    button.classList.toggle("is-set", set);
  };
  button.addEventListener("click", () => {
    form.hidden = !form.hidden;
    if (!form.hidden) {
      input.value = getToken();
      input.focus();
    }
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    setToken(input.value);
    form.hidden = true;
  });
  form.querySelector("[data-clear]").addEventListener("click", () => {
    setToken("");
    input.value = "";
    form.hidden = true;
  });
  onTokenChange(render);
  render();
  wrap.append(button, form);
  container.append(wrap);
}
