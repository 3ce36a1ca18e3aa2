import assert from "node:assert/strict";
import { test } from "node:test";
import { makeFunctionReference } from "../src/index.js";
import { until, withServer } from "../tests/helpers.mjs";

test("onUpdate delivers the first value and every change", async () => {
  await withServer({}, async (server, client) => {
    const seen = [];
    const stop = client.onUpdate("counter:get", {}, (v) => seen.push(v));
    await until(() => seen.length === 1, "first value");
    assert.deepEqual(seen, [0]);
    server.commit((db) => db.set("counter", [{ value: 5 }]));
    await until(() => seen.length === 2, "update");
    assert.deepEqual(seen, [0, 5]);
    stop();
    await server.waitForMessage((m) => m.type === "ModifyQuerySet" && m.modifications[0]?.type === "Remove");
    server.commit((db) => db.set("counter", [{ value: 6 }]));
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(seen, [0, 5], "no callback after unsubscribe");
  });
});

test("a query subscribed again before the server confirms its removal waits for the new answer", async () => {
  await withServer({}, async (server, client) => {
    const first = [];
    const stop = client.onUpdate("counter:get", {}, (v) => first.push(v));
    await until(() => first.length === 1, "first value");
    stop();
    server.commit((db) => db.set("counter", [{ value: 5 }]));
    const seen = [];
    client.onUpdate("counter:get", {}, (v) => seen.push(v));
    await until(() => seen.length >= 1, "the new subscription's value");
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(seen, [5], "the removed subscription's value 0 is not shown");
    assert.equal(await client.query("counter:get", {}), 5);
  });
});

test("the sync URL, Connect and the first ModifyQuerySet follow protocol.md", async () => {
  await withServer({}, async (server, client) => {
    await client.query("counter:get", {});
    const conn = server.connections[0];
    assert.equal(conn.path, "/api/1.48.0/sync");
    const [connect, modify] = conn.received;
    assert.equal(connect.type, "Connect");
    assert.equal(connect.connectionCount, 0);
    assert.equal(connect.lastCloseReason, "InitialConnect");
    assert.match(connect.sessionId, /^[0-9a-f-]{36}$/);
    assert.equal(typeof connect.clientTs, "number");
    assert.deepEqual(modify, {
      type: "ModifyQuerySet",
      baseVersion: 0,
      newVersion: 1,
      modifications: [{ type: "Add", queryId: 0, udfPath: "counter:get", args: [{}] }],
    });
  });
});

test("two subscribers of one query share one server subscription", async () => {
  await withServer({}, async (server, client) => {
    const a = [];
    const b = [];
    const stopA = client.onUpdate("counter:get", {}, (v) => a.push(v));
    const stopB = client.onUpdate(makeFunctionReference("counter:get"), {}, (v) => b.push(v));
    await until(() => a.length === 1 && b.length === 1, "both values");
    const adds = server.connections[0].received.flatMap((m) => (m.type === "ModifyQuerySet" ? m.modifications : []));
    assert.equal(adds.filter((m) => m.type === "Add").length, 1);
    stopA();
    server.commit((db) => db.set("counter", [{ value: 1 }]));
    await until(() => b.length === 2, "b update");
    assert.deepEqual(a, [0]);
    stopB();
  });
});

test("query ids are never reused after an unsubscribe", async () => {
  await withServer({}, async (server, client) => {
    for (const by of [1, 2, 3]) {
      assert.equal(await client.query("values:echo", { value: by }), by);
    }
    const adds = server.connections[0].received
      .flatMap((m) => (m.type === "ModifyQuerySet" ? m.modifications : []))
      .filter((m) => m.type === "Add");
    assert.deepEqual(
      adds.map((m) => m.queryId),
      [0, 1, 2],
    );
  });
});

test("a failing query reaches onError with its data; query() rejects", async () => {
  await withServer({}, async (_server, client) => {
    const errors = [];
    client.onUpdate(
      "fail:query",
      {},
      () => assert.fail("no value expected"),
      (e) => errors.push(e),
    );
    await until(() => errors.length === 1, "error");
    assert.equal(errors[0].name, "AppError");
    assert.deepEqual(errors[0].data, { code: 42 });
    assert.match(errors[0].message, /fail:query/);
    await assert.rejects(client.query("fail:query", {}), /query refused/);
  });
});

test("query paths are canonicalised; mutation paths are sent as given", async () => {
  await withServer({}, async (server, client) => {
    await client.query("counter.js:get", {});
    await client.mutation("counter:increment", {});
    const add = server.connections[0].received.find((m) => m.type === "ModifyQuerySet" && m.modifications.length > 0);
    assert.equal(add.modifications[0].udfPath, "counter:get");
    assert.deepEqual(add.modifications[0].args, [{}]);
    const mutation = server.connections[0].received.find((m) => m.type === "Mutation");
    assert.deepEqual(mutation, { type: "Mutation", requestId: 0, udfPath: "counter:increment", args: [{}] });
  });
});
