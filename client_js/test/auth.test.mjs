import assert from "node:assert/strict";
import { test } from "node:test";
import { refreshDelayMs } from "../src/auth.js";
import { makeJwt } from "../tests/fake_server.mjs";
import { sleep, until, withServer } from "../tests/helpers.mjs";

const nowS = () => Date.now() / 1000;
const allReceived = (server) => server.connections.flatMap((c) => c.received.map((m) => ({ ...m, conn: c.index })));

test("setAuth sends Authenticate before the query set, and queries never run unauthenticated", async () => {
  await withServer({}, async (server, client) => {
    const token = makeJwt({ sub: "alice", iat: nowS(), exp: nowS() + 3600 });
    const changes = [];
    client.setAuth(
      async () => token,
      (ok) => changes.push(ok),
    );
    const seen = [];
    client.onUpdate("auth:whoami", {}, (v) => seen.push(v));
    await until(() => seen.length === 1, "whoami");
    assert.deepEqual(seen, ["alice"]);
    const types = server.last.received.map((m) => m.type);
    assert.deepEqual(types.slice(0, 3), ["Connect", "Authenticate", "ModifyQuerySet"]);
    assert.deepEqual(server.last.received[1], {
      type: "Authenticate",
      tokenType: "User",
      value: token,
      baseVersion: 0,
    });
    await until(() => changes.length === 1, "onChange");
    assert.deepEqual(changes, [true]);
  });
});

test("on a live socket, queries added while the token is fetched wait for it", async () => {
  await withServer({}, async (server, client) => {
    await client.query("counter:get", {});
    const token = makeJwt({ sub: "carol", exp: nowS() + 3600 });
    client.setAuth(async () => (await sleep(80), token));
    const seen = [];
    client.onUpdate("auth:whoami", {}, (v) => seen.push(v));
    await until(() => seen.length === 1, "whoami");
    assert.deepEqual(seen, ["carol"]);
    const types = server.last.received.map((m) => m.type);
    assert.ok(types.lastIndexOf("Authenticate") < types.lastIndexOf("ModifyQuerySet"));
  });
});

test("the token is refreshed (forceRefreshToken) shortly before it expires", async () => {
  await withServer({ client: { authRefreshLeewaySeconds: 1 } }, async (server, client) => {
    const calls = [];
    let n = 0;
    client.setAuth(async ({ forceRefreshToken }) => {
      calls.push(forceRefreshToken);
      n += 1;
      return makeJwt({ sub: `user${n}`, iat: nowS(), exp: nowS() + 1.4 });
    });
    const seen = [];
    client.onUpdate("auth:whoami", {}, (v) => seen.push(v));
    await until(() => seen.includes("user2"), "refreshed identity", 3000);
    assert.deepEqual(calls.slice(0, 2), [false, true]);
    const auths = server.last.received.filter((m) => m.type === "Authenticate");
    assert.deepEqual(
      auths.slice(0, 2).map((m) => m.baseVersion),
      [0, 1],
    );
    assert.equal(server.connections.length, 1, "no reconnect needed to refresh");
  });
});

test("AuthError: fetch a fresh token with forceRefreshToken once and reconnect with it", async () => {
  await withServer({}, async (server, client) => {
    const stale = makeJwt({ sub: "stale", exp: nowS() + 3600 });
    server.rejectTokens.add(stale);
    const calls = [];
    const changes = [];
    client.setAuth(
      async ({ forceRefreshToken }) => {
        calls.push(forceRefreshToken);
        return forceRefreshToken ? makeJwt({ sub: "bob", exp: nowS() + 3600 }) : stale;
      },
      (ok) => changes.push(ok),
    );
    const seen = [];
    client.onUpdate("auth:whoami", {}, (v) => seen.push(v));
    await until(() => seen.includes("bob"), "fresh identity");
    assert.deepEqual(calls, [false, true]);
    assert.deepEqual(changes, [true]);
    assert.ok(!seen.includes("stale"));
    const second = server.connections.at(-1).received;
    assert.deepEqual(
      second.slice(0, 2).map((m) => m.type),
      ["Connect", "Authenticate"],
    );
    assert.equal(second[1].baseVersion, 0);
  });
});

