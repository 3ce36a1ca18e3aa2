// A server crash under load, against a real `reactor serve tests/apps/sync` that the caller
// controls; skipped unless REACTOR_RESTART_URL names one. tests/test_client_js_e2e.py runs it:
// it waits for the line "fired", SIGKILLs the server, starts it again on the same port and data
// directory, increments counter `REACTOR_RESTART_NAME` over HTTP, and checks the "result" line.
import assert from "node:assert/strict";
import { test } from "node:test";
import { WebSocket } from "ws";
import { ReactorClient } from "../src/index.js";
import { until } from "../tests/helpers.mjs";

const url = process.env.REACTOR_RESTART_URL;
const name = process.env.REACTOR_RESTART_NAME ?? "restart";
// Mutations sent before the crash. The server runs a client's mutations side by side
// and commits them in order, so the i-th waits 25 ms × (i + 1): they commit one by one
// over 0.75 s, and the crash at 0.4 s finds some answered and the rest in flight.
const FIRED = 30;
const STEP_S = 0.025;
const LATE = 3; // mutations made while the server is down

/** Every socket the client opens, with the frames it sent and received, in order. */
const sockets = [];
class RecordingWebSocket extends WebSocket {
  constructor(address) {
    super(address);
    const log = { sent: [], received: [] };
    sockets.push(log);
    this.on("message", (data) => log.received.push(JSON.parse(String(data))));
    this.record = log;
  }

  send(data, ...rest) {
    this.record.sent.push(JSON.parse(data));
    return super.send(data, ...rest);
  }
}

const mutationIds = (frames) => frames.filter((m) => m.type === "Mutation").map((m) => m.requestId);
const answeredIds = (frames) => frames.filter((m) => m.type === "MutationResponse").map((m) => m.requestId);
const tag = (i) => `${name}-${String(i).padStart(3, "0")}`;

const title = "a SIGKILLed and restarted server: reconnect, resubscribe, re-send, apply each mutation once";
test(title, { skip: !url && "set REACTOR_RESTART_URL to run" }, async () => {
  const client = new ReactorClient(url, {
    WebSocket: RecordingWebSocket,
    logger: false,
    backoff: { initialMs: 100, maxMs: 500 },
  });
  try {
    const subject = `restart-${name}`;
    const token = await client.mutation("auth:login", { subject, name: "Restart" });
    await client.setAuth(async () => token);
    const counter = [];
    const applied = [];
    const who = [];
    client.onUpdate("counter:get", { name }, (v) => counter.push(v));
    client.onUpdate("counter:applied", { prefix: name }, (v) => applied.push(v));
    client.onUpdate("auth:whoami", {}, (v) => who.push(v?.subject ?? null));
    // Two pages of a list; their ends must hold across the restart (the journals are re-sent).
    for (const rank of [10, 20, 30, 40, 50, 60]) await client.mutation("items:add", { name, rank });
    let list;
    const pages = client.paginatedQuery("items:page", { name }, { initialNumItems: 3 }, (state) => (list = state));
    const ranks = () => list.results.map((item) => item.rank);
    await until(() => list?.status === "CanLoadMore", "the first page", 10000);
    list.loadMore(3);
    await until(() => ranks().length === 6, "the second page");
    await until(() => counter.length && applied.length && who.length, "the first results", 10000);
    console.log("ready");

    const tags = Array.from({ length: FIRED + LATE }, (_, i) => tag(i));
    const visibleWhenResolved = new Map();
    const run = (t) =>
      client.mutation("counter:apply_once", { tag: t, delay: STEP_S * (tags.indexOf(t) + 1) }).then((value) => {
        visibleWhenResolved.set(t, applied.at(-1).includes(t));
        return value;
      });
    const results = [];
    let resolvedAtDisconnect = null;
    const stopWatching = client.subscribeToConnectionState((state) => {
      if (state.isWebSocketConnected || resolvedAtDisconnect !== null) return;
      resolvedAtDisconnect = visibleWhenResolved.size;
      // Made while no socket is open: they wait, and go out on the next one.
      for (const t of tags.slice(FIRED)) results.push(run(t));
    });
    for (const t of tags.slice(0, FIRED)) results.push(run(t));
    console.log("fired");

    await until(() => results.length === tags.length, "the server going down", 20000);
    const values = await Promise.all(results);
    await until(() => counter.at(-1) === 1, "the counter written after the restart", 20000);
    stopWatching();
    // 15 lands inside the first page, which the new server re-ran up to its pinned end.
    await client.mutation("items:add", { name, rank: 15 });
    assert.deepEqual(ranks(), [10, 15, 20, 30, 40, 50, 60]);
    pages.unsubscribe();

    assert.deepEqual(values, tags, "every promise resolves with its own mutation's result");
    assert.deepEqual(applied.at(-1), tags, "every mutation applied exactly once");
    assert.deepEqual([...visibleWhenResolved.values()].filter((seen) => !seen), [], "resolved before visible");
    assert.ok(resolvedAtDisconnect > 0 && resolvedAtDisconnect < FIRED, `resolved at the crash: ${resolvedAtDisconnect}`);
    assert.equal(counter[0], 0);
    assert.ok(who.every((s) => s === subject), `identity seen: ${who}`);

    // The first socket sent the batch; only some of it was answered before the crash.
    const [first, ...later] = sockets;
    const unanswered = mutationIds(first.sent).filter((id) => !answeredIds(first.received).includes(id));
    assert.ok(unanswered.length > 0);
    // The socket that reached the restarted server: handshake, then every unanswered mutation
    // again with its id and message unchanged, then the ones made while down.
    const resumed = later.find((s) => s.sent.length > 0);
    assert.deepEqual(
      resumed.sent.slice(0, 3).map((m) => m.type),
      ["Connect", "Authenticate", "ModifyQuerySet"],
    );
    assert.equal(resumed.sent[0].connectionCount, 1);
    assert.deepEqual(resumed.sent[1].value, token);
    const readds = resumed.sent[2].modifications;
    assert.deepEqual(readds.map((m) => m.udfPath).sort(), [
      "auth:whoami",
      "counter:applied",
      "counter:get",
      "items:page",
      "items:page",
    ]);
    assert.ok(readds.filter((m) => m.udfPath === "items:page").every((m) => typeof m.journal === "string"));
    const resent = resumed.sent.filter((m) => m.type === "Mutation" && m.udfPath === "counter:apply_once");
    const byId = new Map(first.sent.filter((m) => m.type === "Mutation").map((m) => [m.requestId, m]));
    for (const id of unanswered) assert.deepEqual(resent.find((m) => m.requestId === id), byId.get(id));
    assert.equal(new Set(resent.map((m) => m.requestId)).size, resent.length, "one copy of each");
    const lateArgs = resent.filter((m) => !byId.has(m.requestId)).map((m) => m.args[0].tag);
    assert.deepEqual(lateArgs, tags.slice(FIRED));
    // The resumed subscriptions were answered by the new server, authenticated.
    const resumedResults = resumed.received
      .filter((m) => m.type === "Transition")
      .flatMap((m) => m.modifications)
      .filter((m) => m.type === "QueryUpdated");
    assert.ok(resumedResults.some((m) => m.value?.subject === subject), "whoami re-run with the token");

    const state = client.connectionState();
    assert.ok(state.connectionCount >= 2);
    assert.equal(state.inflightMutations, 0);
    console.log(
      "result",
      JSON.stringify({
        tags,
        values,
        counter,
        resolvedAtDisconnect,
        unanswered: unanswered.length,
        resent: resent.length,
        sockets: sockets.length,
      }),
    );
  } finally {
    await client.close();
  }
});
