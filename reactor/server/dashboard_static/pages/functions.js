// Functions: every function with its kind, visibility and validators; run any of them
// (internal too) with JSON arguments, optionally as a user, and see result, logs, duration.
import { h, live, parseJson, toJson } from "../util.js";

function describe(validator) {
  if (!validator) return "any";
  if (validator.type === "object") {
    const fields = Object.entries(validator.value).map(([k, f]) => `${k}${f.optional ? "?" : ""}: ${describe(f.fieldType)}`);
    return `{ ${fields.join(", ")} }`;
  }
  if (validator.type === "array") return `${describe(validator.value)}[]`;
  if (validator.type === "union") return validator.value.map(describe).join(" | ");
  if (validator.type === "literal") return JSON.stringify(validator.value);
  if (validator.type === "id") return `id<${validator.tableName}>`;
  return validator.type;
}

export function render({ client, main, api }) {
  const list = h("tbody", { id: "function-list" });
  const runner = h("section", { class: "card", id: "runner", "aria-label": "Run a function" }, h("p", { class: "muted" }, "Choose a function to run it."));
  main.append(h("div", { class: "grid2" },
    h("section", {}, h("h2", {}, "Functions"), h("div", { class: "scroll" }, h("table", {},
      h("thead", {}, h("tr", {}, ["path", "kind", "visibility", "args", "returns"].map((c) => h("th", { scope: "col" }, c)))), list))),
    runner));
  const stop = live(client, "_system/dashboard:functions", {}, (functions) => {
    list.replaceChildren(...functions.map((fn) => h("tr", { tabindex: 0, "data-path": fn.path,
      onclick: () => choose(fn), onkeydown: (e) => { if (e.key === "Enter") choose(fn); } },
      h("td", { class: "mono" }, fn.path), h("td", {}, fn.kind), h("td", {}, fn.visibility),
      h("td", { class: "mono", title: describe(fn.args) }, describe(fn.args)), h("td", { class: "mono" }, describe(fn.returns)))));
  });

  function choose(fn) {
    const args = h("textarea", { id: "run-args", rows: 6, "aria-label": "Arguments (JSON object)" }, "{}");
    const identity = h("textarea", { id: "run-identity", rows: 2, "aria-label": "Act as user (JSON identity, optional)",
      placeholder: '{"subject": "user-1", "email": "a@example.com"}' });
    const output = h("div", { id: "run-output", "aria-live": "polite" });
    async function run(event) {
      event.preventDefault();
      output.replaceChildren(h("p", { class: "muted" }, "running…"));
      let body;
      let as;
      try {
        body = { path: fn.path, args: parseJson(args.value, "arguments"), format: "json" };
        as = identity.value.trim() ? parseJson(identity.value, "identity") : undefined;
      } catch (problem) {
        output.replaceChildren(h("p", { class: "error" }, problem.message));
        return;
      }
      const started = performance.now();
      const reply = await api("/api/run", { method: "POST", body, identity: as });
      const ms = performance.now() - started;
      const result = await reply.json();
      const failed = !reply.ok || result.status !== "success";
      output.replaceChildren(
        h("p", {}, h("span", { class: `badge ${failed ? "error" : "success"}`, id: "run-status" }, failed ? "error" : "success"),
          ` in ${ms.toFixed(1)} ms`),
        h("h3", {}, failed ? "Error" : "Result"),
        h("pre", { id: "run-result" }, failed ? (result.errorMessage ?? result.message) : toJson(result.value, 2)),
        h("h3", {}, "Log lines"),
        h("pre", { id: "run-logs" }, (result.logLines ?? []).join("\n") || "(none)"));
    }
    runner.replaceChildren(h("form", { class: "editor", onsubmit: run },
      h("h3", {}, `Run ${fn.path}`),
      h("p", { class: "muted" }, `${fn.kind}, ${fn.visibility}; args ${describe(fn.args)}`),
      h("label", { for: "run-args" }, "Arguments (JSON object)"), args,
      h("label", { for: "run-identity" }, "Act as user (identity JSON; empty: as the admin)"), identity,
      h("div", {}, h("button", { type: "submit", class: "primary", id: "run" }, "Run")), output));
    args.focus();
  }
  return stop;
}
