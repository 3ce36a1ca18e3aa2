// What the client wants from the server: the query set, its version, and the identity to use.

import { canonicalPath, queryToken } from "./refs.js";
import { encodeValue } from "./values.js";
import { authenticateMessage, modifyQuerySetMessage } from "./protocol.js";

export class LocalState {
  constructor() {
    this.nextQueryId = 0; // never reused, even across reconnects
    this.querySetVersion = 0;
    this.identityVersion = 0;
    this.queries = new Map(); // token -> {id, path, args, encodedArgs, journal, subscribers}
    this.tokensById = new Map();
    this.auth = undefined; // {tokenType: "User", value}
    // While paused (waiting for an auth token), changes queue here and go out on resume.
    this.paused = false;
    this.pending = new Map(); // queryId -> Add | Remove
    this.identityPending = false;
    this.unconfirmed = new Set(); // query ids re-sent by restart() and not answered yet
    this.authUnconfirmed = false;
  }

  /** Adds a subscriber; returns the ModifyQuerySet to send, or null when nothing goes out now. */
  subscribe(path, args, journal) {
    const token = queryToken(path, args);
    const existing = this.queries.get(token);
    if (existing !== undefined) {
      existing.subscribers += 1;
      return { token, message: null };
    }
    const entry = {
      id: this.nextQueryId++,
      path: canonicalPath(path),
      args,
      encodedArgs: encodeValue(args, "args"),
      journal,
      subscribers: 1,
    };
    this.queries.set(token, entry);
    this.tokensById.set(entry.id, token);
    return { token, message: this.change(entry.id, addModification(entry)) };
  }

  /** Drops a subscriber; the query leaves the set when the last one goes. */
  unsubscribe(token) {
    const entry = this.queries.get(token);
    if (entry === undefined) return null;
    if (entry.subscribers > 1) {
      entry.subscribers -= 1;
      return null;
    }
    this.queries.delete(token);
    this.tokensById.delete(entry.id);
    this.unconfirmed.delete(entry.id);
    if (this.paused && this.pending.get(entry.id)?.type === "Add") {
      this.pending.delete(entry.id);
      return null;
    }
    return this.change(entry.id, { type: "Remove", queryId: entry.id });
  }

  change(queryId, modification) {
    if (this.paused) {
      this.pending.set(queryId, modification);
      return null;
    }
    const base = this.querySetVersion++;
    return modifyQuerySetMessage(base, this.querySetVersion, [modification]);
  }

  /** Records journals and answers from an applied Transition. */
  onTransition(transition) {
    for (const m of transition.modifications) {
      this.unconfirmed.delete(m.queryId);
      if (m.type === "QueryRemoved" || m.journal === undefined) continue;
      const token = this.tokensById.get(m.queryId);
      if (token !== undefined) this.queries.get(token).journal = m.journal;
    }
    if (transition.endVersion.identity > transition.startVersion.identity) this.authUnconfirmed = false;
  }

  entry(token) {
    return this.queries.get(token);
  }

  setAuth(value) {
    this.auth = { tokenType: "User", value };
    return this.identityChange();
  }

  setAdminAuth(value) {
    this.auth = { tokenType: "Admin", value };
    this.authUnconfirmed = false;
    return this.identityChange();
  }

  clearAuth() {
    this.auth = undefined;
    this.authUnconfirmed = false;
    return this.identityChange();
  }

  identityChange() {
    const message = authenticateMessage(this.auth, this.identityVersion);
    if (this.paused) this.identityPending = true;
    else this.identityVersion += 1;
    return message;
  }

  isCurrentOrNewerIdentity(version) {
    return version >= this.identityVersion;
  }

  /** True once everything re-sent on the latest socket has been answered. */
  syncedSinceRestart() {
    return this.unconfirmed.size === 0 && !this.authUnconfirmed;
  }

  /** Messages for a fresh socket: Authenticate (if any), then the whole query set as version 0 -> 1. */
  restart() {
    this.paused = false;
    this.pending.clear();
    this.identityPending = false;
    const adds = [];
    this.unconfirmed.clear();
    for (const entry of this.queries.values()) {
      adds.push(addModification(entry));
      this.unconfirmed.add(entry.id);
    }
    this.querySetVersion = 1;
    this.identityVersion = this.auth === undefined ? 0 : 1;
    this.authUnconfirmed = this.auth !== undefined;
    const authenticate = this.auth === undefined ? undefined : authenticateMessage(this.auth, 0);
    return { authenticate, querySet: modifyQuerySetMessage(0, 1, adds) };
  }

  pause() {
    this.paused = true;
  }

  /** Messages queued while paused, in the order the server needs them. */
  resume() {
    let authenticate;
    if (this.identityPending) authenticate = authenticateMessage(this.auth, this.identityVersion++);
    let querySet;
    if (this.pending.size > 0) {
      const base = this.querySetVersion++;
      querySet = modifyQuerySetMessage(base, this.querySetVersion, [...this.pending.values()]);
    }
    this.paused = false;
    this.pending.clear();
    this.identityPending = false;
    return { authenticate, querySet };
  }
}

function addModification(entry) {
  const add = { type: "Add", queryId: entry.id, udfPath: entry.path, args: [entry.encodedArgs] };
  if (entry.journal !== undefined) add.journal = entry.journal;
  return add;
}
