import assert from "node:assert/strict";
import { test } from "node:test";
import { AppError } from "../src/index.js";
import { sleep, until, withServer } from "../tests/helpers.mjs";

test("a mutation resolves only after a Transition reaching its ts was applied (rule 2)", async () => {
  await withServer({ server: { transitionDelayMs: 120 } }, async (server, client) => {
    const events = [];
    client.onUpdate("counter:get", {}, (v) => events.push(`value ${v}`));
    await until(() => events.length === 1, "first value");
    const pending = client.mutation("counter:increment", { by: 2 }).then((result) => {
      events.push(`resolved ${result}`);
      return performance.now();
    });
    await until(() => server.sentLog.some((s) => s.message.type === "MutationResponse"), "response sent");
    await sleep(60);
    assert.deepEqual(events, ["value 0"], "the response alone must not resolve the mutation");
    const resolvedAt = await pending;
    const transition = server.sentLog.find(
      (s) => s.message.type === "Transition" && s.message.modifications.some((m) => m.value === 2),
    );
    assert.ok(resolvedAt >= transition.at, "resolved after the Transition was sent");
    assert.deepEqual(events, ["value 0", "value 2", "resolved 2"], "query callbacks run before the mutation resolves");
  });
});

test("a mutation whose write changes no subscribed query still resolves (empty Transition)", async () => {
  await withServer({}, async (_server, client) => {
    assert.equal(await client.mutation("values:echoMutation", { value: "x" }), "x");
  });
});

test("a failed mutation rejects at once with an AppError carrying data", async () => {
  await withServer({ server: { transitionDelayMs: 5000 } }, async (_server, client) => {
    const started = performance.now();
    const err = await client.mutation("fail:mutation", {}).catch((e) => e);
    assert.ok(err instanceof AppError);
    assert.deepEqual(err.data, { reason: "nope" });
    assert.match(err.message, /\[mutation fail:mutation\] mutation refused/);
    assert.ok(performance.now() - started < 2000, "did not wait for a Transition");
  });
});

test("mutations and actions share one requestId counter", async () => {
  await withServer({}, async (server, client) => {
    await client.mutation("counter:increment", {});
    assert.equal(await client.action("actions:echo", { value: [1, "a"] }).then((v) => JSON.stringify(v)), '[1,"a"]');
    await client.mutation("counter:increment", {});
    const ids = server.last.received
      .filter((m) => m.type === "Mutation" || m.type === "Action")
      .map((m) => [m.type, m.requestId]);
    assert.deepEqual(ids, [
      ["Mutation", 0],
      ["Action", 1],
      ["Mutation", 2],
    ]);
  });
});

test("a failing action rejects; arguments must be an object", async () => {
  await withServer({}, async (_server, client) => {
    await assert.rejects(client.action("actions:missing", {}), /\[action actions:missing\] no action named/);
    await assert.rejects(client.mutation("counter:increment", [1]), /arguments must be an object/);
    await assert.rejects(
      client.mutation("counter:increment", { bad: undefined, f: () => 1 }),
      /args\.f: a function is not a valid value/,
    );
  });
});

test("connection state counts requests in flight", async () => {
  await withServer({}, async (server, client) => {
    const states = [];
    client.subscribeToConnectionState((s) => states.push(s));
    await client.query("counter:get", {});
    server.stallMutations = true;
    client.mutation("counter:increment", {}).catch(() => {});
    await until(() => states.some((s) => s.inflightMutations === 1), "inflight mutation reported");
    const state = client.connectionState();
    assert.equal(state.isWebSocketConnected, true);
    assert.equal(state.hasInflightRequests, true);
    assert.ok(state.timeOfOldestInflightRequest instanceof Date);
  });
});
