import assert from "node:assert/strict";
import { test } from "node:test";
import { until, withServer } from "../tests/helpers.mjs";

const keys = (state) => state.results.map((r) => r.key);
const seed = (server, list) =>
  server.commit((db) =>
    db.set(
      "messages",
      list.map((key) => ({ key, body: `m${key}` })),
    ),
  );

async function paginate(client, initialNumItems) {
  const states = [];
  const handle = client.paginatedQuery("messages:list", {}, { initialNumItems }, (s) => states.push(s));
  return { handle, states, latest: () => states.at(-1) };
}

test("first page, loadMore, then Exhausted", async () => {
  await withServer({}, async (server, client) => {
    seed(server, [10, 20, 30, 40, 50]);
    const { handle, latest } = await paginate(client, 2);
    assert.equal(latest().status, "LoadingFirstPage");
    await until(() => latest().status === "CanLoadMore", "first page");
    assert.deepEqual(keys(latest()), [10, 20]);
    assert.equal(latest().loadMore(2), true);
    assert.equal(latest().status, "LoadingMore");
    assert.equal(handle.loadMore(2), false, "one page loads at a time");
    await until(() => latest().status === "CanLoadMore", "second page");
    assert.deepEqual(keys(latest()), [10, 20, 30, 40]);
    latest().loadMore(5);
    await until(() => latest().status === "Exhausted", "exhausted");
    assert.deepEqual(keys(latest()), [10, 20, 30, 40, 50]);
    assert.equal(latest().loadMore(5), false);

    const opts = server.last.received
      .flatMap((m) => (m.type === "ModifyQuerySet" ? m.modifications : []))
      .filter((m) => m.type === "Add")
      .map((m) => m.args[0].paginationOpts);
    assert.deepEqual(
      opts.map((o) => [o.numItems, o.cursor]),
      [
        [2, null],
        [2, "20"],
        [5, "40"],
      ],
    );
    assert.equal(new Set(opts.map((o) => o.id)).size, 1, "all pages share the pagination id");
    handle.unsubscribe();
  });
});

test("a live insert grows its page; later pages do not shift", async () => {
  await withServer({}, async (server, client) => {
    seed(server, [10, 20, 30, 40, 50, 60]);
    const { latest } = await paginate(client, 2);
    await until(() => latest().status === "CanLoadMore", "first page");
    latest().loadMore(2);
    await until(() => keys(latest()).length === 4, "two pages");
    await client.mutation("messages:send", { key: 15, body: "new" });
    await until(() => keys(latest()).length === 5, "insert visible");
    assert.deepEqual(keys(latest()), [10, 15, 20, 30, 40]);
    await client.mutation("messages:send", { key: 35, body: "new" });
    await until(() => keys(latest()).length === 6, "second insert visible");
    assert.deepEqual(keys(latest()), [10, 15, 20, 30, 35, 40]);
    assert.equal(latest().status, "CanLoadMore");
  });
});

test("after a reconnect each page is re-added with its journal, so page ends hold", async () => {
  await withServer({}, async (server, client) => {
    seed(server, [10, 20, 30, 40, 50]);
    const { latest } = await paginate(client, 2);
    await until(() => latest().status === "CanLoadMore", "first page");
    latest().loadMore(2);
    await until(() => keys(latest()).length === 4, "two pages");
    server.drop();
    await until(() => server.connections[1]?.received.some((m) => m.type === "ModifyQuerySet"), "re-subscribed");
    const readds = server.connections[1].received.find((m) => m.type === "ModifyQuerySet").modifications;
    assert.deepEqual(
      readds.map((m) => JSON.parse(m.journal).end),
      ["20", "40"],
    );
    server.commit((db) => db.insert("messages", { key: 5, body: "early" }));
    await until(() => keys(latest()).length === 5, "insert after reconnect");
    assert.deepEqual(keys(latest()), [5, 10, 20, 30, 40]);
  });
});

test("a page the server marks SplitRecommended is split in two at splitCursor", async () => {
  await withServer({}, async (server, client) => {
    seed(server, [1, 2, 3, 4, 5, 6, 7, 8]);
    const { latest } = await paginate(client, 3);
    await until(() => latest().status === "CanLoadMore", "first page");
    server.commit((db) => db.set("settings", [{ splitAbove: 4 }]));
    for (const key of [1.5, 2.5]) await client.mutation("messages:send", { key, body: "x" });
    await until(() => {
      const adds = server.last.received.flatMap((m) => (m.type === "ModifyQuerySet" ? m.modifications : []));
      return adds.filter((m) => m.type === "Add" && m.args[0].paginationOpts.endCursor !== undefined).length === 2;
    }, "split pages subscribed");
    await until(() => {
      const removes = server.last.received.flatMap((m) => (m.type === "ModifyQuerySet" ? m.modifications : []));
      return removes.some((m) => m.type === "Remove");
    }, "original page dropped");
    assert.deepEqual(keys(latest()), [1, 1.5, 2, 2.5, 3]);
    const adds = server.last.received.flatMap((m) => m.modifications ?? []).filter((m) => m.type === "Add");
    const [first, second] = adds.slice(-2).map((m) => m.args[0].paginationOpts);
    assert.deepEqual([first.cursor, first.endCursor], [null, "1.5"], "first half ends at splitCursor");
    assert.deepEqual([second.cursor, second.endCursor], ["1.5", "3"], "second half keeps the old end");
  });
});

test("initialNumItems and args are checked", async () => {
  await withServer({}, async (_server, client) => {
    assert.throws(() => client.paginatedQuery("messages:list", {}, { initialNumItems: 0 }), /positive integer/);
    assert.throws(
      () => client.paginatedQuery("messages:list", { paginationOpts: {} }, { initialNumItems: 2 }),
      /leave paginationOpts out/,
    );
  });
});
