import assert from "node:assert/strict";
import { test } from "node:test";
import { encodeTs } from "../tests/fake_server.mjs";
import { sleep, until, withServer } from "../tests/helpers.mjs";

function trapUncaught() {
  const caught = [];
  const onError = (err) => caught.push(err);
  process.on("uncaughtException", onError);
  process.on("unhandledRejection", onError);
  return {
    caught,
    stop: () => (process.off("uncaughtException", onError), process.off("unhandledRejection", onError)),
  };
}

test("malformed server frames are logged and dropped, never thrown into the app", async () => {
  const trap = trapUncaught();
  try {
    await withServer({}, async (server, client) => {
      const seen = [];
      client.onUpdate("counter:get", {}, (v) => seen.push(v));
      await until(() => seen.length === 1, "first value");
      for (const frame of [
        "not json",
        "null",
        "[]",
        '{"type":"Bogus"}',
        '{"type":"Transition"}',
        '{"type":"MutationResponse","requestId":"x"}',
      ]) {
        server.sendRaw(frame);
      }
      await sleep(50);
      server.commit((db) => db.set("counter", [{ value: 3 }]));
      await until(() => seen.length === 2, "update after junk");
      assert.deepEqual(seen, [0, 3]);
      assert.equal(server.connections.length, 1, "junk alone does not cost a reconnect");
      assert.equal(client.testLogger.lines.error.filter((l) => /malformed server message/.test(l)).length, 6);
    });
  } finally {
    trap.stop();
  }
  assert.deepEqual(trap.caught, []);
});

test("a Transition from the wrong version makes the client resync on a new socket", async () => {
  await withServer({}, async (server, client) => {
    const seen = [];
    client.onUpdate("counter:get", {}, (v) => seen.push(v));
    await until(() => seen.length === 1, "first value");
    const wrong = { querySet: 7, identity: 0, ts: encodeTs(1n) };
    server.sendRaw(JSON.stringify({ type: "Transition", startVersion: wrong, endVersion: wrong, modifications: [] }));
    await until(() => server.connections[1]?.received.length > 0, "reconnect");
    assert.equal(server.connections[1].received[0].lastCloseReason, "ProtocolError");
    server.commit((db) => db.set("counter", [{ value: 9 }]));
    await until(() => seen.at(-1) === 9, "updates continue");
    assert.ok(client.testLogger.lines.error.some((l) => /Transition starts at/.test(l)));
  });
});

test("a throwing callback does not stop other callbacks or the client", async () => {
  await withServer({}, async (server, client) => {
    const seen = [];
    client.onUpdate("counter:get", {}, () => {
      throw new Error("app bug");
    });
    client.onUpdate("counter:double", {}, (v) => seen.push(v));
    await until(() => seen.length === 1, "first value");
    server.commit((db) => db.set("counter", [{ value: 2 }]));
    await until(() => seen.length === 2, "second value");
    assert.ok(client.testLogger.lines.error.some((l) => /onUpdate callback threw: app bug/.test(l)));
  });
});

test("FatalError stops the client for good and fails requests in flight", async () => {
  await withServer({}, async (server, client) => {
    await client.query("counter:get", {});
    server.stallMutations = true;
    const pending = client.mutation("counter:increment", {});
    await server.waitForMessage((m) => m.type === "Mutation");
    server.sendRaw(JSON.stringify({ type: "FatalError", error: "deployment deleted" }));
    await assert.rejects(pending, /deployment deleted/);
    await sleep(150);
    assert.equal(server.connections.length, 1);
    assert.equal(client.connectionState().isWebSocketConnected, false);
  });
});
