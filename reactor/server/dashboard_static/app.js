// The dashboard shell: sign-in with the admin key (or a one-time code), the page router and
// the live connection. Pages subscribe to `_system/` queries through reactor-client.
import { ReactorClient } from "./client/index.js";

const PAGES = ["data", "functions", "logs", "schedules", "env", "files", "schema", "health"];
const KEY = "reactor-dashboard-admin-key";
const main = document.getElementById("main");
let client = null;
let stopPage = null;

/** fetch() under the admin key; `identity` makes an admin call act as that user. */
function api(path, { method = "GET", body, identity } = {}) {
  const key = sessionStorage.getItem(KEY);
  const acting = identity ? `:${btoa(JSON.stringify(identity))}` : "";
  const headers = { Authorization: `Convex ${key}${acting}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  return fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
}

async function redeemCode() {
  const match = /[#&]code=([^&]+)/.exec(location.hash);
  if (!match) return;
  history.replaceState(null, "", location.pathname + "#/data");
  const reply = await fetch("/_dashboard/api/login", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ code: decodeURIComponent(match[1]) }),
  });
  const body = await reply.json();
  if (reply.ok) sessionStorage.setItem(KEY, body.adminKey);
  else document.getElementById("sign-in-error").textContent = body.message;
}

/** Whether the stored key is the deployment's admin key (the health figures need it). */
async function keyWorks() {
  if (!sessionStorage.getItem(KEY)) return false;
  const reply = await api("/_dashboard/api/health");
  if (reply.ok) return true;
  const body = await reply.json().catch(() => ({}));
  document.getElementById("sign-in-error").textContent = body.message || `HTTP ${reply.status}`;
  sessionStorage.removeItem(KEY);
  return false;
}

function showSignIn() {
  document.getElementById("shell").hidden = true;
  document.getElementById("sign-in").hidden = false;
  document.getElementById("admin-key").focus();
}

function startSession() {
  document.getElementById("sign-in").hidden = true;
  document.getElementById("shell").hidden = false;
  const connection = document.getElementById("connection");
  client = new ReactorClient(location.origin, {
    onConnectionChange: (state) => {
      const online = state.isWebSocketConnected;
      connection.dataset.state = online ? "online" : "offline";
      connection.textContent = online ? "live" : "reconnecting";
    },
  });
  client.setAdminAuth(sessionStorage.getItem(KEY));
  route();
}

async function route() {
  if (!client) return;
  const name = location.hash.replace(/^#\/?/, "").split("?")[0] || "data";
  const page = PAGES.includes(name) ? name : "data";
  for (const link of document.querySelectorAll("nav a")) {
    if (link.getAttribute("href") === `#/${page}`) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  if (stopPage) stopPage();
  stopPage = null;
  main.replaceChildren();
  main.dataset.page = page;
  const module = await import(`./pages/${page}.js`);
  stopPage = module.render({ client, main, api }) || null;
}

document.getElementById("sign-in-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  sessionStorage.setItem(KEY, document.getElementById("admin-key").value.trim());
  document.getElementById("admin-key").value = "";
  if (await keyWorks()) startSession();
});

document.getElementById("sign-out").addEventListener("click", async () => {
  sessionStorage.removeItem(KEY);
  if (stopPage) stopPage();
  if (client) await client.close();
  client = null;
  showSignIn();
});

/** Signs in from a one-time code in the address, or the key this tab already holds. */
async function boot() {
  await redeemCode();
  if (client) route();
  else if (await keyWorks()) startSession();
  else showSignIn();
}

// A link with a code opened in a tab already at the dashboard only changes the fragment.
window.addEventListener("hashchange", () => (/[#&]code=/.test(location.hash) ? boot() : route()));
await boot();
