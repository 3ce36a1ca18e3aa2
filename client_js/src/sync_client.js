// The sync engine under ReactorClient: wires the state modules to one socket and applies what the
// server sends (see docs/protocol.md). Pagination and the React hooks build on its methods.

import { AuthManager } from "./auth.js";
import { errorFromResult, makeLogger } from "./errors.js";
import { Listeners } from "./listeners.js";
import { LocalState } from "./local_state.js";
import { OptimisticView } from "./optimistic.js";
import { connectMessage, newSessionId, syncUrl } from "./protocol.js";
import { RemoteState } from "./remote_state.js";
import { RequestManager } from "./request_manager.js";
import { SocketManager } from "./socket.js";

export class SyncClient {
  constructor(url, options = {}) {
    const WebSocketImpl = options.WebSocket ?? globalThis.WebSocket;
    if (typeof WebSocketImpl !== "function") {
      throw new Error(
        'ReactorClient: no WebSocket here; pass one: new ReactorClient(url, { WebSocket }) with WebSocket from "ws"',
      );
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
    this.listeners = new Listeners(this.logger);
    if (options.onConnectionChange) this.listeners.addConnectionListener(options.onConnectionChange);
    this.deferredOpen = null; // the socket opened while paused for an auth token
    const authHooks = {
      send: (message) => this.send(message),
      pause: () => this.local.pause(),
      resume: () => this.resume(),
      stopSocket: () => this.socket.stop(),
      restartSocket: () => this.socket.restart(),
    };
    this.auth = new AuthManager(this.local, authHooks, {
      logger: this.logger,
      leewaySeconds: options.authRefreshLeewaySeconds,
    });
    const socketHandlers = {
      onOpen: (meta) => this.onOpen(meta),
      onMessage: (message) => this.onMessage(message),
      onStateChange: () => this.connectionChanged(),
    };
    this.socket = new SocketManager(syncUrl(url), WebSocketImpl, socketHandlers, {
      logger: this.logger,
      backoff: options.backoff,
      inactivityMs: options.inactivityTimeoutMs,
    });
    this.socket.connect();
  }

  /** Counts of requests in flight and the socket's health, as published to listeners. */
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
      // The query left the set: its last result must not greet a new subscription to the same
      // query before the server answers that one (it may be older than the rest of the view).
      if (this.local.entry(token) === undefined) this.optimistic.forget(token);
    };
    return { token, unsubscribe };
  }

  /** The result (FunctionResult) a query token shows now, optimistic updates included. */
  localResult(token) {
    return this.optimistic.result(token);
  }

  watchToken(token, listener) {
    return this.listeners.watchToken(token, listener);
  }

  /** Listens to every change, once per applied Transition, with the set of changed tokens. */
  addTransitionListener(listener) {
    return this.listeners.addTransitionListener(listener);
  }

  // --- internals ----------------------------------------------------------

  async request(message, kind, path) {
    if (this.socket.state === "terminated") throw new Error(`${kind} ${path}: the client is closed`);
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
    this.remote.restart((queryId) => this.local.tokensById.has(queryId));
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
      case "ActionResponse":
        this.onResponse(message);
        break;
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

  onResponse(message) {
    if (message.type === "MutationResponse" && message.success) this.observeTs(message.ts);
    const path = this.requests.inflight.get(message.requestId)?.message.udfPath ?? `request ${message.requestId}`;
    this.logLines(message.type === "MutationResponse" ? "M" : "A", path, message.logLines);
    const finished = this.requests.onResponse(message);
    if (finished !== null) this.refreshView(new Set([finished.requestId]));
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
    this.listeners.notify(this.optimistic.ingest(server, finishedRequests));
  }

  observeTs(ts) {
    if (this.maxObservedTs === undefined || ts > this.maxObservedTs) this.maxObservedTs = ts;
  }

  logLines(kind, name, lines) {
    for (const line of lines ?? []) this.logger.log(`[${kind} ${name}] ${line}`);
  }

  connectionChanged() {
    this.listeners.connectionChanged(() => this.connectionState());
  }
}
