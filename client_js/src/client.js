// ReactorClient: subscriptions, mutations and actions over one self-healing sync socket.

import { AuthManager } from "./auth.js";
import { errorFromResult, makeLogger } from "./errors.js";
import { LocalState } from "./local_state.js";
import { OptimisticView } from "./optimistic.js";
import { PaginatedQuery } from "./pagination.js";
import { connectMessage, requestMessage } from "./protocol.js";
import { checkArgs, getFunctionPath, queryToken } from "./refs.js";
import { RemoteState } from "./remote_state.js";
import { RequestManager } from "./request_manager.js";
import { SocketManager } from "./socket.js";
import { encodeValue } from "./values.js";

/** The client version whose protocol this client speaks; it names the sync endpoint. */
export const PROTOCOL_VERSION = "1.48.0";

/** http(s)://host[/prefix] -> ws(s)://host[/prefix]/api/1.48.0/sync */
export function syncUrl(url) {
  const match = /^(https?|wss?):\/\/(.+?)\/*$/.exec(url);
  if (match === null) throw new Error(`ReactorClient: expected an http(s):// or ws(s):// URL, got "${url}"`);
  const scheme = { http: "ws", https: "wss" }[match[1]] ?? match[1];
  return `${scheme}://${match[2]}/api/${PROTOCOL_VERSION}/sync`;
}

function newSessionId() {
  if (globalThis.crypto?.randomUUID) return globalThis.crypto.randomUUID();
  const hex = Array.from({ length: 32 }, () => Math.floor(Math.random() * 16).toString(16));
  hex[12] = "4";
  hex[16] = ((parseInt(hex[16], 16) & 3) | 8).toString(16);
  return `${hex.slice(0, 8).join("")}-${hex.slice(8, 12).join("")}-${hex.slice(12, 16).join("")}-${hex.slice(16, 20).join("")}-${hex.slice(20).join("")}`;
}

export class ReactorClient {
  constructor(url, options = {}) {
    const WebSocketImpl = options.WebSocket ?? globalThis.WebSocket;
    if (typeof WebSocketImpl !== "function") {
      throw new Error('ReactorClient: no WebSocket here; pass one: new ReactorClient(url, { WebSocket }) with WebSocket from "ws"');
    }
    this.url = url;
    this.logger = makeLogger(options.logger, options.verbose ?? false);
    this.sessionId = newSessionId();
    this.local = new LocalState();
    this.remote = new RemoteState();
    this.requests = new RequestManager();
    this.optimistic = new OptimisticView(this.logger);
    this.nextRequestId = 0;
    this.maxObservedTs = undefined;
    this.tokenListeners = new Map(); // token -> Set<() => void>
    this.transitionListeners = new Set(); // (changedTokens: Set) => void
    this.connectionListeners = new Set();
    if (options.onConnectionChange) this.connectionListeners.add(options.onConnectionChange);
    this.lastConnectionState = undefined;
    this.deferredOpen = null; // the socket opened while paused for an auth token
    this.auth = new AuthManager(
      this.local,
      {
        send: (message) => this.send(message),
        pause: () => this.local.pause(),
        resume: () => this.resume(),
        stopSocket: () => this.socket.stop(),
        restartSocket: () => this.socket.restart(),
      },
      { logger: this.logger, leewaySeconds: options.authRefreshLeewaySeconds },
    );
    this.socket = new SocketManager(
      syncUrl(url),
      WebSocketImpl,
      {
        onOpen: (meta) => this.onOpen(meta),
        onMessage: (message) => this.onMessage(message),
        onStateChange: () => this.connectionChanged(),
      },
      { logger: this.logger, backoff: options.backoff, inactivityMs: options.inactivityTimeoutMs },
    );
    this.socket.connect();
  }

  // --- public API ---------------------------------------------------------

  /** Calls `callback` with every new value of the query; returns the unsubscribe function. */
  onUpdate(ref, args, callback, onError) {
    const path = getFunctionPath(ref);
    const sub = this.subscribe(path, checkArgs(args, path));
    let last;
    const deliver = () => {
      const result = this.optimistic.result(sub.token);
      if (result === undefined || result === last) return;
      last = result;
      if (result.success) return this.safely("onUpdate callback", () => callback(result.value));
      const error = errorFromResult("query", path, result);
      if (onError) this.safely("onUpdate onError", () => onError(error));
      else this.logger.error(error.message);
    };
    const stopWatching = this.watchToken(sub.token, deliver);
    if (this.optimistic.result(sub.token) !== undefined) queueMicrotask(deliver);
    const unsubscribe = () => {
      stopWatching();
      sub.unsubscribe();
    };
    unsubscribe.unsubscribe = unsubscribe;
    unsubscribe.getCurrentValue = () => {
      const result = this.optimistic.result(sub.token);
      return result?.success ? result.value : undefined;
    };
    return unsubscribe;
  }

  /** The query's current value: subscribes, takes the first result, unsubscribes. */
  query(ref, args) {
    const path = getFunctionPath(ref);
    const queryArgs = checkArgs(args, path);
    const token = queryToken(path, queryArgs);
    const held = this.local.entry(token) ? this.optimistic.result(token) : undefined;
    if (held !== undefined) {
      return held.success ? Promise.resolve(held.value) : Promise.reject(errorFromResult("query", path, held));
    }
    return new Promise((resolve, reject) => {
      const stop = this.onUpdate(ref, queryArgs, (value) => (stop(), resolve(value)), (err) => (stop(), reject(err)));
    });
  }

  /** Runs a mutation; resolves once the client has seen a snapshot that includes its write. */
  async mutation(ref, args, options = {}) {
    const path = getFunctionPath(ref);
    const mutationArgs = checkArgs(args, path);
    const requestId = this.nextRequestId++;
    const message = requestMessage("Mutation", requestId, path, encodeValue(mutationArgs, "args"));
    if (options.optimisticUpdate) {
      this.notify(this.optimistic.apply(requestId, (store) => options.optimisticUpdate(store, mutationArgs)));
    }
    return this.request(message, "mutation", path);
  }

  /** Runs an action; an action in flight when the socket drops fails rather than being re-sent. */
  async action(ref, args) {
    const path = getFunctionPath(ref);
    const message = requestMessage("Action", this.nextRequestId++, path, encodeValue(checkArgs(args, path), "args"));
    return this.request(message, "action", path);
  }

  /** A live paginated list; see PaginatedQuery. */
  paginatedQuery(ref, args, options, callback, onError) {
    return new PaginatedQuery(this, ref, args, options, callback, onError);
  }

  /** fetchToken({forceRefreshToken}) returns a JWT or null; onChange(isAuthenticated) reports the outcome. */
  setAuth(fetchToken, onChange) {
    return this.auth.setAuth(fetchToken, onChange);
  }

  clearAuth() {
    this.auth.reset();
    this.send(this.local.clearAuth());
  }

  connectionState() {
    const counts = this.requests.counts();
    return {
      isWebSocketConnected: this.socket.state === "ready",
      hasEverConnected: this.socket.hasEverConnected,
      connectionCount: this.socket.connectionCount,
      connectionRetries: this.socket.backoff.retries,
      hasInflightRequests: counts.mutations + counts.actions > 0,
      inflightMutations: counts.mutations,
      inflightActions: counts.actions,
      timeOfOldestInflightRequest: counts.oldest,
    };
  }

  subscribeToConnectionState(callback) {
    this.connectionListeners.add(callback);
    return () => this.connectionListeners.delete(callback);
  }

  /** Closes the socket for good; requests still in flight fail. */
  async close() {
    this.auth.reset();
    this.socket.terminate();
    this.requests.failAll("ReactorClient was closed");
  }

  // --- building blocks for pagination and React ---------------------------

  subscribe(path, args, journal) {
    const { token, message } = this.local.subscribe(path, args, journal);
    if (message) this.send(message);
    let active = true;
    const unsubscribe = () => {
      if (!active) return;
      active = false;
      const removal = this.local.unsubscribe(token);
      if (removal) this.send(removal);
    };
    return { token, unsubscribe };
  }

  /** The result (FunctionResult) a query token shows now, optimistic updates included. */
  localResult(token) {
    return this.optimistic.result(token);
  }

  watchToken(token, listener) {
    let set = this.tokenListeners.get(token);
    if (set === undefined) this.tokenListeners.set(token, (set = new Set()));
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0 && this.tokenListeners.get(token) === set) this.tokenListeners.delete(token);
    };
  }

  /** Listens to every change, once per applied Transition, with the set of changed tokens. */
  addTransitionListener(listener) {
    this.transitionListeners.add(listener);
    return () => this.transitionListeners.delete(listener);
  }

  // --- internals ----------------------------------------------------------

  async request(message, kind, path) {
    const pending = this.requests.request(message, this.send(message));
    this.connectionChanged();
    const result = await pending;
    if (!result.success) throw errorFromResult(kind, path, result);
    return result.value;
  }

  send(message) {
    if (this.local.paused) return false;
    return this.socket.send(message);
  }

  onOpen(meta) {
    if (this.local.paused) {
      this.deferredOpen = meta;
      return;
    }
    this.handshake(meta);
  }

  /** Connect, then Authenticate, the whole query set and every mutation still unresolved. */
  handshake(meta) {
    this.deferredOpen = null;
    this.remote = new RemoteState();
    const { authenticate, querySet } = this.local.restart();
    this.send(connectMessage({ sessionId: this.sessionId, ...meta, maxObservedTimestamp: this.maxObservedTs }));
    if (authenticate) this.send(authenticate);
    this.send(querySet);
    for (const message of this.requests.restart()) this.send(message);
    this.connectionChanged();
  }

  resume() {
    if (!this.local.paused) return;
    if (this.deferredOpen !== null) return this.handshake(this.deferredOpen);
    const { authenticate, querySet } = this.local.resume();
    if (this.socket.state !== "ready") return; // the next handshake sends everything
    if (authenticate) this.send(authenticate);
    if (querySet) this.send(querySet);
    for (const message of this.requests.resume()) this.send(message);
  }

  onMessage(message) {
    switch (message.type) {
      case "Transition":
        this.onTransition(message);
        break;
      case "MutationResponse":
      case "ActionResponse": {
        if (message.type === "MutationResponse" && message.success) this.observeTs(message.ts);
        const path = this.requests.inflight.get(message.requestId)?.message.udfPath ?? `request ${message.requestId}`;
        this.logLines(message.type === "MutationResponse" ? "M" : "A", path, message.logLines);
        const finished = this.requests.onResponse(message);
        if (finished !== null) this.refreshView(new Set([finished.requestId]));
        break;
      }
      case "AuthError":
        this.auth.onAuthError(message);
        break;
      case "FatalError":
        this.logger.error(`server sent FatalError, the client stops: ${message.error}`);
        this.socket.terminate();
        this.requests.failAll(`server error: ${message.error}`);
        break;
    }
    if (this.local.syncedSinceRestart() && this.requests.syncedSinceRestart()) this.socket.backoff.reset();
    this.connectionChanged();
  }

  onTransition(transition) {
    const staged = this.remote.apply(transition); // throws on a version gap: the socket resyncs
    this.observeTs(transition.endVersion.ts);
    this.local.onTransition(transition);
    this.auth.onTransition(transition);
    for (const [queryId, result] of staged) {
      const token = this.local.tokensById.get(queryId);
      if (result !== null && token !== undefined) this.logLines("Q", this.local.entry(token).path, result.logLines);
    }
    this.refreshView(new Set(this.requests.removeCompleted(this.remote.ts).keys()));
  }

  /** Recomputes what queries show from server results and optimistic updates, then notifies. */
  refreshView(finishedRequests) {
    const server = new Map();
    for (const [queryId, result] of this.remote.results) {
      const token = this.local.tokensById.get(queryId);
      if (token === undefined) continue; // unsubscribed; the server has not confirmed the removal yet
      const entry = this.local.entry(token);
      server.set(token, { path: entry.path, args: entry.args, result });
    }
    this.notify(this.optimistic.ingest(server, finishedRequests));
  }

  notify(changedTokens) {
    if (changedTokens.length === 0) return;
    const changed = new Set(changedTokens);
    for (const token of changed) {
      for (const listener of [...(this.tokenListeners.get(token) ?? [])]) this.safely("query listener", listener);
    }
    for (const listener of [...this.transitionListeners]) this.safely("transition listener", () => listener(changed));
  }

  observeTs(ts) {
    if (this.maxObservedTs === undefined || ts > this.maxObservedTs) this.maxObservedTs = ts;
  }

  logLines(kind, name, lines) {
    for (const line of lines ?? []) this.logger.log(`[${kind} ${name}] ${line}`);
  }

  safely(what, fn) {
    try {
      fn();
    } catch (err) {
      this.logger.error(`${what} threw:`, err);
    }
  }

  /** Publishes the connection state to listeners after the current task, when it changed. */
  connectionChanged() {
    if (this.connectionListeners.size === 0 || this.connectionPending) return;
    this.connectionPending = true;
    queueMicrotask(() => {
      this.connectionPending = false;
      const state = this.connectionState();
      const key = JSON.stringify(state);
      if (key === this.lastConnectionState) return;
      this.lastConnectionState = key;
      for (const listener of [...this.connectionListeners]) this.safely("connection listener", () => listener(state));
    });
  }
}
