// ReactorClient: live queries, mutations, actions, pagination and auth over one self-healing socket.

import { errorFromResult } from "./errors.js";
import { callSafely } from "./listeners.js";
import { PaginatedQuery } from "./pagination.js";
import { requestMessage } from "./protocol.js";
import { checkArgs, getFunctionPath, queryToken } from "./refs.js";
import { SyncClient } from "./sync_client.js";
import { encodeValue } from "./values.js";

export class ReactorClient extends SyncClient {
  /** Calls `callback` with every new value of the query; returns the unsubscribe function. */
  onUpdate(ref, args, callback, onError) {
    const path = getFunctionPath(ref);
    const sub = this.subscribe(path, checkArgs(args, path));
    let last;
    const deliver = () => {
      const result = this.optimistic.result(sub.token);
      if (result === undefined || result === last) return;
      last = result;
      if (result.success) return callSafely(this.logger, "onUpdate callback", () => callback(result.value));
      const error = errorFromResult("query", path, result);
      if (onError) callSafely(this.logger, "onUpdate onError", () => onError(error));
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
      const stop = this.onUpdate(
        ref,
        queryArgs,
        (value) => (stop(), resolve(value)),
        (err) => (stop(), reject(err)),
      );
    });
  }

  /** Runs a mutation; resolves once the client has seen a snapshot that includes its write. */
  async mutation(ref, args, options = {}) {
    const path = getFunctionPath(ref);
    const mutationArgs = checkArgs(args, path);
    const requestId = this.nextRequestId++;
    const message = requestMessage("Mutation", requestId, path, encodeValue(mutationArgs, "args"));
    if (options.optimisticUpdate) {
      this.listeners.notify(this.optimistic.apply(requestId, (store) => options.optimisticUpdate(store, mutationArgs)));
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

  /** Acts as the deployment's admin (its admin key): internal and `_system/` functions too. */
  setAdminAuth(adminKey) {
    this.auth.reset();
    this.send(this.local.setAdminAuth(adminKey));
  }

  clearAuth() {
    this.auth.reset();
    this.send(this.local.clearAuth());
  }

  subscribeToConnectionState(callback) {
    return this.listeners.addConnectionListener(callback);
  }

  /** Closes the socket for good; requests still in flight fail. */
  async close() {
    this.socket.terminate();
    this.auth.reset();
    this.requests.failAll("ReactorClient was closed");
  }
}
