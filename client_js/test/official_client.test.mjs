// Checks the fake server against the official `convex` client when it is installed (in
// ../tests/node/node_modules): if the official client works against it without breaking a
// rule, the fake server is a fair stand-in for a conforming server.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { WebSocket } from "ws";
import { startFakeServer } from "../tests/fake_server.mjs";
import { until } from "../tests/helpers.mjs";

const entry = fileURLToPath(new URL("../../tests/node/node_modules/convex/dist/esm/browser/index.js", import.meta.url));

test(
  "the official ConvexClient works against the fake server",
  { skip: !existsSync(entry) && "convex not installed in tests/node" },
  async () => {
    const { ConvexClient } = await import(entry);
    const server = await startFakeServer();
    const client = new ConvexClient(server.url, {
      webSocketConstructor: WebSocket,
      skipConvexDeploymentUrlCheck: true,
      unsavedChangesWarning: false,
      logger: false,
    });
    try {
      const seen = [];
      client.onUpdate("counter:get", {}, (v) => seen.push(v));
      assert.equal(await client.mutation("counter:increment", { by: 3 }), 3);
      assert.deepEqual(seen, [0, 3]);
      const echoed = await client.query("values:echo", { value: { n: 1n, x: NaN } });
      assert.equal(echoed.n, 1n);
      const err = await client.mutation("fail:mutation", {}).catch((e) => e);
      assert.deepEqual(err.data, { reason: "nope" });
      server.drop({ code: 1011, reason: "InternalServerError" });
      await until(() => server.connections.length === 2, "official client reconnects", 5000);
      assert.equal(await client.mutation("counter:increment", {}), 4);
      assert.deepEqual(server.violations, []);
    } finally {
      await client.close();
      await server.close();
    }
  },
);
