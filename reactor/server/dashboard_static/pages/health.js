// Health: connections, subscriptions, commits per second, call, commit and push latency
// percentiles and the database size, sampled every two seconds, with small SVG charts of the last two minutes.
import { h } from "../util.js";

const POINTS = 60;

/** The `q` percentile (ms, a bucket's upper bound) of what two cumulative histogram samples
 * counted in between; null when nothing was counted. */
function windowPercentile(now, before, q) {
  const counts = now.map(([bound, count], i) => [bound, count - (before?.[i]?.[1] ?? 0)]);
  const total = counts.at(-1)?.[1] ?? 0;
  if (total <= 0) return null;
  const hit = counts.find(([, count]) => count >= q * total);
  return hit[0] === null ? 10000 : Math.round(hit[0] * 1000 * 100) / 100; // past the last bound: 10 s
}

function chart(values) {
  const max = Math.max(1, ...values);
  const step = 100 / Math.max(1, POINTS - 1);
  const points = values.map((v, i) => `${(i * step).toFixed(1)},${(38 - (v / max) * 36).toFixed(1)}`).join(" ");
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("class", "chart");
  svg.setAttribute("viewBox", "0 0 100 40");
  svg.setAttribute("preserveAspectRatio", "none");
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", `latest ${values.at(-1) ?? 0}, peak ${Math.max(0, ...values)}`);
  const line = document.createElementNS("http://www.w3.org/2000/svg", "polyline");
  line.setAttribute("points", points);
  line.setAttribute("vector-effect", "non-scaling-stroke");
  svg.append(line);
  return svg;
}

/** The last scheduled backup (`reactor serve --backup-every`), in one line. */
function describeBackups(status) {
  if (!status) return "Scheduled backups: off (reactor serve --backup-every INTERVAL --backup-dir DIR)";
  const last = status.last;
  if (!last) return "Scheduled backups: on, none taken yet";
  const outcome = last.ok ? `verified, ${last.documents} documents, ${last.bytes} bytes` : `FAILED: ${last.error}`;
  return `Last backup ${last.at}: ${outcome} (${status.runs} taken, ${status.failures} failed)`;
}

export function render({ main, api }) {
  const series = { connections: [], subscriptions: [], commitsPerSecond: [], mutationP95: [], queryP95: [], databaseMiB: [],
    commitP95: [], pushP95: [] };
  const labels = { connections: "Open connections", subscriptions: "Live queries", commitsPerSecond: "Commits / s",
    mutationP95: "Mutation p95 (ms)", queryP95: "Query p95 (ms)", databaseMiB: "Database size (MiB)",
    commitP95: "Commit p95 (ms, ≤ bucket)", pushP95: "Push p95 (ms, ≤ bucket)" };
  const charts = h("div", { class: "charts", id: "health" });
  const table = h("tbody", { id: "latency" });
  const error = h("p", { class: "error", role: "alert" });
  const backups = h("p", { id: "backups" });
  main.append(h("h2", {}, "Health"), error, backups, charts, h("h3", { style: "margin-top:16px" }, "Call latency (latest 2,000 calls per kind)"),
    h("table", {}, h("thead", {}, h("tr", {}, ["kind", "calls", "failures", "p50 ms", "p95 ms", "p99 ms"].map((c) => h("th", { scope: "col" }, c)))), table));
  let previous = null;

  async function sample() {
    const reply = await api("/_dashboard/api/health");
    const figures = await reply.json();
    if (!reply.ok) {
      error.textContent = figures.message;
      return;
    }
    backups.textContent = describeBackups(figures.backups);
    const commits = figures.committer.commits;
    const rate = previous ? (commits - previous.commits) / Math.max(0.001, figures.time - previous.time) : 0;
    // Commit and push latencies over the last interval, from the server's histograms.
    const windowed = (name) => windowPercentile(figures.histograms[name], previous?.histograms[name], 0.95) ?? 0;
    const commitP95 = windowed("commit");
    const pushP95 = windowed("push");
    previous = { commits, time: figures.time, histograms: figures.histograms };
    const latest = { connections: figures.connections.open, subscriptions: figures.subscriptions.entries,
      commitsPerSecond: Math.round(rate * 10) / 10, mutationP95: figures.latency.mutation.p95Ms ?? 0,
      queryP95: figures.latency.query.p95Ms ?? 0, databaseMiB: Math.round(figures.storage.databaseBytes / 10485.76) / 100,
      commitP95, pushP95 };
    for (const [key, value] of Object.entries(latest)) {
      series[key].push(value);
      if (series[key].length > POINTS) series[key].shift();
    }
    charts.replaceChildren(...Object.keys(series).map((key) => h("div", { class: "card", "data-metric": key },
      h("div", {}, labels[key], ": ", h("strong", {}, String(latest[key]))), chart(series[key]))));
    table.replaceChildren(...Object.entries(figures.latency).map(([kind, l]) => h("tr", {},
      h("td", {}, kind), h("td", {}, l.calls), h("td", {}, l.failures), h("td", {}, l.p50Ms ?? "–"), h("td", {}, l.p95Ms ?? "–"), h("td", {}, l.p99Ms ?? "–"))));
  }
  sample();
  const timer = setInterval(sample, 2000);
  return () => clearInterval(timer);
}
