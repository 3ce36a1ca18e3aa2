import assert from "node:assert/strict";
import { test } from "node:test";
import { base64ToBytes, bytesToBase64, decodeValue, encodeValue } from "../src/values.js";
import { decodeTs, encodeTs } from "../src/protocol.js";
import { until, withServer } from "../tests/helpers.mjs";

test("known wire forms (protocol.md sections 2 and 3)", () => {
  assert.deepEqual(encodeValue(1n), { $integer: "AQAAAAAAAAA=" });
  assert.deepEqual(encodeValue(-1n), { $integer: "//////////8=" });
  assert.deepEqual(encodeValue(NaN), { $float: Buffer.from(new Float64Array([NaN]).buffer).toString("base64") });
  assert.deepEqual(encodeValue(-0), { $float: "AAAAAAAAAIA=" });
  assert.deepEqual(encodeValue(Infinity), { $float: "AAAAAAAA8H8=" });
  assert.deepEqual(encodeValue(new Uint8Array([1, 2, 3])), { $bytes: "AQID" });
  assert.equal(encodeTs(0n), "AAAAAAAAAAA=");
  assert.equal(encodeTs(1000n), "6AMAAAAAAAA=");
  assert.equal(decodeTs("6AMAAAAAAAA="), 1000n);
  assert.equal(decodeTs(encodeTs(2n ** 64n - 1n)), 2n ** 64n - 1n);
});

test("objects: keys sorted, undefined fields dropped, bad field names refused", () => {
  assert.equal(JSON.stringify(encodeValue({ b: 1, a: { d: undefined, c: 2 } })), '{"a":{"c":2},"b":1}');
  assert.throws(() => encodeValue({ $x: 1 }), /value: field name "\$x" starts with "\$"/);
  assert.throws(() => encodeValue({ a: [1, undefined] }), /value\.a\[1\]: undefined is not a valid value/);
  assert.throws(() => encodeValue({ a: new Map() }), /value\.a: a Map is not a valid value/);
  assert.throws(() => encodeValue(2n ** 63n), /does not fit/);
  assert.throws(() => decodeValue({ $integer: "AQ==" }), /8 bytes/);
  assert.throws(() => decodeValue({ é: 1 }), /printable ASCII/);
});

test("base64 accepts URL-safe and unpadded input", () => {
  const bytes = new Uint8Array([251, 255, 191]);
  assert.equal(bytesToBase64(bytes), "+/+/");
  assert.deepEqual(base64ToBytes("-_-_"), bytes);
  assert.deepEqual(base64ToBytes("AQI"), new Uint8Array([1, 2]));
  assert.throws(() => base64ToBytes("A*=="), /invalid character/);
});

// A seeded generator: failures print the seed so they can be replayed.
function generator(seed) {
  let state = seed >>> 0 || 1;
  const rand = () => (state = (state * 1664525 + 1013904223) >>> 0) / 2 ** 32;
  const pick = (list) => list[Math.floor(rand() * list.length)];
  const scalar = () =>
    pick([
      () => null,
      () => rand() < 0.5,
      () => pick([NaN, -0, Infinity, -Infinity, 0, 1.5, -(2 ** 60), Number.MAX_VALUE]),
      () => (rand() - 0.5) * 1e6,
      () => BigInt.asIntN(64, BigInt(Math.floor(rand() * 2 ** 53)) * BigInt(Math.floor(rand() * 2 ** 20) - 2 ** 19)),
      () => pick([-(2n ** 63n), 2n ** 63n - 1n, 0n]),
      () =>
        String.fromCharCode(...Array.from({ length: Math.floor(rand() * 6) }, () => 32 + Math.floor(rand() * 0x2fff))),
      () => new Uint8Array(Array.from({ length: Math.floor(rand() * 9) }, () => Math.floor(rand() * 256))).buffer,
    ])();
  const value = (depth) => {
    if (depth > 3 || rand() < 0.5) return scalar();
    if (rand() < 0.5) return Array.from({ length: Math.floor(rand() * 4) }, () => value(depth + 1));
    const out = {};
    for (let i = 0; i < rand() * 4; i++) out[`k${Math.floor(rand() * 100)}`] = value(depth + 1);
    return out;
  };
  return () => value(0);
}

function comparable(v) {
  if (v instanceof ArrayBuffer) return { bytes: [...new Uint8Array(v)] };
  if (typeof v === "number") return Object.is(v, -0) ? "-0" : Number.isNaN(v) ? "NaN" : v;
  if (typeof v === "bigint") return `${v}n`;
  if (Array.isArray(v)) return v.map(comparable);
  if (v !== null && typeof v === "object")
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, comparable(x)]));
  return v;
}

test("decode(JSON(encode(v))) === v for generated values", () => {
  const seed = Number(process.env.VALUES_SEED ?? Date.now() % 100000);
  const next = generator(seed);
  for (let i = 0; i < 500; i++) {
    const v = next();
    const back = decodeValue(JSON.parse(JSON.stringify(encodeValue(v))));
    assert.deepEqual(comparable(back), comparable(v), `seed ${seed}, case ${i}`);
  }
});

test("values survive a round trip through the server as query args and mutation results", async () => {
  await withServer({}, async (_server, client) => {
    const value = {
      big: -(2n ** 63n),
      nan: NaN,
      negZero: -0,
      inf: -Infinity,
      bytes: new Uint8Array([0, 255]),
      list: [1n, "x", null],
    };
    const expected = comparable({ ...value, bytes: new Uint8Array([0, 255]).buffer });
    const seen = [];
    client.onUpdate("values:echo", { value }, (v) => seen.push(v));
    await until(() => seen.length === 1, "echo");
    assert.deepEqual(comparable(seen[0]), expected);
    assert.ok(seen[0].bytes instanceof ArrayBuffer, "bytes decode to ArrayBuffer, as the official client does");
    assert.deepEqual(comparable(await client.mutation("values:echoMutation", { value })), expected);
  });
});
