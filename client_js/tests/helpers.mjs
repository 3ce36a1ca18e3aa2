// Shared test helpers: a client wired to the fake server, polling, and a capturing logger.

import { WebSocket } from "ws";
import { ReactorClient } from "../src/index.js";
import { startFakeServer } from "./fake_server.mjs";

export function captureLogger() {
  const lines = { log: [], warn: [], error: [], debug: [] };
  const sink =
    (level) =>
    (...args) =>
      lines[level].push(args.map((a) => (a instanceof Error ? a.message : String(a))).join(" "));
  return { lines, log: sink("log"), warn: sink("warn"), error: sink("error"), debug: sink("debug") };
}

export function makeClient(server, options = {}) {
  const logger = captureLogger();
  const client = new ReactorClient(server.url, {
    WebSocket,
    logger,
    backoff: { initialMs: 40, maxMs: 400 },
    ...options,
  });
  client.testLogger = logger;
  return client;
}

/** Polls `check` until it returns a truthy value; fails with `what` after `timeoutMs`. */
export async function until(check, what = "condition", timeoutMs = 3000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Runs `body(server, client)` against a fresh fake server and closes both afterwards; fails
 * the test if the server saw the client break a protocol rule.
 */
export async function withServer(options, body) {
  const server = await startFakeServer(options.server);
  const client = options.client === false ? null : makeClient(server, options.client);
  try {
    await body(server, client);
  } finally {
    await client?.close();
    await server.close();
  }
  if (server.violations.length > 0) throw new Error(`protocol violations:\n${server.violations.join("\n")}`);
}
