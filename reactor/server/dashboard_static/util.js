// Small helpers shared by the pages: building elements and showing values.

/** `h("button", {class: "primary", onclick}, "Save")`: an element with attributes and children. */
export function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (name === "value") node.value = value;
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

/** A value as JSON text; int64 (BigInt) as a number, bytes as {"$bytes": length}. */
export function toJson(value, indent) {
  return JSON.stringify(
    value,
    (_key, item) => {
      if (typeof item === "bigint") return Number(item);
      if (item instanceof ArrayBuffer) return { $bytes: item.byteLength };
      return item;
    },
    indent,
  );
}

/** A short one-line rendering for a table cell. */
export function cell(value) {
  if (value === undefined) return "";
  if (typeof value === "string") return value;
  if (typeof value === "bigint") return value.toString();
  return toJson(value);
}

export function when(ms) {
  if (typeof ms !== "number" || !Number.isFinite(ms)) return "";
  return new Date(ms).toISOString().replace("T", " ").slice(0, 19);
}

/** A live query: `callback(value)` on each result; returns the stop function. */
export function live(client, path, args, callback, onError) {
  return client.onUpdate(path, args, callback, (error) => (onError ? onError(error) : console.warn(error.message)));
}

/** Parses JSON typed by the user; throws an Error naming `what` when it is not valid. */
export function parseJson(text, what) {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new Error(`${what}: not valid JSON (${error.message})`);
  }
}
