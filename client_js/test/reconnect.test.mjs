import assert from "node:assert/strict";
import { test } from "node:test";
import { until, withServer } from "../tests/helpers.mjs";

const queryAdds = (conn) => conn.received.filter((m) => m.type === "ModifyQuerySet").flatMap((m) => m.modifications);

test("after the server drops the socket the client re-subscribes everything and re-sends only the unanswered mutation", async () => {
  await withServer({}, async (server, client) => {
    const counter = [];
    client.onUpdate("counter:get", {}, (v) => counter.push(v));
    client.onUpdate("values:echo", { value: "a" }, () => {});
    await until(() => counter.length === 1, "first value");
    assert.equal(await client.mutation("counter:increment", {}), 1); // answered: request 0
    server.stallMutations = true;
    const unanswered = client.mutation("counter:increment", { by: 10 }); // request 1
    await server.waitForMessage((m) => m.type === "Mutation" && m.requestId === 1);
    server.stallMutations = false;
    const counterWatch = client.onUpdate("counter:get", {}, () => {});
    server.drop();
    await until(
      () => !client.connectionState().isWebSocketConnected || server.connections.length === 2,
      "disconnect noticed",
    );
    assert.equal(counterWatch.getCurrentValue(), 1, "results stay visible while reconnecting");

    assert.equal(await unanswered, 11);
    const [first, second] = server.connections;
    assert.equal(server.connections.length, 2);
    const [connect, modify, ...rest] = second.received;
    assert.equal(connect.type, "Connect");
    assert.equal(connect.sessionId, first.received[0].sessionId);
    assert.equal(connect.connectionCount, 1);
    assert.equal(typeof connect.lastCloseReason, "string");
    assert.equal(typeof connect.maxObservedTimestamp, "string", "reports the highest ts seen");
    assert.deepEqual([modify.type, modify.baseVersion, modify.newVersion], ["ModifyQuerySet", 0, 1]);
    assert.deepEqual(
      modify.modifications.map((m) => [m.queryId, m.udfPath]),
      queryAdds(first)
        .filter((m) => m.type === "Add")
        .map((m) => [m.queryId, m.udfPath]),
      "the same queries with the same ids",
    );
    assert.deepEqual(
      rest.filter((m) => m.type === "Mutation").map((m) => m.requestId),
      [1],
    );
    assert.equal(server.runs.get(`${connect.sessionId}/1`), 1);
    await until(() => counter.at(-1) === 11, "value after reconnect");
  });
});

test("a mutation whose answer was lost is re-sent with its requestId and runs once (rule 6)", async () => {
  await withServer({}, async (server, client) => {
    await client.query("counter:get", {});
    server.dropBeforeResponse = true;
    assert.equal(await client.mutation("counter:increment", { by: 3 }), 3);
    const sessionId = server.connections[0].received[0].sessionId;
    assert.equal(server.connections.length, 2);
    assert.equal(server.runs.get(`${sessionId}/0`), 1);
    assert.equal(await client.query("counter:get", {}), 3);
  });
});

test("an action in flight when the socket drops fails instead of being re-sent", async () => {
  await withServer({}, async (server, client) => {
    const slow = client.action("actions:slow", { ms: 300 });
    await server.waitForMessage((m) => m.type === "Action");
    server.drop();
    await assert.rejects(slow, /Connection lost while action was in flight/);
    await until(() => server.connections.length === 2 && server.connections[1].received.length > 1, "reconnect");
    assert.equal(server.connections[1].received.filter((m) => m.type === "Action").length, 0);
  });
});

test("close reasons pick the backoff class (protocol.md rule 9)", async () => {
  await withServer({}, async (server, client) => {
    const kinds = [];
    const next = client.socket.backoff.next.bind(client.socket.backoff);
    client.socket.backoff.next = (kind) => (kinds.push(kind), next(kind));
    await client.query("counter:get", {});
    const cases = [
      [{ code: 1011, reason: "TooManyConcurrentRequests: slow down" }, "TooManyConcurrentRequests"],
      [{ code: 1011, reason: "InternalServerError" }, "InternalServerError"],
      [{}, "Unknown"],
    ];
    for (const [index, [close, kind]] of cases.entries()) {
      server.drop(close);
      await until(
        () => server.connections.length === index + 2 && server.last.received.length > 0,
        `reconnect ${index}`,
      );
      assert.equal(kinds.at(-1), kind);
      if (close.reason) assert.equal(server.last.received[0].lastCloseReason, close.reason);
    }
  });
});

test("no message for the inactivity timeout makes the client reconnect; Pings keep it alive", async () => {
  await withServer({ client: { inactivityTimeoutMs: 250 } }, async (server) => {
    await until(() => server.connections[1]?.received.length > 0, "reconnect after silence", 3000);
    assert.equal(server.connections[1].received[0].lastCloseReason, "InactiveServer");
    await until(() => server.last.received.length > 1, "handshake");
    const count = server.connections.length;
    const timer = setInterval(() => server.last.open && server.sendRaw('{"type":"Ping"}'), 25);
    await new Promise((r) => setTimeout(r, 600));
    clearInterval(timer);
    assert.equal(server.connections.length, count, "Pings reset the inactivity timer");
  });
});

test("backoff retries reset once the new socket has answered everything re-sent", async () => {
  await withServer({}, async (server, client) => {
    await client.query("counter:get", {});
    server.drop({ code: 1011, reason: "InternalServerError" });
    await until(() => server.connections.length === 2, "reconnect");
    await until(
      () => client.connectionState().connectionRetries === 0 && client.connectionState().isWebSocketConnected,
      "reset",
    );
    assert.equal(client.connectionState().connectionCount, 2);
  });
});

test("after close() requests fail at once", async () => {
  await withServer({}, async (_server, client) => {
    await client.query("counter:get", {});
    await client.close();
    await assert.rejects(client.mutation("counter:increment", {}), /the client is closed/);
  });
});
