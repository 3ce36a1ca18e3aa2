// Logs: waits for the durable log store; until then it says so.
import { h } from "../util.js";

export function render({ main }) {
  main.append(h("h2", {}, "Logs"), h("p", { class: "muted", id: "logs-unavailable" }, "The function log store is not available in this build."));
  return null;
}
