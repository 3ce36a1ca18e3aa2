// Environment variables: list, set and remove through /api/admin/env; values stay hidden
// until revealed.
import { h } from "../util.js";

export function render({ main, api }) {
  const rows = h("tbody", { id: "env" });
  const error = h("p", { class: "error", role: "alert" });
  const name = h("input", { id: "env-name", placeholder: "NAME", "aria-label": "Variable name", required: true });
  const value = h("input", { id: "env-value", type: "password", placeholder: "value", "aria-label": "Variable value", autocomplete: "off" });
  main.append(h("h2", {}, "Environment variables"),
    h("form", { class: "toolbar", id: "env-form", onsubmit: set }, name, value, h("button", { type: "submit", class: "primary" }, "Set")),
    error, h("table", {}, h("thead", {}, h("tr", {}, ["name", "value", ""].map((c) => h("th", { scope: "col" }, c)))), rows));

  async function load() {
    const reply = await api("/api/admin/env");
    const body = await reply.json();
    if (!reply.ok) {
      error.textContent = body.message;
      return;
    }
    const names = Object.keys(body.variables).sort();
    rows.replaceChildren(...names.map((n) => {
      const shown = h("span", { class: "mono" }, "••••••");
      const reveal = h("button", { type: "button", "aria-pressed": "false", onclick: () => {
        const on = reveal.getAttribute("aria-pressed") !== "true";
        reveal.setAttribute("aria-pressed", String(on));
        reveal.textContent = on ? "Hide" : "Reveal";
        shown.textContent = on ? body.variables[n] : "••••••";
      } }, "Reveal");
      return h("tr", { "data-name": n }, h("td", { class: "mono" }, n), h("td", {}, shown, " ", reveal),
        h("td", {}, h("button", { type: "button", class: "danger", onclick: () => remove(n) }, "Remove")));
    }));
    if (!names.length) rows.replaceChildren(h("tr", {}, h("td", { colspan: 3, class: "muted" }, "No variables set.")));
  }

  async function set(event) {
    event.preventDefault();
    const reply = await api(`/api/admin/env/${encodeURIComponent(name.value.trim())}`, { method: "PUT", body: { value: value.value } });
    error.textContent = reply.ok ? "" : (await reply.json()).message;
    if (reply.ok) name.value = value.value = "";
    await load();
  }

  async function remove(n) {
    if (!confirm(`Remove ${n}?`)) return;
    await api(`/api/admin/env/${encodeURIComponent(n)}`, { method: "DELETE" });
    await load();
  }

  load();
  // Variables live in a private table: refresh now and then for changes made elsewhere.
  const timer = setInterval(load, 5000);
  return () => clearInterval(timer);
}
