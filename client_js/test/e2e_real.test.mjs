// End-to-end tests against a running `reactor serve tests/apps/sync`; skipped unless REACTOR_URL
// names one, e.g. REACTOR_URL=http://127.0.0.1:3210 npm test. The HS256 token tests also need
// the server's SYNC_TEST_HS256_SECRET.
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { describe, test } from "node:test";
import { WebSocket } from "ws";
import { AppError, ReactorClient } from "../src/index.js";
import { until } from "../tests/helpers.mjs";

const url = process.env.REACTOR_URL;
const secret = process.env.SYNC_TEST_HS256_SECRET;
const run = `${process.pid}-${Date.now()}`;

async function withClient(body, options = {}) {
  const client = new ReactorClient(url, { WebSocket, logger: false, ...options });
  try {
    await body(client);
  } finally {
    await client.close();
  }
}

/** A token for tests/apps/sync/auth_config.py's HS256 provider. */
function hs256Token(claims) {
  const part = (value) => Buffer.from(JSON.stringify(value)).toString("base64url");
  const unsigned = `${part({ alg: "HS256", typ: "JWT" })}.${part({ iss: "https://hs256.test", aud: "sync-tests", ...claims })}`;
  return `${unsigned}.${createHmac("sha256", secret).update(unsigned).digest("base64url")}`;
}

const claimsOf = (token) => JSON.parse(Buffer.from(token.split(".")[1], "base64url").toString());

