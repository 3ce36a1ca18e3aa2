// End-to-end tests against a running `reactor serve tests/apps/sync`; skipped unless REACTOR_URL
// names one, e.g. REACTOR_URL=http://127.0.0.1:3210 npm test
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { WebSocket } from "ws";
import { AppError, ReactorClient } from "../src/index.js";
import { until } from "../tests/helpers.mjs";

const url = process.env.REACTOR_URL;
const run = `${process.pid}-${Date.now()}`;

async function withClient(body) {
  const client = new ReactorClient(url, { WebSocket, logger: false });
  try {
    await body(client);
  } finally {
    await client.close();
  }
}

describe("against a real Reactor server", { skip: !url && "set REACTOR_URL to run" }, () => {
  test("subscribe, mutate, and see the write before the mutation resolves", async () => {
    await withClient(async (client) => {
      const name = `e2e-${run}-a`;
      const events = [];
      client.onUpdate("counter:get", { name }, (v) => events.push(`value ${v}`));
      await until(() => events.length === 1, "first value");
      const result = await client.mutation("counter:incr", { name, by: 3 });
      events.push(`resolved ${result}`);
      assert.deepEqual(events, ["value 0", "value 3", "resolved 3"]);
    });
  });

  test("two queries over one document change in the same Transition", async () => {
    await withClient(async (client) => {
      const name = `e2e-${run}-b`;
      const views = [];
      let plain;
      let padded;
      const look = () => views.push([plain.getCurrentValue(), padded.getCurrentValue()?.value]);
      plain = client.onUpdate("counter:get", { name }, look);
      padded = client.onUpdate("counter:padded", { name, size: 10 }, look);
      await until(() => views.length === 2, "first values");
      views.length = 0;
      await client.mutation("counter:incr", { name });
      await until(() => views.length === 2, "both updated");
      assert.deepEqual(views, [
        [1, 1],
        [1, 1],
      ]);
    });
  });

  test("application errors carry their data; internal errors do not leak", async () => {
    await withClient(async (client) => {
      const err = await client.mutation("errors:fail_mutation", { code: "E1" }).catch((e) => e);
      assert.ok(err instanceof AppError);
      assert.deepEqual(err.data, { code: "E1", where: "mutation" });
      const actionErr = await client.action("errors:fail_action", { code: "E2" }).catch((e) => e);
      assert.deepEqual(actionErr.data, { code: "E2", where: "action" });
      assert.deepEqual(await client.action("errors:echo", { text: "hi" }), { echo: "hi" });
      const crash = await client.query("errors:crash", { name: "secret" }).catch((e) => e);
      assert.ok(!(crash instanceof AppError));
      assert.doesNotMatch(crash.message, /Traceback/);
    });
  });

  test("an optimistic update shows at once and is replaced by the server's value", async () => {
    await withClient(async (client) => {
      const name = `e2e-${run}-c`;
      const seen = [];
      client.onUpdate("counter:get", { name }, (v) => seen.push(v));
      await until(() => seen.length === 1, "first value");
      const done = client.mutation(
        "counter:incr",
        { name, by: 1 },
        {
          optimisticUpdate: (store) => store.setQuery("counter:get", { name }, 100),
        },
      );
      assert.deepEqual(seen, [0, 100]);
      await done;
      assert.equal(seen.at(-1), 1);
    });
  });

  test("setAuth with a token from the built-in issuer authenticates the socket", async () => {
    await withClient(async (client) => {
      const token = await client.mutation("auth:login", { subject: `user-${run}`, name: "E2E" });
      const changes = [];
      await client.setAuth(
        async () => token,
        (ok) => changes.push(ok),
      );
      const who = await client.query("auth:whoami", {});
      assert.equal(who.subject, `user-${run}`);
      await until(() => changes.length === 1, "auth reported");
      assert.deepEqual(changes, [true]);
    });
  });

  test("a live insert grows its page instead of pushing an item onto the next", async () => {
    await withClient(async (client) => {
      const name = `e2e-${run}-p`;
      for (const rank of [10, 20, 30, 40, 50, 60]) await client.mutation("items:add", { name, rank });
      let state;
      const pages = client.paginatedQuery("items:page", { name }, { initialNumItems: 3 }, (s) => (state = s));
      const ranks = () => state.results.map((item) => item.rank);
      await until(() => state?.status === "CanLoadMore", "first page");
      assert.deepEqual(ranks(), [10, 20, 30]);
      assert.equal(state.loadMore(3), true);
      await until(() => ranks().length === 6, "second page");
      assert.deepEqual(ranks(), [10, 20, 30, 40, 50, 60]);

      // 15 and 35 land inside the two pages: each page grows, nothing moves or goes missing.
      await client.mutation("items:add", { name, rank: 15 });
      assert.deepEqual(ranks(), [10, 15, 20, 30, 40, 50, 60]);
      await client.mutation("items:add", { name, rank: 35 });
      assert.deepEqual(ranks(), [10, 15, 20, 30, 35, 40, 50, 60]);
      pages.unsubscribe();
    });
  });

  test("a rejected token falls back to unauthenticated and is reported", async () => {
    await withClient(async (client) => {
      const changes = [];
      client.setAuth(
        async () => "not.a.jwt",
        (ok) => changes.push(ok),
      );
      await until(() => changes.length === 1, "auth reported", 5000);
      assert.deepEqual(changes, [false]);
      assert.equal(await client.query("auth:whoami", {}), null);
    });
  });
});
