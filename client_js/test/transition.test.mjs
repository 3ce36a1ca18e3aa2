import assert from "node:assert/strict";
import { test } from "node:test";
import { RemoteState } from "../src/remote_state.js";
import { until, withServer } from "../tests/helpers.mjs";
import { encodeTs } from "../tests/fake_server.mjs";

test("one Transition updates two queries atomically: each callback sees both new values", async () => {
  await withServer({}, async (server, client) => {
    const views = [];
    let single;
    let double;
    const check = () => views.push([single.getCurrentValue(), double.getCurrentValue()]);
    single = client.onUpdate("counter:get", {}, check);
    double = client.onUpdate("counter:double", {}, check);
    await until(() => views.length === 2, "first values");
    views.length = 0;
    server.commit((db) => db.set("counter", [{ value: 7 }]));
    await until(() => views.length === 2, "both callbacks");
    assert.deepEqual(views, [
      [7, 14],
      [7, 14],
    ]);
  });
});

const version = (querySet, identity, ts) => ({ querySet, identity, ts });

test("a Transition from the wrong start version changes nothing", () => {
  const remote = new RemoteState();
  remote.apply({
    startVersion: version(0, 0, 0n),
    endVersion: version(1, 0, 5n),
    modifications: [{ type: "QueryUpdated", queryId: 0, value: 1, logLines: [] }],
  });
  assert.throws(
    () =>
      remote.apply({
        startVersion: version(1, 0, 4n),
        endVersion: version(1, 0, 9n),
        modifications: [{ type: "QueryUpdated", queryId: 0, value: 2, logLines: [] }],
      }),
    /starts at \{querySet: 1, identity: 0, ts: 4\} but the client is at \{querySet: 1, identity: 0, ts: 5\}/,
  );
  assert.equal(remote.results.get(0).value, 1);
  assert.equal(remote.ts, 5n);
});

test("a value that does not decode fails only its own query", () => {
  const remote = new RemoteState();
  remote.apply({
    startVersion: version(0, 0, 0n),
    endVersion: version(1, 0, 1n),
    modifications: [
      { type: "QueryUpdated", queryId: 0, value: { $integer: "AAA=" }, logLines: [] },
      { type: "QueryUpdated", queryId: 1, value: "fine", logLines: [] },
    ],
  });
  assert.equal(remote.results.get(0).success, false);
  assert.match(remote.results.get(0).errorMessage, /8 bytes/);
  assert.equal(remote.results.get(1).value, "fine");
});

test("QueryRemoved drops a result; an empty Transition only moves the version", () => {
  const remote = new RemoteState();
  remote.apply({
    startVersion: version(0, 0, 0n),
    endVersion: version(1, 0, 1n),
    modifications: [{ type: "QueryUpdated", queryId: 3, value: null, logLines: [] }],
  });
  remote.apply({
    startVersion: version(1, 0, 1n),
    endVersion: version(2, 0, 1n),
    modifications: [{ type: "QueryRemoved", queryId: 3 }],
  });
  remote.apply({ startVersion: version(2, 0, 1n), endVersion: version(2, 1, 8n), modifications: [] });
  assert.equal(remote.results.size, 0);
  assert.deepEqual(remote.version, version(2, 1, 8n));
});

test("a Transition split into TransitionChunks is reassembled", async () => {
  await withServer({}, async (server, client) => {
    const seen = [];
    client.onUpdate("counter:get", {}, (v) => seen.push(v));
    await until(() => seen.length === 1, "first value");
    const conn = server.last;
    const start = conn.version;
    const wire = (v) => ({ querySet: v.querySet, identity: v.identity, ts: encodeTs(v.ts) });
    const end = { ...start, ts: start.ts + 10n };
    const text = JSON.stringify({
      type: "Transition",
      startVersion: wire(start),
      endVersion: wire(end),
      modifications: [{ type: "QueryUpdated", queryId: 0, value: 99, logLines: [], journal: null }],
    });
    const parts = [text.slice(0, 20), text.slice(20, 50), text.slice(50)];
    parts.forEach((chunk, partNumber) =>
      server.sendRaw(JSON.stringify({ type: "TransitionChunk", chunk, partNumber, totalParts: 3, transitionId: "t1" })),
    );
    conn.version = end;
    await until(() => seen.length === 2, "chunked value");
    assert.equal(seen[1], 99);
  });
});

test("restart() zeroes the version and keeps only results still wanted", () => {
  const remote = new RemoteState();
  remote.apply({
    startVersion: version(0, 0, 0n),
    endVersion: version(1, 1, 9n),
    modifications: [
      { type: "QueryUpdated", queryId: 0, value: "keep", logLines: [] },
      { type: "QueryUpdated", queryId: 1, value: "drop", logLines: [] },
    ],
  });
  remote.restart((queryId) => queryId === 0);
  assert.deepEqual(remote.version, version(0, 0, 0n));
  assert.deepEqual([...remote.results.keys()], [0]);
});
