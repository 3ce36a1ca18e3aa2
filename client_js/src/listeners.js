// Fan-out of changes to the app: per-query listeners, per-transition listeners, connection state.

/** Calls `fn`, logging instead of throwing: app callbacks must not break the socket handler. */
export function callSafely(logger, what, fn) {
  try {
    fn();
  } catch (err) {
    logger.error(`${what} threw:`, err);
  }
}

export class Listeners {
  constructor(logger) {
    this.logger = logger;
    this.byToken = new Map(); // query token -> Set<() => void>
    this.onTransition = new Set(); // (changedTokens: Set<string>) => void
    this.onConnection = new Set(); // (state) => void
    this.connectionPending = false;
    this.lastConnectionKey = undefined;
  }

  watchToken(token, listener) {
    let set = this.byToken.get(token);
    if (set === undefined) this.byToken.set(token, (set = new Set()));
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0 && this.byToken.get(token) === set) this.byToken.delete(token);
    };
  }

  addTransitionListener(listener) {
    this.onTransition.add(listener);
    return () => this.onTransition.delete(listener);
  }

  addConnectionListener(listener) {
    this.onConnection.add(listener);
    return () => this.onConnection.delete(listener);
  }

  /** Tells the listeners of each changed token, then the transition listeners once. */
  notify(changedTokens) {
    if (changedTokens.length === 0) return;
    const changed = new Set(changedTokens);
    for (const token of changed) {
      for (const listener of [...(this.byToken.get(token) ?? [])]) callSafely(this.logger, "query listener", listener);
    }
    for (const listener of [...this.onTransition])
      callSafely(this.logger, "transition listener", () => listener(changed));
  }

  /** Publishes `read()` after the current task if it differs from what was last published. */
  connectionChanged(read) {
    if (this.onConnection.size === 0 || this.connectionPending) return;
    this.connectionPending = true;
    queueMicrotask(() => {
      this.connectionPending = false;
      const state = read();
      const key = JSON.stringify(state);
      if (key === this.lastConnectionKey) return;
      this.lastConnectionKey = key;
      for (const listener of [...this.onConnection])
        callSafely(this.logger, "connection listener", () => listener(state));
    });
  }
}