/** A WebSocket that keeps every instance, with the frames each sent and received. */
function recordingWebSocket() {
  const sockets = [];
  class Recording extends WebSocket {
    constructor(address) {
      super(address);
      this.sent = [];
      this.received = [];
      this.on("message", (data) => this.received.push(JSON.parse(String(data))));
      sockets.push(this);
    }

    send(data, ...rest) {
      this.sent.push({ at: Date.now(), message: JSON.parse(data) });
      return super.send(data, ...rest);
    }
  }
  return { Recording, sockets };
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

  test(
    "a short-lived token is refreshed before it expires and the identity never lapses",
    { skip: !secret && "set SYNC_TEST_HS256_SECRET to the server's secret to run" },
    async () => {
      const { Recording, sockets } = recordingWebSocket();
      const options = { WebSocket: Recording, authRefreshLeewaySeconds: 1, backoff: { initialMs: 100 } };
      await withClient(async (client) => {
        const subject = `short-${run}`;
        const fetches = [];
        const changes = [];
        await client.setAuth(
          async ({ forceRefreshToken }) => {
            const iat = Math.floor(Date.now() / 1000);
            const n = fetches.length + 1;
            fetches.push({ forceRefreshToken, at: Date.now(), exp: iat + 3 });
            return hs256Token({ sub: subject, name: `token-${n}`, iat, exp: iat + 3, expiresAt: iat + 3 });
          },
          (ok) => changes.push(ok),
        );
        const seen = [];
        const who = client.onUpdate("auth:whoami", {}, (v) => seen.push(v?.subject ?? null));
        await until(() => seen.length === 1, "whoami");
        const firstExpMs = fetches[0].exp * 1000;

        // Past the first token's exp, the server runs this client's functions as a later token.
        await until(() => Date.now() > firstExpMs + 300, "the first token's exp", 5000);
        const late = await client.mutation("auth:whoami_now", {});
        assert.notEqual(late.name, "token-1");
        assert.ok(late.expiresAt * 1000 > Date.now(), `identity at ${Date.now()}: ${JSON.stringify(late)}`);

        // A socket lost now reconnects with the current token, not the first (expired) one.
        sockets[0].terminate();
        await until(() => sockets.length === 2 && client.connectionState().isWebSocketConnected, "the reconnect");
        const refreshedOn = (socket) => socket.sent.some((f) => f.message.type === "Authenticate" && f.message.baseVersion > 0);
        await until(() => refreshedOn(sockets[1]), "a refresh on the new socket", 4000);
        const after = await client.mutation("auth:whoami_now", {});
        assert.ok(after.expiresAt * 1000 > Date.now(), `identity after the reconnect: ${JSON.stringify(after)}`);
        who();

        assert.deepEqual(changes, [true], "never reported unauthenticated");
        assert.deepEqual([...new Set(seen)], [subject], "whoami never went null");
        assert.ok(fetches.length >= 3, `${fetches.length} tokens fetched`);
        assert.deepEqual(
          fetches.map((f) => f.forceRefreshToken),
          fetches.map((_, i) => i > 0),
        );
        for (let i = 1; i < fetches.length; i++) {
          assert.ok(fetches[i].at < fetches[i - 1].exp * 1000, `refresh ${i} came after the token it replaces expired`);
        }
        // The server took every token the client sent: each Authenticate moved the identity version.
        for (const socket of sockets) {
          const sent = socket.sent.filter((f) => f.message.type === "Authenticate");
          const identities = socket.received.filter((m) => m.type === "Transition").map((m) => m.endVersion.identity);
          assert.ok(sent.length > 0);
          for (const { at, message } of sent) {
            assert.ok(claimsOf(message.value).exp * 1000 > at, "sent an expired token");
            assert.ok(identities.includes(message.baseVersion + 1), `token ${message.baseVersion} not taken`);
          }
          assert.deepEqual(socket.received.filter((m) => m.type === "AuthError"), []);
        }
        assert.equal(sockets[1].sent[1].message.type, "Authenticate");
        assert.notEqual(claimsOf(sockets[1].sent[1].message.value).name, "token-1");
      }, options);
    },
  );

  test(
    "a token's own claims reach the queries it runs, not those of another token of the same subject",
    {
      skip: !secret && "set SYNC_TEST_HS256_SECRET to the server's secret to run",
    },
    async () => {
      const subject = `claims-${run}`;
      const exp = Math.floor(Date.now() / 1000) + 600;
      const token = (name) => hs256Token({ sub: subject, name, exp });
      await withClient(async (first) => {
        await withClient(async (second) => {
          await first.setAuth(async () => token("first"));
          await second.setAuth(async () => token("second"));
          assert.equal((await first.query("auth:whoami", {})).name, "first");
          assert.equal((await second.query("auth:whoami", {})).name, "second");
          const seen = [];
          first.onUpdate("auth:whoami", {}, (v) => seen.push(v.name));
          await until(() => seen.length === 1, "whoami");
          await first.setAuth(async () => token("renamed"));
          await until(() => seen.includes("renamed"), "the new token's claims", 2000);
        });
      });
    },
  );

  test("an optimistic update for a mutation the server rejects is rolled back", async () => {
    await withClient(async (client) => {
      const name = `e2e-${run}-r`;
      await client.mutation("counter:incr", { name, by: 5 });
      const seen = [];
      const counter = client.onUpdate("counter:get", { name }, (v) => seen.push(v));
      await until(() => seen.length === 1, "first value");
      const failed = client.mutation(
        "errors:fail_mutation",
        { code: "NO" },
        { optimisticUpdate: (store) => store.setQuery("counter:get", { name }, store.getQuery("counter:get", { name }) + 50) },
      );
      assert.deepEqual(seen, [5, 55]);
      const err = await failed.catch((e) => e);
      assert.ok(err instanceof AppError);
      assert.deepEqual(err.data, { code: "NO", where: "mutation" });
      assert.equal(counter.getCurrentValue(), 5, "rolled back when the promise rejects");
      assert.deepEqual(seen, [5, 55, 5]);
      // The next mutation starts from the server's value, not the discarded guess.
      assert.equal(await client.mutation("counter:incr", { name }), 6);
      assert.deepEqual(seen, [5, 55, 5, 6]);
    });
  });

  test("an optimistic update is replayed on top of another client's write", async () => {
    await withClient(async (other) => {
      await withClient(async (client) => {
        const name = `e2e-${run}-o`;
        const seen = [];
        const counter = client.onUpdate("counter:get", { name }, (v) => seen.push(v));
        await until(() => seen.length === 1, "first value");
        // This client's mutations run in order: the incr waits behind a slow one.
        const slow = client.mutation("counter:apply_once", { tag: `${name}-slow`, delay: 0.8 });
        let resolved = false;
        const incr = client
          .mutation(
            "counter:incr",
            { name, by: 1 },
            {
              optimisticUpdate: (store, { by }) =>
                store.setQuery("counter:get", { name }, store.getQuery("counter:get", { name }) + by),
            },
          )
          .then((value) => ((resolved = true), value));
        assert.deepEqual(seen, [0, 1]);
        assert.equal(await other.mutation("counter:incr", { name, by: 10 }), 10);
        await until(() => seen.includes(11), "the other write under the optimistic update");
        assert.equal(resolved, false, "the incr was still pending");
        assert.equal(await incr, 11);
        await slow;
        assert.equal(counter.getCurrentValue(), 11);
        const distinct = seen.filter((v, i) => i === 0 || v !== seen[i - 1]);
        assert.deepEqual(distinct, [0, 1, 11], "never the other write alone, never the guess on the old value");
      });
    });
  });
});
