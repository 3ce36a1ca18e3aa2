// Convex JSON: the wire encoding of Reactor values (protocol.md section 2).

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const DECODE = new Int16Array(128).fill(-1);
for (let i = 0; i < 64; i++) DECODE[ALPHABET.charCodeAt(i)] = i;
// The server may send the URL-safe alphabet; accept it on input.
DECODE["-".charCodeAt(0)] = 62;
DECODE["_".charCodeAt(0)] = 63;

const MIN_INT64 = -(2n ** 63n);
const MAX_INT64 = 2n ** 63n - 1n;
const MAX_FIELD_NAME = 1024;

/** Standard base64 with `=` padding. */
export function bytesToBase64(bytes) {
  let out = "";
  let i = 0;
  for (; i + 2 < bytes.length; i += 3) {
    const n = (bytes[i] << 16) | (bytes[i + 1] << 8) | bytes[i + 2];
    out += ALPHABET[n >> 18] + ALPHABET[(n >> 12) & 63] + ALPHABET[(n >> 6) & 63] + ALPHABET[n & 63];
  }
  const rest = bytes.length - i;
  if (rest === 1) {
    const n = bytes[i] << 16;
    out += ALPHABET[n >> 18] + ALPHABET[(n >> 12) & 63] + "==";
  } else if (rest === 2) {
    const n = (bytes[i] << 16) | (bytes[i + 1] << 8);
    out += ALPHABET[n >> 18] + ALPHABET[(n >> 12) & 63] + ALPHABET[(n >> 6) & 63] + "=";
  }
  return out;
}

/** Decodes standard or URL-safe base64, padded or not. */
export function base64ToBytes(text) {
  if (typeof text !== "string") throw new TypeError(`base64: expected a string, got ${typeof text}`);
  const clean = text.replace(/=+$/, "");
  if (clean.length % 4 === 1) throw new Error(`base64: invalid length ${text.length} for "${text}"`);
  const out = new Uint8Array(Math.floor((clean.length * 3) / 4));
  let bits = 0;
  let acc = 0;
  let o = 0;
  for (let i = 0; i < clean.length; i++) {
    const code = clean.charCodeAt(i);
    const v = code < 128 ? DECODE[code] : -1;
    if (v < 0) throw new Error(`base64: invalid character "${clean[i]}" in "${text}"`);
    acc = (acc << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (acc >> bits) & 0xff;
    }
  }
  return out;
}

function isSpecialFloat(n) {
  return Number.isNaN(n) || !Number.isFinite(n) || Object.is(n, -0);
}

function isPlainObject(value) {
  const proto = Object.getPrototypeOf(value);
  return proto === null || proto === Object.prototype || proto?.constructor?.name === "Object";
}

function checkFieldName(name, path) {
  if (name.length > MAX_FIELD_NAME) {
    throw new Error(`${path}: field name longer than ${MAX_FIELD_NAME} characters`);
  }
  if (name.startsWith("$")) throw new Error(`${path}: field name "${name}" starts with "$", which is reserved`);
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c < 32 || c > 126) {
      throw new Error(`${path}: field name "${name}" has a character outside printable ASCII`);
    }
  }
}

function int64ToJson(value, path) {
  if (value < MIN_INT64 || value > MAX_INT64) {
    throw new Error(`${path}: BigInt ${value} does not fit in a signed 64-bit integer`);
  }
  const view = new DataView(new ArrayBuffer(8));
  view.setBigInt64(0, value, true);
  return { $integer: bytesToBase64(new Uint8Array(view.buffer)) };
}

function floatToJson(value) {
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, value, true);
  return { $float: bytesToBase64(new Uint8Array(view.buffer)) };
}

/**
 * Encodes a value for the wire: bigint -> $integer, NaN/±Infinity/-0 -> $float,
 * ArrayBuffer or typed array -> $bytes; object keys sorted, undefined fields dropped.
 */
export function encodeValue(value, path = "value") {
  if (value === null || typeof value === "boolean" || typeof value === "string") return value;
  if (typeof value === "number") return isSpecialFloat(value) ? floatToJson(value) : value;
  if (typeof value === "bigint") return int64ToJson(value, path);
  if (value === undefined) throw new Error(`${path}: undefined is not a valid value`);
  if (typeof value !== "object") throw new Error(`${path}: a ${typeof value} is not a valid value`);
  if (value instanceof ArrayBuffer) return { $bytes: bytesToBase64(new Uint8Array(value)) };
  if (ArrayBuffer.isView(value)) {
    return { $bytes: bytesToBase64(new Uint8Array(value.buffer, value.byteOffset, value.byteLength)) };
  }
  if (Array.isArray(value)) return value.map((item, i) => encodeValue(item, `${path}[${i}]`));
  if (!isPlainObject(value)) {
    const kind = value.constructor?.name ?? "object";
    throw new Error(`${path}: a ${kind} is not a valid value (use plain objects, arrays, bigint, ArrayBuffer)`);
  }
  const out = {};
  for (const key of Object.keys(value).sort()) {
    const item = value[key];
    if (item === undefined) continue;
    checkFieldName(key, path);
    out[key] = encodeValue(item, `${path}.${key}`);
  }
  return out;
}

function decodeSpecial(key, payload, path) {
  if (typeof payload !== "string") throw new Error(`${path}: ${key} must hold a base64 string`);
  if (key === "$bytes") return base64ToBytes(payload).buffer;
  const bytes = base64ToBytes(payload);
  if (bytes.length !== 8) throw new Error(`${path}: ${key} must encode 8 bytes, got ${bytes.length}`);
  const view = new DataView(bytes.buffer);
  return key === "$integer" ? view.getBigInt64(0, true) : view.getFloat64(0, true);
}

/** Decodes a wire value: $integer -> bigint, $float -> number, $bytes -> ArrayBuffer. */
export function decodeValue(json, path = "value") {
  if (json === null || typeof json === "boolean" || typeof json === "number" || typeof json === "string") {
    return json;
  }
  if (Array.isArray(json)) return json.map((item, i) => decodeValue(item, `${path}[${i}]`));
  if (typeof json !== "object") throw new Error(`${path}: unexpected ${typeof json} in convex JSON`);
  const keys = Object.keys(json);
  if (keys.length === 1 && (keys[0] === "$integer" || keys[0] === "$float" || keys[0] === "$bytes")) {
    return decodeSpecial(keys[0], json[keys[0]], path);
  }
  const out = {};
  for (const key of keys) {
    checkFieldName(key, path);
    out[key] = decodeValue(json[key], `${path}.${key}`);
  }
  return out;
}
