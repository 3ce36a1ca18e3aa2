// Files: the newest stored files (`_storage`), live, with their download links.
import { h, live, when } from "../util.js";

export function render({ client, main }) {
  const rows = h("tbody", { id: "files" });
  main.append(h("h2", {}, "Files"), h("p", { class: "muted" }, "The 100 newest stored files."),
    h("table", {}, h("thead", {}, h("tr", {}, ["id", "content type", "size", "sha256", "uploaded"].map((c) => h("th", { scope: "col" }, c)))), rows));
  return live(client, "_system/dashboard:files", { paginationOpts: { numItems: 100, cursor: null } }, (page) => {
    rows.replaceChildren(...page.page.map((f) => h("tr", {},
      h("td", { class: "mono" }, f.url ? h("a", { href: f.url, target: "_blank", rel: "noopener" }, f._id) : f._id),
      h("td", {}, f.contentType ?? ""), h("td", {}, `${Number(f.size).toLocaleString("en-US")} B`),
      h("td", { class: "mono" }, f.sha256.slice(0, 16)), h("td", {}, when(f._creationTime)))));
    if (!page.page.length) rows.replaceChildren(h("tr", {}, h("td", { colspan: 5, class: "muted" }, "No files stored.")));
  });
}
