// A small in-memory sync-protocol server (protocol.md) for the client's tests, with fault hooks.
// It re-implements the wire encodings on its own (Buffer-based) so tests do not check the client
// against itself. Every protocol rule it can verify about the client is recorded in `violations`.

import http from "node:http";
import { WebSocketServer } from "ws";
import { FakeAppError, defaultFunctions } from "./fake_functions.mjs";
import { decodeJwtPayload, encodeTs } from "./fake_wire.mjs";

export { FakeAppError };
export { decodeTs, encodeTs, makeJwt } from "./fake_wire.mjs";

export class FakeServer {
  constructor(options = {}) {
    this.functions = { ...defaultFunctions, ...(options.functions ?? {}) };
    this.tables = new Map();
    this.ts = 1_000_000n;
    this.connections = [];
    this.violations = [];
    this.outcomes = new Map(); // `${sessionId}/${requestId}` -> stored response (rule 6)
    this.runs = new Map(); // same key -> how many times the mutation body ran
    this.sessionQueryIds = new Map(); // sessionId -> Map(queryId -> token)
    this.rejectTokens = new Set();
    this.stallMutations = false; // record mutations but never answer them
    this.dropBeforeResponse = false; // run the next mutation, then drop the socket unanswered
    this.transitionDelayMs = options.transitionDelayMs ?? 0; // gap between MutationResponse and its Transition
    this.sentLog = []; // [{conn, message, at}]
    this.waiters = [];
    this.timers = new Set();
  }

  async listen() {
    this.http = http.createServer((_req, res) => res.writeHead(404).end());
    this.wss = new WebSocketServer({ server: this.http });
    this.wss.on("connection", (ws, req) => this.accept(ws, req));
    await new Promise((resolve) => this.http.listen(0, "127.0.0.1", resolve));
    this.url = `http://127.0.0.1:${this.http.address().port}`;
    return this;
  }

  async close() {
    for (const timer of this.timers) clearTimeout(timer);
    for (const conn of this.connections) conn.ws.terminate();
    await new Promise((resolve) => this.wss.close(resolve));
    await new Promise((resolve) => this.http.close(resolve));
  }

  get last() {
    return this.connections[this.connections.length - 1];
  }

  violation(conn, text) {
    this.violations.push(`conn ${conn.index}: ${text}`);
  }

  accept(ws, req) {
    const conn = {
      index: this.connections.length,
      ws,
      path: req.url,
      received: [],
      version: { querySet: 0, identity: 0, ts: 0n },
      queries: new Map(), // queryId -> {path, args, journal, lastJson}
      identity: null,
      open: true,
    };
    this.connections.push(conn);
    ws.on("message", (data) => this.receive(conn, String(data)));
    ws.on("close", () => (conn.open = false));
  }

