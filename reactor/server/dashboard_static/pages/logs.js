// Logs: function executions from the durable execution log (/api/admin/logs), newest first,
// followed live (new records are fetched after the last one seen, every second), filtered by
// function, status, text and time.
import { h, when } from "../util.js";

const FOLLOW_MS = 1000;
const KEEP = 500;
const SINCE = [["", "any time"], ["300000", "last 5 minutes"], ["3600000", "last hour"], ["86400000", "last day"]];

export function render({ main, api }) {
  const fn = h("input", { id: "log-function", placeholder: "function path", "aria-label": "Function path", size: 18 });
  const status = h("select", { id: "log-status", "aria-label": "Status" },
    h("option", { value: "" }, "any status"), h("option", { value: "success" }, "success"), h("option", { value: "failed" }, "failed"));
  const text = h("input", { id: "log-text", placeholder: "text in error or log lines", "aria-label": "Text", size: 22 });
  const since = h("select", { id: "log-since", "aria-label": "Time" }, SINCE.map(([v, l]) => h("option", { value: v }, l)));
  const system = h("input", { id: "log-system", type: "checkbox" });
  const rows = h("tbody", { id: "log-rows" });
  const error = h("p", { class: "error", role: "alert" });
  const follow = h("span", { class: "muted", id: "log-follow", "aria-live": "polite" });
  main.append(h("h2", {}, "Logs"),
    h("form", { class: "toolbar", id: "log-filters", onsubmit: (e) => { e.preventDefault(); restart(); } },
      fn, status, text, since, h("label", {}, system, " dashboard's own calls"), h("button", { type: "submit" }, "Apply"), follow),
    error,
    h("div", { class: "scroll" }, h("table", {}, h("thead", {}, h("tr", {},
      ["time", "function", "kind", "status", "duration", "caller", "error and log lines"].map((c) => h("th", { scope: "col" }, c)))), rows)));
  for (const control of [status, since, system]) control.addEventListener("change", restart);

  let records = [];
  let lastId = 0;
  let generation = 0;

  function params(extra) {
    const query = new URLSearchParams(extra);
    if (fn.value.trim()) query.set("function", fn.value.trim());
    if (status.value) query.set("status", status.value);
    if (text.value.trim()) query.set("text", text.value.trim());
    if (since.value) query.set("sinceMs", String(Date.now() - Number(since.value)));
    return query;
  }

  async function fetchRecords(extra) {
    const reply = await api(`/api/admin/logs?${params(extra)}`);
    const body = await reply.json();
    if (!reply.ok) throw new Error(body.message);
    return body;
  }

  function show() {
    const visible = system.checked ? records : records.filter((r) => !r.path.startsWith("_system/"));
    rows.replaceChildren(...visible.map((r) => h("tr", { "data-id": r.id, "data-path": r.path },
      h("td", {}, when(r.startedMs)), h("td", { class: "mono" }, r.path), h("td", {}, r.kind, r.note ? h("span", { class: "muted" }, ` ${r.note}`) : ""),
      h("td", {}, h("span", { class: `badge ${r.status}` }, r.status)), h("td", {}, `${r.durationMs.toFixed(1)} ms`),
      h("td", { class: "mono" }, r.caller ?? ""),
      h("td", {}, r.error ? h("pre", { class: "error" }, r.error) : "", r.logLines.length ? h("pre", { class: "log-lines" }, r.logLines.join("\n")) : ""))));
    if (!visible.length) rows.replaceChildren(h("tr", {}, h("td", { colspan: 7, class: "muted" }, "No executions match.")));
  }

  async function restart() {
    const mine = ++generation;
    error.textContent = "";
    try {
      const body = await fetchRecords({ newest: "1", limit: "200" });
      if (mine !== generation) return;
      records = body.records;
      lastId = body.lastId;
      show();
    } catch (problem) {
      error.textContent = problem.message;
    }
  }

  async function poll() {
    const mine = generation;
    try {
      const body = await fetchRecords({ after: String(lastId), limit: "500" });
      if (mine !== generation) return;
      if (body.records.length) {
        records = [...body.records.reverse(), ...records].slice(0, KEEP);
        show();
      }
      // Only past what was returned: a record written meanwhile comes with the next poll.
      for (const record of body.records) lastId = Math.max(lastId, record.id);
      follow.textContent = `following · ${new Date().toLocaleTimeString("en-GB")}`;
    } catch (problem) {
      error.textContent = problem.message;
    }
  }

  restart();
  const timer = setInterval(poll, FOLLOW_MS);
  return () => clearInterval(timer);
}
