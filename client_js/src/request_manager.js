// Mutations and actions in flight: their request ids, answers, and what to re-send on a new socket.

import { decodeValue } from "./values.js";

/**
 * A request moves NotSent -> Sent -> (mutation success) Answered -> resolved once a Transition
 * reaches its ts. Failures and actions resolve on their response alone.
 */
export class RequestManager {
  constructor() {
    this.inflight = new Map(); // requestId -> {message, state, settle, ts?, result?, since}
    this.olderThanRestart = new Set();
  }

  /** Tracks a request; the promise settles with a FunctionResult, never rejects. */
  request(message, sent) {
    return new Promise((settle) => {
      this.inflight.set(message.requestId, { message, state: sent ? "Sent" : "NotSent", settle, since: Date.now() });
    });
  }

  /**
   * Handles a MutationResponse/ActionResponse. Returns {requestId, result} when the request is
   * finished now (so its optimistic update can go), null otherwise.
   */
  onResponse(response) {
    const request = this.inflight.get(response.requestId);
    // A re-sent mutation may be answered twice, or after we already saw its write.
    if (request === undefined || request.state === "Answered") return null;
    const result = toResult(response);
    if (response.type === "ActionResponse" || !result.success) {
      this.finish(response.requestId, request, result);
      return { requestId: response.requestId, result };
    }
    // Wait for a Transition at or past ts so the caller reads its own write.
    request.state = "Answered";
    request.ts = response.ts;
    request.result = result;
    return null;
  }

  /** Resolves every answered mutation whose ts the client has now reached. */
  removeCompleted(ts) {
    const done = new Map();
    for (const [requestId, request] of this.inflight) {
      if (request.state === "Answered" && request.ts <= ts) {
        this.finish(requestId, request, request.result);
        done.set(requestId, request.result);
      }
    }
    return done;
  }

  finish(requestId, request, result) {
    this.inflight.delete(requestId);
    this.olderThanRestart.delete(requestId);
    request.settle(result);
  }

  /**
   * Messages for a new socket. Mutations are re-sent with the same id (the server answers a
   * repeat from its stored outcome); actions may not be idempotent, so an action that was
   * sent fails instead.
   */
  restart() {
    this.olderThanRestart = new Set(this.inflight.keys());
    const messages = [];
    for (const [requestId, request] of this.inflight) {
      if (request.state === "NotSent" || request.message.type === "Mutation") {
        request.state = request.state === "NotSent" ? "Sent" : request.state;
        messages.push(request.message);
        continue;
      }
      this.finish(requestId, request, {
        success: false,
        errorMessage: "Connection lost while action was in flight",
        logLines: [],
      });
    }
    return messages;
  }

  /** Settles every request with the same failure (FatalError, close()). */
  failAll(errorMessage) {
    for (const [requestId, request] of this.inflight) {
      this.finish(requestId, request, { success: false, errorMessage, logLines: [] });
    }
  }

  /** Messages held back while the socket was paused. */
  resume() {
    const messages = [];
    for (const request of this.inflight.values()) {
      if (request.state !== "NotSent") continue;
      request.state = "Sent";
      messages.push(request.message);
    }
    return messages;
  }

  syncedSinceRestart() {
    return this.olderThanRestart.size === 0;
  }

  counts() {
    let mutations = 0;
    let actions = 0;
    let oldest = null;
    for (const request of this.inflight.values()) {
      if (request.message.type === "Mutation") mutations += 1;
      else actions += 1;
      if (request.state !== "Answered" && (oldest === null || request.since < oldest)) oldest = request.since;
    }
    return { mutations, actions, oldest: oldest === null ? null : new Date(oldest) };
  }
}

/** A response as a FunctionResult; an undecodable value fails the request rather than the socket. */
function toResult(response) {
  try {
    if (response.success) {
      return { success: true, value: decodeValue(response.result, "result"), logLines: response.logLines };
    }
    const errorData = response.errorData === undefined ? undefined : decodeValue(response.errorData, "errorData");
    return { success: false, errorMessage: response.result, errorData, logLines: response.logLines };
  } catch (err) {
    return { success: false, errorMessage: `malformed ${response.type}: ${err.message}`, logLines: response.logLines };
  }
}
