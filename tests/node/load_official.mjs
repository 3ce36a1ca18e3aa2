// Load generator of bench/official_client.py: the official `convex` client as apps use it.
// `node load_official.mjs URL CLIENTS INFLIGHT WARMUP_S SECONDS` opens CLIENTS ConvexClients
// (each its own WebSocket, compression as the client negotiates it) and keeps INFLIGHT
// `items:insert` mutations outstanding on each; a mutation completes when the client has
// seen the Transition that carries its write, as `await client.mutation(...)` does in an
// app. Prints a line when the measured window opens and one when it closes (so the caller
// can read the server's CPU then), then one JSON line: completions, failures and
// latencies inside the window, and this process's CPU time over it.
import { ConvexClient } from "convex/browser";
import { anyApi } from "convex/server";

const [url, clients, inflight, warmupS, seconds] = process.argv.slice(2);
const BODY = "a small document, as a chat message or a task would be";
const window = { open: false, stop: false, ok: 0, failed: 0, latencies: [], errors: [] };

async function worker(client, index) {
  let n = 0;
  async function one() {
    while (!window.stop) {
      const started = performance.now();
      try {
        await client.mutation(anyApi.items.insert, { owner: `c${index}`, body: BODY, n: n++ });
        if (window.open) {
          window.ok += 1;
          window.latencies.push(performance.now() - started);
        }
      } catch (error) {
        if (window.open) window.failed += 1;
        if (window.errors.length < 3) window.errors.push(String(error).slice(0, 300));
      }
    }
  }
  await Promise.all(Array.from({ length: Number(inflight) }, one));
}

function percentile(values, q) {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

const sockets = Array.from({ length: Number(clients) }, () => new ConvexClient(url, { logger: false }));
const running = sockets.map((client, index) => worker(client, index));
await new Promise((resolve) => setTimeout(resolve, Number(warmupS) * 1000));
const cpu0 = process.cpuUsage();
const opened = performance.now();
window.open = true;
console.log(JSON.stringify({ event: "open" }));
await new Promise((resolve) => setTimeout(resolve, Number(seconds) * 1000));
window.open = false;
console.log(JSON.stringify({ event: "close" }));
const elapsed = (performance.now() - opened) / 1000;
const cpu = process.cpuUsage(cpu0);
window.stop = true;
await Promise.all(running);
await Promise.all(sockets.map((client) => client.close()));
console.log(JSON.stringify({
  ok: window.ok, failed: window.failed, seconds: elapsed,
  loadgen_cpu_s: (cpu.user + cpu.system) / 1e6,
  latency_p50_ms: percentile(window.latencies, 0.5),
  latency_p99_ms: percentile(window.latencies, 0.99),
  errors: window.errors,
}));
process.exit(0);
