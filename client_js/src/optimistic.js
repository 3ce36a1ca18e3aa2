// Optimistic updates: local edits layered over server results until the mutation's write is visible.

import { canonicalPath, checkArgs, getFunctionPath, queryToken } from "./refs.js";

/** The view an optimistic update reads and edits; edits land only if the update finishes. */
class LocalStore {
  constructor(view) {
    this.view = view;
    this.writes = new Map();
  }

  lookup(token) {
    return this.writes.has(token) ? this.writes.get(token) : this.view.get(token);
  }

  /** The current value of a query, or undefined while loading (or failed). */
  getQuery(ref, args) {
    const entry = this.lookup(queryToken(getFunctionPath(ref), checkArgs(args, "getQuery")));
    return entry?.result?.success ? entry.result.value : undefined;
  }

  /** Every query of this function the client holds, with its args and value. */
  getAllQueries(ref) {
    const path = canonicalPath(getFunctionPath(ref));
    const tokens = new Set([...this.view.keys(), ...this.writes.keys()]);
    const out = [];
    for (const token of tokens) {
      const entry = this.lookup(token);
      if (entry.path !== path) continue;
      out.push({ args: entry.args, value: entry.result?.success ? entry.result.value : undefined });
    }
    return out;
  }

  /** Sets a query's value; `undefined` shows it as loading. */
  setQuery(ref, args, value) {
    const path = getFunctionPath(ref);
    const queryArgs = checkArgs(args, "setQuery");
    const result = value === undefined ? undefined : { success: true, value, logLines: [] };
    this.writes.set(queryToken(path, queryArgs), { path: canonicalPath(path), args: queryArgs, result });
  }

  commit() {
    for (const [token, entry] of this.writes) this.view.set(token, entry);
    return [...this.writes.keys()];
  }
}

export class OptimisticView {
  constructor(logger) {
    this.logger = logger;
    this.view = new Map(); // token -> {path, args, result}
    this.updates = []; // [{requestId, update}] in mutation order
  }

  run(update, requestId) {
    const store = new LocalStore(this.view);
    try {
      const returned = update(store);
      if (returned instanceof Promise)
        this.logger.warn("optimistic updates must be synchronous; the returned Promise is ignored");
    } catch (err) {
      this.logger.error(`optimistic update for request ${requestId} threw; it is skipped:`, err);
      return [];
    }
    return store.commit();
  }

  /** Applies a new mutation's update at once; returns the tokens it changed. */
  apply(requestId, update) {
    this.updates.push({ requestId, update });
    return this.run(update, requestId);
  }

  /**
   * Rebuilds the view from server results, drops updates of finished requests and replays the
   * rest on top. Returns the tokens whose result changed.
   */
  ingest(serverEntries, finished) {
    if (finished.size > 0) this.updates = this.updates.filter((u) => !finished.has(u.requestId));
    const before = this.view;
    this.view = new Map(serverEntries);
    for (const { requestId, update } of this.updates) this.run(update, requestId);
    const changed = [];
    for (const [token, entry] of this.view) {
      if (before.get(token)?.result !== entry.result) changed.push(token);
    }
    for (const token of before.keys()) if (!this.view.has(token)) changed.push(token);
    return changed;
  }

  result(token) {
    return this.view.get(token)?.result;
  }

  /** Drops a query nobody subscribes to any more; the next ingest decides what it shows. */
  forget(token) {
    this.view.delete(token);
  }
}