test("when the fresh token is rejected too the client continues unauthenticated and reports it", async () => {
  await withServer({}, async (server, client) => {
    const tokens = [makeJwt({ sub: "x", n: 1 }), makeJwt({ sub: "x", n: 2 })];
    tokens.forEach((t) => server.rejectTokens.add(t));
    const changes = [];
    const calls = [];
    client.setAuth(
      async ({ forceRefreshToken }) => (calls.push(forceRefreshToken), tokens[calls.length - 1] ?? null),
      (ok) => changes.push(ok),
    );
    const seen = [];
    client.onUpdate("auth:whoami", {}, (v) => seen.push(v));
    await until(() => changes.length === 1, "auth reported");
    assert.deepEqual(changes, [false]);
    await until(() => seen.length === 1, "unauthenticated value");
    assert.deepEqual(seen, [null]);
    await sleep(150);
    assert.deepEqual(calls, [false, true], "no retry loop");
    assert.equal(allReceived(server).filter((m) => m.type === "Authenticate" && m.tokenType === "User").length, 2);
    assert.ok(client.testLogger.lines.error.some((l) => /authentication failed/.test(l)));
  });
});

test("a fetcher that has no token reports false and sends no user token", async () => {
  await withServer({}, async (server, client) => {
    const changes = [];
    client.setAuth(
      async () => null,
      (ok) => changes.push(ok),
    );
    assert.equal(await client.query("auth:whoami", {}), null);
    await until(() => changes.length === 1, "report");
    assert.deepEqual(changes, [false]);
    assert.equal(allReceived(server).filter((m) => m.type === "Authenticate").length, 0);
  });
});

test("the refresh delay leaves the leeway, trusts the shorter of exp - now and exp - iat", () => {
  const now = 1_000_000_000_000;
  const s = now / 1000;
  assert.equal(refreshDelayMs(makeJwt({ iat: s, exp: s + 3600 }), 10, now), 3590_000);
  // The client clock is an hour behind the issuer: exp - now is 2 h, but the token only lives 1 h.
  assert.equal(refreshDelayMs(makeJwt({ iat: s + 3600, exp: s + 7200 }), 10, now), 3590_000);
  // The client clock is ahead: only 100 s are left.
  assert.equal(refreshDelayMs(makeJwt({ iat: s - 3500, exp: s + 100 }), 10, now), 90_000);
  // Shorter than the leeway: refresh at half the time left; expired: at once.
  assert.equal(refreshDelayMs(makeJwt({ exp: s + 4 }), 10, now), 2000);
  assert.equal(refreshDelayMs(makeJwt({ exp: s - 4 }), 10, now), 0);
  assert.equal(refreshDelayMs(makeJwt({ sub: "no exp" }), 10, now), undefined);
  assert.equal(refreshDelayMs("not a jwt", 10, now), undefined);
  assert.equal(refreshDelayMs(makeJwt({ exp: s + 1e9 }), 10, now), 20 * 24 * 3600 * 1000);
});

test("clearAuth while a token is being fetched releases the held-back queries", async () => {
  await withServer({}, async (_server, client) => {
    client.setAuth(() => new Promise(() => {})); // never answers
    const seen = [];
    client.onUpdate("auth:whoami", {}, (v) => seen.push(v));
    await sleep(60);
    assert.deepEqual(seen, [], "held back while the token is fetched");
    client.clearAuth();
    await until(() => seen.length === 1, "query released");
    assert.deepEqual(seen, [null]);
  });
});

test("clearAuth after signing in sends a None identity and queries re-run", async () => {
  await withServer({}, async (server, client) => {
    client.setAuth(async () => makeJwt({ sub: "dora", exp: nowS() + 3600 }));
    const seen = [];
    client.onUpdate("auth:whoami", {}, (v) => seen.push(v));
    await until(() => seen.length === 1, "signed in");
    client.clearAuth();
    await until(() => seen.length === 2, "signed out");
    assert.deepEqual(seen, ["dora", null]);
    const last = server.last.received.filter((m) => m.type === "Authenticate").at(-1);
    assert.deepEqual(last, { type: "Authenticate", tokenType: "None", baseVersion: 1 });
  });
});

test("setAdminAuth authenticates with the admin key, and again after a reconnect", async () => {
  await withServer({}, async (server, client) => {
    client.setAdminAuth("reactor_admin_test");
    await client.query("counter:get", {});
    const admin = { type: "Authenticate", tokenType: "Admin", value: "reactor_admin_test" };
    const sent = server.last.received.filter((m) => m.type === "Authenticate");
    assert.deepEqual({ ...sent.at(-1), baseVersion: undefined }, { ...admin, baseVersion: undefined });
    const before = server.connections.length;
    server.drop();
    await until(() => server.connections.length > before, "reconnect");
    await until(() => server.last.received.some((m) => m.type === "Authenticate"), "re-authenticate");
    assert.equal(server.last.received.find((m) => m.type === "Authenticate").tokenType, "Admin");
  });
});