  /** Resolves with the first message (from any connection, old or new) matching `predicate`. */
  waitForMessage(predicate, timeoutMs = 3000) {
    for (const conn of this.connections) {
      const hit = conn.received.find((m) => predicate(m, conn));
      if (hit) return Promise.resolve(hit);
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for a client message`)), timeoutMs);
      this.waiters.push({ predicate, resolve: (m) => (clearTimeout(timer), resolve(m)) });
    });
  }

  receive(conn, text) {
    const message = JSON.parse(text);
    conn.received.push(message);
    if (conn.received.length === 1 && message.type !== "Connect")
      this.violation(conn, `first message is ${message.type}`);
    const handler = {
      Connect: () => (conn.connect = message),
      ModifyQuerySet: () => this.modifyQuerySet(conn, message),
      Authenticate: () => this.authenticate(conn, message),
      Mutation: () => this.mutation(conn, message),
      Action: () => this.action(conn, message),
      Event: () => {},
    }[message.type];
    if (handler) handler();
    else this.violation(conn, `unknown message type ${message.type}`);
    this.waiters = this.waiters.filter((w) => !(w.predicate(message, conn) && (w.resolve(message), true)));
  }

  send(conn, message) {
    if (!conn.open) return;
    this.sentLog.push({ conn: conn.index, message, at: performance.now() });
    conn.ws.send(JSON.stringify(message));
  }

  sendTransition(conn, modifications, changes = {}) {
    const start = conn.version;
    const end = {
      querySet: changes.querySet ?? start.querySet,
      identity: changes.identity ?? start.identity,
      ts: this.ts,
    };
    conn.version = end;
    const wire = (v) => ({ querySet: v.querySet, identity: v.identity, ts: encodeTs(v.ts) });
    this.send(conn, { type: "Transition", startVersion: wire(start), endVersion: wire(end), modifications });
  }

  modifyQuerySet(conn, message) {
    if (message.baseVersion !== conn.version.querySet) {
      this.violation(conn, `ModifyQuerySet base ${message.baseVersion} but server is at ${conn.version.querySet}`);
    }
    if (message.newVersion !== message.baseVersion + 1)
      this.violation(conn, `newVersion ${message.newVersion} != base + 1`);
    const known = this.sessionIds(conn);
    const mods = [];
    for (const m of message.modifications) {
      if (m.type === "Remove") {
        conn.queries.delete(m.queryId);
        mods.push({ type: "QueryRemoved", queryId: m.queryId });
        continue;
      }
      const token = JSON.stringify([m.udfPath, m.args]);
      if (known.has(m.queryId) && known.get(m.queryId) !== token) this.violation(conn, `query id ${m.queryId} reused`);
      known.set(m.queryId, token);
      const query = { path: m.udfPath, args: m.args[0], journal: m.journal ?? null, lastJson: undefined };
      conn.queries.set(m.queryId, query);
      mods.push(this.runQuery(conn, m.queryId, query, true));
    }
    this.sendTransition(conn, mods, { querySet: message.newVersion });
  }

  sessionIds(conn) {
    const id = conn.connect?.sessionId;
    if (!this.sessionQueryIds.has(id)) this.sessionQueryIds.set(id, new Map());
    return this.sessionQueryIds.get(id);
  }

  ctx(conn, query) {
    return {
      db: this.db(),
      identity: conn.identity,
      journal: query?.journal ?? null,
      setJournal: (j) => query && (query.journal = j),
    };
  }

  db() {
    const table = (name) => {
      if (!this.tables.has(name)) this.tables.set(name, []);
      return this.tables.get(name);
    };
    return {
      all: (name) => table(name),
      insert: (name, doc) => table(name).push({ ...doc }),
      set: (name, rows) => this.tables.set(name, rows),
    };
  }

  /** Runs a query; returns its modification, or null when the value did not change (rule 4). */
  runQuery(conn, queryId, query, always) {
    const fn = this.functions[query.path];
    let mod;
    try {
      if (!fn || fn.type !== "query") throw new Error(`no query named ${query.path}`);
      const value = fn.handler(this.ctx(conn, query), query.args);
      mod = { type: "QueryUpdated", queryId, value, logLines: fn.logLines ?? [], journal: query.journal };
    } catch (err) {
      mod = { type: "QueryFailed", queryId, errorMessage: err.message, logLines: [], journal: query.journal };
      if (err instanceof FakeAppError) mod.errorData = err.data;
    }
    const json = JSON.stringify(mod);
    if (!always && json === query.lastJson) return null;
    query.lastJson = json;
    return mod;
  }

  /** After a commit: every connection gets one Transition with its changed queries (rule 1). */
  pushAll(except) {
    for (const conn of this.connections) {
      if (!conn.open || conn === except) continue;
      const mods = [...conn.queries].map(([id, q]) => this.runQuery(conn, id, q, false)).filter(Boolean);
      if (mods.length > 0) this.sendTransition(conn, mods);
    }
  }

  authenticate(conn, message) {
    if (message.baseVersion !== conn.version.identity) {
      this.violation(conn, `Authenticate base ${message.baseVersion} but server identity is ${conn.version.identity}`);
    }
    if (message.tokenType === "User") {
      const claims = decodeJwtPayload(message.value);
      const expired = claims?.exp !== undefined && claims.exp * 1000 < Date.now();
      if (claims === null || expired || this.rejectTokens.has(message.value)) {
        this.send(conn, {
          type: "AuthError",
          error: "token rejected",
          baseVersion: conn.version.identity,
          authUpdateAttempted: true,
        });
        conn.ws.close(1000);
        return;
      }
      conn.identity = { subject: claims.sub };
    } else {
      conn.identity = null;
    }
    const mods = [...conn.queries].map(([id, q]) => this.runQuery(conn, id, q, false)).filter(Boolean);
    this.sendTransition(conn, mods, { identity: conn.version.identity + 1 });
  }

  mutation(conn, message) {
    if (this.stallMutations) return;
    const key = `${conn.connect?.sessionId}/${message.requestId}`;
    let response = this.outcomes.get(key);
    if (response === undefined) {
      this.runs.set(key, (this.runs.get(key) ?? 0) + 1);
      const fn = this.functions[message.udfPath];
      try {
        if (!fn || fn.type !== "mutation") throw new Error(`no mutation named ${message.udfPath}`);
        const result = fn.handler(this.ctx(conn), message.args[0]);
        this.ts += 1000n;
        response = {
          type: "MutationResponse",
          requestId: message.requestId,
          success: true,
          result: result ?? null,
          ts: encodeTs(this.ts),
          logLines: ["[LOG] ran"],
        };
      } catch (err) {
        response = {
          type: "MutationResponse",
          requestId: message.requestId,
          success: false,
          result: err.message,
          ts: null,
          logLines: [],
        };
        if (err instanceof FakeAppError) response.errorData = err.data;
      }
      this.outcomes.set(key, response);
    }
    if (this.dropBeforeResponse) {
      this.dropBeforeResponse = false;
      conn.ws.terminate();
      return;
    }
    this.send(conn, response);
    const catchUp = () => {
      const mods = [...conn.queries].map(([id, q]) => this.runQuery(conn, id, q, false)).filter(Boolean);
      this.sendTransition(conn, mods); // even when empty: it carries the ts forward (rule 2)
      this.pushAll(conn);
    };
    if (this.transitionDelayMs === 0) return catchUp();
    const timer = setTimeout(() => (this.timers.delete(timer), catchUp()), this.transitionDelayMs);
    this.timers.add(timer);
  }

  action(conn, message) {
    const fn = this.functions[message.udfPath];
    const reply = (response) =>
      this.send(conn, { type: "ActionResponse", requestId: message.requestId, logLines: [], ...response });
    if (fn?.type !== "action") return reply({ success: false, result: `no action named ${message.udfPath}` });
    Promise.resolve()
      .then(() => fn.handler(this.ctx(conn), message.args[0]))
      .then((result) => reply({ success: true, result: result ?? null }))
      .catch((err) => reply({ success: false, result: err.message }));
  }

  /** Simulates a commit made elsewhere (another client, a scheduled job). */
  commit(change) {
    change(this.db());
    this.ts += 1000n;
    this.pushAll(null);
  }

  /** Drops every open socket: `terminate` for an abrupt loss, or a close code and reason. */
  drop({ code, reason } = {}) {
    for (const conn of this.connections) {
      if (!conn.open) continue;
      if (code === undefined) conn.ws.terminate();
      else conn.ws.close(code, reason);
    }
  }

  sendRaw(text, conn = this.last) {
    conn.ws.send(text);
  }
}

export async function startFakeServer(options) {
  return new FakeServer(options).listen();
}
