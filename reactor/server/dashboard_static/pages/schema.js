// Schema and indexes: each table's validator and its indexes (all built: a schema change
// backfills its indexes before it is applied).
import { h, live, toJson } from "../util.js";

export function render({ client, main }) {
  const box = h("div", { id: "schema" });
  main.append(h("h2", {}, "Schema and indexes"), box);
  return live(client, "_system/dashboard:schema", {}, (schema) => {
    box.replaceChildren(
      h("p", { class: "muted" }, schema.validation ? "Documents are validated against schema.py." : "Schema validation is off."),
      ...schema.tables.map((t) => h("section", { class: "card", style: "margin-bottom:12px" },
        h("h3", {}, t.name, t.declared ? "" : h("span", { class: "badge" }, " schemaless")),
        h("table", {}, h("thead", {}, h("tr", {}, ["index", "kind", "fields", "state"].map((c) => h("th", { scope: "col" }, c)))),
          h("tbody", {}, t.indexes.map((i) => h("tr", {}, h("td", {}, i.name), h("td", {}, i.kind),
            h("td", { class: "mono" }, [...i.fields, ...(i.filterFields ?? []).map((f) => `filter ${f}`)].join(", ")),
            h("td", {}, h("span", { class: "badge success" }, i.state)))))),
        h("details", {}, h("summary", {}, "Validator"), h("pre", {}, toJson(t.validator, 2))))));
  });
}
