// One WebSocket at a time: connecting, reconnecting with backoff, heartbeat timeout, frame parsing.

import { Backoff, classifyCloseReason } from "./backoff.js";
import { ProtocolError, parseServerMessage } from "./protocol.js";

// Close codes that are routine (normal, going away, no status) or a transient 404 during a deploy.
const QUIET_CLOSE_CODES = new Set([1000, 1001, 1005, 4040]);

/**
 * States: "disconnected" (reconnect scheduled), "connecting", "ready", "stopped" (closed until
 * restart()), "terminated" (closed for good).
 */
export class SocketManager {
  constructor(uri, WebSocketImpl, handlers, { logger, backoff, inactivityMs = 60000 }) {
    this.uri = uri;
    this.WebSocketImpl = WebSocketImpl;
    this.handlers = handlers; // {onOpen(meta), onMessage(msg), onStateChange()}
    this.logger = logger;
    this.backoff = backoff instanceof Backoff ? backoff : new Backoff(backoff);
    this.inactivityMs = inactivityMs;
    this.state = "disconnected";
    this.ws = null;
    this.connectionCount = 0;
    this.hasEverConnected = false;
    this.lastCloseReason = "InitialConnect";
    this.reconnectTimer = null;
    this.inactivityTimer = null;
    this.chunks = null;
  }

  setState(state) {
    this.state = state;
    this.logger.debug(`socket ${state}`);
    this.handlers.onStateChange();
  }

  connect() {
    if (this.state === "terminated" || this.state === "connecting" || this.state === "ready") return;
    let ws;
    try {
      ws = new this.WebSocketImpl(this.uri);
    } catch (err) {
      this.logger.error(`could not open WebSocket to ${this.uri}:`, err);
      this.scheduleReconnect("Unknown");
      return;
    }
    this.ws = ws;
    this.setState("connecting");
    this.resetInactivityTimer();
    ws.onopen = () => this.opened(ws);
    ws.onmessage = (event) => this.received(ws, event.data);
    ws.onerror = (event) => {
      if (event?.message) this.logger.debug(`WebSocket error: ${event.message}`);
    };
    ws.onclose = (event) => this.closed(ws, event);
  }

  opened(ws) {
    if (ws !== this.ws) return;
    this.setState("ready");
    this.resetInactivityTimer();
    this.hasEverConnected = true;
    const meta = { connectionCount: this.connectionCount, lastCloseReason: this.lastCloseReason };
    this.connectionCount += 1;
    this.lastCloseReason = null;
    this.handlers.onOpen(meta);
  }

  received(ws, data) {
    if (ws !== this.ws) return;
    this.resetInactivityTimer();
    let message;
    try {
      message = this.assemble(parseServerMessage(typeof data === "string" ? data : String(data)));
    } catch (err) {
      // A bad frame is dropped; if it carried a Transition the next one will not line up and we resync.
      this.logger.error("ignoring a malformed server message:", err.message);
      return;
    }
    if (message === null || message.type === "Ping") return;
    try {
      this.handlers.onMessage(message);
    } catch (err) {
      this.logger.error(`could not apply ${message.type}; reconnecting to resync:`, err.message ?? err);
      this.closeAndReconnect(err instanceof ProtocolError ? "ProtocolError" : "ClientError");
    }
  }

  /** Joins TransitionChunks into their Transition; other messages pass through. */
  assemble(message) {
    if (message.type !== "TransitionChunk") {
      this.chunks = null;
      return message;
    }
    const { partNumber, totalParts, transitionId } = message;
    if (partNumber === 0) this.chunks = { transitionId, totalParts, parts: [] };
    const buffer = this.chunks;
    if (
      buffer === null ||
      buffer.transitionId !== transitionId ||
      buffer.totalParts !== totalParts ||
      buffer.parts.length !== partNumber
    ) {
      this.chunks = null;
      throw new ProtocolError(`TransitionChunk ${partNumber}/${totalParts} of ${transitionId} out of order`);
    }
    buffer.parts.push(message.chunk);
    if (buffer.parts.length < totalParts) return null;
    this.chunks = null;
    const whole = parseServerMessage(buffer.parts.join(""));
    if (whole.type !== "Transition") throw new ProtocolError(`TransitionChunks assembled into ${whole.type}`);
    return whole;
  }

  closed(ws, event) {
    if (ws !== this.ws) return;
    this.ws = null;
    this.chunks = null;
    if (this.lastCloseReason === null) this.lastCloseReason = event?.reason || `closed with code ${event?.code}`;
    if (!QUIET_CLOSE_CODES.has(event?.code)) {
      this.logger.log(`WebSocket closed with code ${event?.code}${event?.reason ? `: ${event.reason}` : ""}`);
    }
    this.scheduleReconnect(classifyCloseReason(event?.reason));
  }

  scheduleReconnect(kind) {
    this.clearTimer("reconnectTimer");
    this.clearTimer("inactivityTimer");
    const delay = this.backoff.next(kind);
    this.setState("disconnected");
    this.logger.debug(`reconnecting in ${Math.round(delay)} ms (${kind})`);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      this.connect();
    }, delay);
  }

  resetInactivityTimer() {
    this.clearTimer("inactivityTimer");
    if (this.state === "terminated" || this.state === "stopped") return;
    this.inactivityTimer = setTimeout(() => this.closeAndReconnect("InactiveServer"), this.inactivityMs);
  }

  clearTimer(name) {
    if (this[name] !== null) clearTimeout(this[name]);
    this[name] = null;
  }

  /** Drops the current socket (for a reason of ours) and reconnects soon. */
  closeAndReconnect(reason) {
    if (this.state !== "connecting" && this.state !== "ready") return;
    this.lastCloseReason = reason;
    this.detach();
    this.scheduleReconnect("client");
  }

  /** Closes the socket without firing our onclose logic. */
  detach() {
    const ws = this.ws;
    this.ws = null;
    this.chunks = null;
    if (ws === null) return;
    ws.onmessage = ws.onopen = ws.onclose = null;
    // Closing a socket that is still connecting fires "error"; an EventEmitter-based
    // implementation (ws) would throw it if nothing listened.
    ws.onerror = () => {};
    try {
      ws.close();
    } catch (err) {
      this.logger.debug("closing WebSocket failed:", err);
    }
  }

  send(message) {
    if (this.state !== "ready") return false;
    try {
      this.ws.send(JSON.stringify(message));
    } catch (err) {
      this.logger.error(`sending ${message.type} failed, reconnecting:`, err);
      this.closeAndReconnect("FailedToSendMessage");
      return false;
    }
    return true;
  }

  /** Closes until restart(); used while fetching a replacement auth token. */
  stop() {
    if (this.state === "terminated") return;
    this.clearTimer("reconnectTimer");
    this.clearTimer("inactivityTimer");
    this.detach();
    this.setState("stopped");
  }

  restart() {
    if (this.state === "stopped") this.connect();
  }

  terminate() {
    this.clearTimer("reconnectTimer");
    this.clearTimer("inactivityTimer");
    this.detach();
    this.setState("terminated");
  }
}
