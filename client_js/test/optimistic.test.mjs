import assert from "node:assert/strict";
import { test } from "node:test";
import { until, withServer } from "../tests/helpers.mjs";

const bump = (amount) => (store) => {
  const current = store.getQuery("counter:get", {});
  if (current !== undefined) store.setQuery("counter:get", {}, current + amount);
};

async function watchCounter(client) {
  const seen = [];
  client.onUpdate("counter:get", {}, (v) => seen.push(v));
  await until(() => seen.length === 1, "first value");
  return seen;
}

test("an optimistic update shows at once and gives way to the server's result", async () => {
  await withServer({ server: { transitionDelayMs: 60 } }, async (_server, client) => {
    const seen = await watchCounter(client);
    const done = client.mutation("counter:increment", { by: 1 }, { optimisticUpdate: bump(1) });
    assert.deepEqual(seen, [0, 1], "shown synchronously, before any server message");
    assert.equal(await done, 1);
    assert.equal(seen.at(-1), 1);
    assert.equal(client.optimistic.updates.length, 0, "dropped once the write is visible");
  });
});

test("a failed mutation rolls its optimistic update back", async () => {
  await withServer({}, async (_server, client) => {
    const seen = await watchCounter(client);
    const failed = client.mutation(
      "fail:mutation",
      {},
      { optimisticUpdate: (store) => store.setQuery("counter:get", {}, 100) },
    );
    assert.deepEqual(seen, [0, 100]);
    await assert.rejects(failed, /mutation refused/);
    assert.deepEqual(seen, [0, 100, 0]);
  });
});

test("when the server's result contradicts the guess, the server wins", async () => {
  await withServer({}, async (_server, client) => {
    const seen = await watchCounter(client);
    await client.mutation("counter:increment", { by: 1 }, { optimisticUpdate: bump(10) });
    assert.deepEqual(seen, [0, 10, 1]);
  });
});

test("an update still pending is replayed on top of new server data", async () => {
  await withServer({}, async (server, client) => {
    const seen = await watchCounter(client);
    server.stallMutations = true;
    client.mutation("counter:increment", { by: 1 }, { optimisticUpdate: bump(1) }).catch(() => {});
    assert.deepEqual(seen, [0, 1]);
    server.commit((db) => db.set("counter", [{ value: 50 }]));
    await until(() => seen.length === 3, "server change");
    assert.deepEqual(seen, [0, 1, 51]);
  });
});

test("updates stack in mutation order and each drops on its own", async () => {
  await withServer({ server: { transitionDelayMs: 40 } }, async (_server, client) => {
    const seen = await watchCounter(client);
    const first = client.mutation("counter:increment", { by: 1 }, { optimisticUpdate: bump(1) });
    const second = client.mutation("counter:increment", { by: 2 }, { optimisticUpdate: bump(2) });
    assert.deepEqual(seen, [0, 1, 3]);
    await Promise.all([first, second]);
    assert.equal(seen.at(-1), 3);
    assert.equal(await client.query("counter:get", {}), 3);
  });
});

test("getAllQueries lists every held query of a function; a throwing update is skipped", async () => {
  await withServer({}, async (_server, client) => {
    client.onUpdate("values:echo", { value: "a" }, () => {});
    client.onUpdate("values:echo", { value: "b" }, () => {});
    await until(() => client.optimistic.view.size === 2, "both held");
    let listed;
    const broken = () => {
      throw new Error("bug in update");
    };
    await client.mutation(
      "counter:increment",
      {},
      { optimisticUpdate: (store) => (listed = store.getAllQueries("values:echo")) },
    );
    assert.deepEqual(listed.map((q) => [q.args.value, q.value]).sort(), [
      ["a", "a"],
      ["b", "b"],
    ]);
    await client.mutation("counter:increment", {}, { optimisticUpdate: broken });
    assert.ok(client.testLogger.lines.error.some((l) => /bug in update/.test(l)));
  });
});
