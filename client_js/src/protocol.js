// Sync protocol messages: builders for what the client sends, a checking parser for what it receives.

import { base64ToBytes, bytesToBase64 } from "./values.js";

/** Raised for a server message that does not follow protocol.md. */
export class ProtocolError extends Error {
  constructor(message) {
    super(message);
    this.name = "ProtocolError";
  }
}

/** A u64 timestamp on the wire: base64 of 8 little-endian bytes. */
export function decodeTs(text) {
  let bytes;
  try {
    bytes = base64ToBytes(text);
  } catch (err) {
    throw new ProtocolError(`timestamp: ${err.message}`);
  }
  if (bytes.length !== 8) throw new ProtocolError(`timestamp: expected 8 bytes, got ${bytes.length} in "${text}"`);
  return new DataView(bytes.buffer).getBigUint64(0, true);
}

export function encodeTs(ts) {
  const view = new DataView(new ArrayBuffer(8));
  view.setBigUint64(0, BigInt(ts), true);
  return bytesToBase64(new Uint8Array(view.buffer));
}

/** The client version whose protocol this client speaks; it names the sync endpoint. */
export const PROTOCOL_VERSION = "1.48.0";

/** http(s)://host[/prefix] -> ws(s)://host[/prefix]/api/1.48.0/sync */
export function syncUrl(url) {
  const match = /^(https?|wss?):\/\/(.+?)\/*$/.exec(url);
  if (match === null) throw new Error(`ReactorClient: expected an http(s):// or ws(s):// URL, got "${url}"`);
  const scheme = { http: "ws", https: "wss" }[match[1]] ?? match[1];
  return `${scheme}://${match[2]}/api/${PROTOCOL_VERSION}/sync`;
}

/** A random v4 UUID identifying this client across reconnects. */
export function newSessionId() {
  if (globalThis.crypto?.randomUUID) return globalThis.crypto.randomUUID();
  const hex = Array.from({ length: 32 }, () => Math.floor(Math.random() * 16).toString(16));
  hex[12] = "4";
  hex[16] = ((parseInt(hex[16], 16) & 3) | 8).toString(16);
  return `${hex.slice(0, 8).join("")}-${hex.slice(8, 12).join("")}-${hex.slice(12, 16).join("")}-${hex.slice(16, 20).join("")}-${hex.slice(20).join("")}`;
}

export const ZERO_VERSION = Object.freeze({ querySet: 0, identity: 0, ts: 0n });

export function sameVersion(a, b) {
  return a.querySet === b.querySet && a.identity === b.identity && a.ts === b.ts;
}

export function formatVersion(v) {
  return `{querySet: ${v.querySet}, identity: ${v.identity}, ts: ${v.ts}}`;
}

export function connectMessage({ sessionId, connectionCount, lastCloseReason, maxObservedTimestamp }) {
  const message = { type: "Connect", sessionId, connectionCount, lastCloseReason, clientTs: Date.now() };
  if (maxObservedTimestamp !== undefined) message.maxObservedTimestamp = encodeTs(maxObservedTimestamp);
  return message;
}

export function modifyQuerySetMessage(baseVersion, newVersion, modifications) {
  return { type: "ModifyQuerySet", baseVersion, newVersion, modifications };
}

export function requestMessage(kind, requestId, udfPath, encodedArgs) {
  return { type: kind, requestId, udfPath, args: [encodedArgs] };
}

export function authenticateMessage(auth, baseVersion) {
  if (auth === undefined) return { type: "Authenticate", tokenType: "None", baseVersion };
  return { type: "Authenticate", tokenType: auth.tokenType, value: auth.value, baseVersion };
}

// --- parsing -------------------------------------------------------------

function need(cond, type, what) {
  if (!cond) throw new ProtocolError(`${type}: ${what}`);
}

function isInt(n) {
  return Number.isSafeInteger(n) && n >= 0;
}

function parseVersion(v, type, field) {
  need(v !== null && typeof v === "object", type, `${field} must be an object`);
  need(isInt(v.querySet) && isInt(v.identity), type, `${field}.querySet and .identity must be non-negative integers`);
  need(typeof v.ts === "string", type, `${field}.ts must be a base64 string`);
  return { querySet: v.querySet, identity: v.identity, ts: decodeTs(v.ts) };
}

const MODIFICATION_FIELDS = {
  QueryUpdated: (m) => "value" in m && Array.isArray(m.logLines),
  QueryFailed: (m) => typeof m.errorMessage === "string" && Array.isArray(m.logLines),
  QueryRemoved: () => true,
};

function parseTransition(msg) {
  need(Array.isArray(msg.modifications), "Transition", "modifications must be a list");
  for (const m of msg.modifications) {
    const check = m !== null && typeof m === "object" ? MODIFICATION_FIELDS[m.type] : undefined;
    need(check !== undefined, "Transition", `unknown modification ${JSON.stringify(m)?.slice(0, 80)}`);
    need(isInt(m.queryId) && check(m), "Transition", `malformed ${m.type} for query ${m.queryId}`);
  }
  return {
    ...msg,
    startVersion: parseVersion(msg.startVersion, "Transition", "startVersion"),
    endVersion: parseVersion(msg.endVersion, "Transition", "endVersion"),
  };
}

function parseResponse(msg) {
  need(isInt(msg.requestId), msg.type, "requestId must be a non-negative integer");
  need(typeof msg.success === "boolean", msg.type, "success must be a boolean");
  need(Array.isArray(msg.logLines), msg.type, "logLines must be a list");
  if (!msg.success) {
    need(typeof msg.result === "string", msg.type, "a failure's result must be the error message");
    return msg;
  }
  if (msg.type === "ActionResponse") return msg;
  need(typeof msg.ts === "string", msg.type, "a success needs ts");
  return { ...msg, ts: decodeTs(msg.ts) };
}

const PARSERS = {
  Transition: parseTransition,
  MutationResponse: parseResponse,
  ActionResponse: parseResponse,
  AuthError: (m) => {
    need(typeof m.error === "string", "AuthError", "error must be a string");
    return m;
  },
  FatalError: (m) => m,
  Ping: (m) => m,
  TransitionChunk: (m) => {
    need(typeof m.chunk === "string" && isInt(m.partNumber) && isInt(m.totalParts), "TransitionChunk", "malformed");
    return m;
  },
};

/** Parses one text frame into a checked message; ts fields become bigint. */
export function parseServerMessage(text) {
  let msg;
  try {
    msg = JSON.parse(text);
  } catch {
    throw new ProtocolError(`frame is not JSON: ${String(text).slice(0, 80)}`);
  }
  const parse = msg !== null && typeof msg === "object" ? PARSERS[msg.type] : undefined;
  if (parse === undefined) throw new ProtocolError(`unknown message type ${JSON.stringify(msg?.type)}`);
  return parse(msg);
}
