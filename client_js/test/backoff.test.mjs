import assert from "node:assert/strict";
import { test } from "node:test";
import { Backoff, classifyCloseReason } from "../src/backoff.js";

test("jitter keeps every delay within ±50 % of the exponential base, capped at max", () => {
  for (const r of [0, 0.25, 0.5, 0.999999]) {
    const backoff = new Backoff({ initialMs: 1000, maxMs: 16000, random: () => r });
    const delays = Array.from({ length: 8 }, () => backoff.next("Unknown"));
    const bases = [1000, 2000, 4000, 8000, 16000, 16000, 16000, 16000];
    delays.forEach((delay, i) => {
      assert.ok(
        delay >= bases[i] * 0.5 && delay < bases[i] * 1.5,
        `retry ${i}: ${delay} outside [${bases[i] / 2}, ${bases[i] * 1.5})`,
      );
      assert.ok(Math.abs(delay - bases[i] * (0.5 + r)) < 1e-6);
    });
  }
});

test("real randomness stays within bounds and varies", () => {
  const backoff = new Backoff();
  const seen = new Set();
  for (let i = 0; i < 200; i++) {
    backoff.reset();
    const delay = backoff.next("Unknown");
    assert.ok(delay >= 500 && delay < 1500);
    seen.add(Math.round(delay));
  }
  assert.ok(seen.size > 50, "delays are jittered");
});

test("the start depends on the close reason; reset starts over", () => {
  const backoff = new Backoff({ initialMs: 1000, random: () => 0.5 });
  assert.equal(backoff.next("client"), 100);
  backoff.reset();
  assert.equal(backoff.next("InternalServerError"), 1000);
  backoff.reset();
  assert.equal(backoff.next("CommitterFullError"), 3000);
  assert.equal(backoff.next("CommitterFullError"), 6000);
  assert.equal(backoff.retries, 2);
});

test("close reasons are classified by prefix", () => {
  assert.equal(classifyCloseReason("InternalServerError: restarting"), "InternalServerError");
  assert.equal(classifyCloseReason("SubscriptionsWorkerFullError"), "SubscriptionsWorkerFullError");
  assert.equal(classifyCloseReason("TooManyConcurrentRequests"), "TooManyConcurrentRequests");
  assert.equal(classifyCloseReason("CommitterFullError x"), "CommitterFullError");
  assert.equal(classifyCloseReason("something else"), "Unknown");
  assert.equal(classifyCloseReason(""), "Unknown");
  assert.equal(classifyCloseReason(undefined), "Unknown");
});
