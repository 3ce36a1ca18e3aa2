// Data: tables with live counts; one live page of documents at a time (any index, either
// order, equality filters); view, insert, edit (schema errors at the field) and delete.
import { cell, h, live, parseJson, toJson, when } from "../util.js";

const PAGE_SIZE = 50;
const COUNT_EVERY_MS = 3000;
const SYSTEM = ["_id", "_creationTime"];

export function render({ client, main }) {
  // `pages`: where each page seen so far starts (cursor) and how many documents came before it.
  const state = { table: null, index: "by_creation_time", order: "desc", filters: [], pages: [{ cursor: null, before: 0 }], schema: null };
  const stops = [];
  let stopPage = null;
  const tableList = h("ul", { class: "plain", id: "tables", "aria-label": "Tables" });
  const indexSelect = h("select", { id: "index", "aria-label": "Sort by index" });
  const orderSelect = h(
    "select",
    { id: "order", "aria-label": "Order" },
    h("option", { value: "desc" }, "descending"),
    h("option", { value: "asc" }, "ascending"),
  );
  const filterField = h("input", { id: "filter-field", placeholder: "field", "aria-label": "Filter field", size: 12 });
  const filterValue = h("input", { id: "filter-value", placeholder: 'value (JSON, e.g. "a" or 3)', "aria-label": "Filter value", size: 18 });
  const filterList = h("span", { id: "filters" });
  const status = h("span", { id: "page-status", class: "muted", "aria-live": "polite" });
  const prev = h("button", { id: "prev-page", type: "button", disabled: true }, "← Previous");
  const next = h("button", { id: "next-page", type: "button", disabled: true }, "Next →");
  const grid = h("div", { class: "scroll", id: "documents" });
  const editor = h("section", { class: "card", id: "editor", hidden: true, "aria-label": "Document" });
  const error = h("p", { class: "error", role: "alert", id: "data-error" });

  main.append(
    h("div", { class: "split" },
      h("aside", {}, h("h2", {}, "Tables"), tableList),
      h("section", {},
        h("div", { class: "toolbar" },
          h("h2", { id: "table-title" }, "Select a table"),
          h("label", {}, "Index ", indexSelect), orderSelect,
          h("form", { id: "filter-form", class: "toolbar", onsubmit: addFilter }, filterField, "=", filterValue,
            h("button", { type: "submit" }, "Filter")),
          filterList),
        h("div", { class: "toolbar" }, prev, next, status,
          h("button", { id: "new-document", type: "button", class: "primary", onclick: () => openEditor(null) }, "New document")),
        error, grid, editor)));

  // Table sizes are re-counted every few seconds (counting a large table is too costly to
  // redo on every write) and at once after a write made here; the documents are live.
  let tick = 0;
  let stopTables = null;
  function countTables() {
    let previous = stopTables; // kept until the new count arrives: no flicker
    stopTables = live(client, "_system/dashboard:tables", { tick: ++tick }, (tables) => {
      showTables(tables);
      if (previous) previous();
      previous = null;
    });
  }
  countTables();
  const counter = setInterval(countTables, COUNT_EVERY_MS);
  stops.push(() => { clearInterval(counter); if (stopTables) stopTables(); });
  stops.push(live(client, "_system/dashboard:schema", {}, (schema) => {
    state.schema = schema;
    if (state.table) fillIndexes();
  }));
  indexSelect.addEventListener("change", () => { state.index = indexSelect.value; restart(); });
  orderSelect.addEventListener("change", () => { state.order = orderSelect.value; restart(); });
  prev.addEventListener("click", () => { state.pages.pop(); subscribePage(); });
  next.addEventListener("click", () => {
    const current = state.pages.at(-1);
    state.pages.push({ cursor: state.nextCursor, before: current.before + state.shown });
    subscribePage();
  });

  function showTables(tables) {
    tableList.replaceChildren(...tables.map((t) =>
      h("li", {}, h("button", { type: "button", "data-table": t.name, "aria-current": t.name === state.table ? "true" : "false",
        onclick: () => selectTable(t.name) }, h("span", {}, t.name), h("span", { class: "muted count" }, Number(t.count).toLocaleString("en-US"))))));
    if (!state.table && tables.length) selectTable(tables[0].name);
  }

  function selectTable(name) {
    state.table = name;
    state.filters = [];
    state.index = "by_creation_time";
    for (const b of tableList.querySelectorAll("button")) b.setAttribute("aria-current", b.dataset.table === name ? "true" : "false");
    main.querySelector("#table-title").textContent = name;
    fillIndexes();
    restart();
  }

  function tableSchema() {
    return state.schema?.tables.find((t) => t.name === state.table);
  }

  function fillIndexes() {
    const indexes = (tableSchema()?.indexes ?? []).filter((i) => i.kind === "database" && i.name !== "by_id");
    const names = indexes.length ? indexes.map((i) => i.name) : ["by_creation_time"];
    indexSelect.replaceChildren(...names.map((n) => h("option", { value: n, selected: n === state.index }, n)));
  }

  function addFilter(event) {
    event.preventDefault();
    try {
      const field = filterField.value.trim();
      if (!field) throw new Error("filter: name a field");
      state.filters.push({ field, value: parseJson(filterValue.value, `filter on ${field}`) });
      filterField.value = filterValue.value = "";
      restart();
    } catch (problem) {
      error.textContent = problem.message;
    }
  }

  function showFilters() {
    filterList.replaceChildren(...state.filters.map((f, i) =>
      h("button", { type: "button", class: "badge", title: "Remove this filter",
        onclick: () => { state.filters.splice(i, 1); restart(); } }, `${f.field} = ${toJson(f.value)} ✕`)));
  }

  function restart() {
    state.pages = [{ cursor: null, before: 0 }];
    showFilters();
    subscribePage();
  }

  function subscribePage() {
    if (stopPage) stopPage();
    error.textContent = "";
    const cursor = state.pages.at(-1).cursor;
    const args = { table: state.table, index: state.index, order: state.order, filters: state.filters,
      paginationOpts: { numItems: PAGE_SIZE, cursor } };
    stopPage = live(client, "_system/dashboard:documents", args, showPage, (e) => { error.textContent = e.message; });
  }

  function showPage(page) {
    state.nextCursor = page.continueCursor;
    state.shown = page.page.length;
    prev.disabled = state.pages.length <= 1;
    next.disabled = page.isDone;
    const first = state.pages.at(-1).before;
    // A filter no index serves reads a bounded stretch per page: say how much was read.
    const read = page.scanned === undefined ? "" : ` (filter checked ${page.scanned.toLocaleString("en-US")} documents${page.isDone ? "" : "; Next reads on"})`;
    status.textContent = (page.page.length ? `documents ${first + 1}–${first + page.page.length}` : "no documents here") + read;
    const fields = new Set();
    for (const doc of page.page) for (const key of Object.keys(doc)) if (!SYSTEM.includes(key)) fields.add(key);
    const columns = ["_id", ...fields, "_creationTime"];
    const rows = page.page.map((doc) =>
      h("tr", { tabindex: 0, "data-id": doc._id, onclick: () => openEditor(doc),
        onkeydown: (e) => { if (e.key === "Enter") openEditor(doc); } },
        columns.map((c) => h("td", {}, c === "_creationTime" ? when(doc[c]) : cell(doc[c])))));
    grid.replaceChildren(h("table", {}, h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col" }, c)))), h("tbody", {}, rows)));
  }

  function openEditor(doc) {
    const declared = tableSchema()?.validator?.value ?? {};
    const names = [...new Set([...Object.keys(declared), ...Object.keys(doc ?? {}).filter((k) => !SYSTEM.includes(k))])];
    const inputs = new Map();
    const errors = new Map();
    const kept = new Map();
    const integers = new Set();
    const general = h("p", { class: "error", role: "alert" });
    const rows = names.map((name) => fieldRow(name, doc?.[name], declared[name]));
    const extra = h("input", { placeholder: "new field name", "aria-label": "New field name", size: 16 });
    function fieldRow(name, value, validator) {
      const id = `field-${name}`;
      // int64 values edit as their exact digits; bytes are kept as they are (not editable here).
      const text = value === undefined ? "" : typeof value === "bigint" ? value.toString() : toJson(value);
      const input = h("input", { id, name, class: "mono", value: text, readonly: value instanceof ArrayBuffer,
        placeholder: validator ? `${validator.fieldType?.type ?? ""}${validator.optional ? " (optional)" : ""}` : "JSON" });
      if (value instanceof ArrayBuffer) kept.set(name, value);
      if (typeof value === "bigint" || validator?.fieldType?.type === "int64") integers.add(name);
      const message = h("span", { class: "error", id: `${id}-error`, role: "alert" });
      input.setAttribute("aria-describedby", message.id);
      inputs.set(name, input);
      errors.set(name, message);
      return h("div", { class: "field" }, h("label", { for: id }, name), input, message);
    }
    const fieldsBox = h("div", { class: "editor" }, rows);
    async function save(event) {
      event.preventDefault();
      for (const message of errors.values()) message.textContent = "";
      for (const input of inputs.values()) input.removeAttribute("aria-invalid");
      general.textContent = "";
      const document = {};
      try {
        for (const [name, input] of inputs) {
          const typed = input.value.trim();
          if (kept.has(name)) document[name] = kept.get(name);
          else if (typed === "") continue;
          else if (integers.has(name) && /^-?\d+$/.test(typed)) document[name] = BigInt(typed);
          else document[name] = parseJson(typed, name);
        }
      } catch (problem) {
        general.textContent = problem.message;
        return;
      }
      const result = doc
        ? await client.mutation("_system/dashboard:replace", { id: doc._id, document })
        : await client.mutation("_system/dashboard:insert", { table: state.table, document });
      if (result.ok) {
        editor.hidden = true;
        countTables();
        return;
      }
      for (const problem of result.errors) {
        const at = problem.field && errors.get(problem.field);
        if (at) {
          at.textContent = problem.message;
          inputs.get(problem.field).setAttribute("aria-invalid", "true");
          inputs.get(problem.field).focus();
        } else general.textContent = problem.message;
      }
    }
    async function remove() {
      if (!confirm(`Delete document ${doc._id}? This cannot be undone.`)) return;
      await client.mutation("_system/dashboard:remove", { ids: [doc._id] });
      editor.hidden = true;
      countTables();
    }
    editor.replaceChildren(
      h("form", { id: "document-form", onsubmit: save, class: "editor" },
        h("h3", {}, doc ? `Edit ${doc._id}` : `New document in ${state.table}`),
        doc ? h("p", { class: "muted" }, `created ${when(doc._creationTime)}`) : null,
        fieldsBox,
        h("div", { class: "toolbar" }, extra, h("button", { type: "button", onclick: () => {
          const name = extra.value.trim();
          if (name && !inputs.has(name)) fieldsBox.append(fieldRow(name, undefined, undefined));
          extra.value = "";
        } }, "Add field")),
        general,
        h("div", { class: "toolbar" },
          h("button", { type: "submit", class: "primary", id: "save-document" }, doc ? "Save" : "Insert"),
          doc ? h("button", { type: "button", class: "danger", id: "delete-document", onclick: remove }, "Delete") : null,
          h("button", { type: "button", onclick: () => { editor.hidden = true; } }, "Close"))));
    editor.hidden = false;
    (inputs.values().next().value ?? extra).focus();
  }

  return () => {
    for (const stop of stops) stop();
    if (stopPage) stopPage();
  };
}
