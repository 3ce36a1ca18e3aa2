// Survives a server crash: subscriptions resume, in-flight mutations run exactly once.
// Usage: node sync_restart.mjs <url> <name> <mutations>
// Prints "ready" once subscribed, "fired" once the mutations are sent (the test then
// kills and restarts the server), and finally the JSON result.
import { ConvexClient } from "convex/browser";
import { failOnError, finish, waitFor } from "./sync_lib.mjs";

const [url, name, count] = process.argv.slice(2);

failOnError(async () => {
  const client = new ConvexClient(url, { logger: false });
  const counter = [];
  const applied = [];
  client.onUpdate("counter:get", { name }, (value) => counter.push(value));
  client.onUpdate("counter:applied", { prefix: name }, (tags) => applied.push(tags));
  await waitFor(() => counter.length > 0 && applied.length > 0, "the first results");
  console.log("ready");

  let resolved = 0;
  let resolvedAtDisconnect = null;
  client.subscribeToConnectionState((state) => {
    if (!state.isWebSocketConnected && resolvedAtDisconnect === null) {
      resolvedAtDisconnect = resolved;
    }
  });
  const tags = Array.from({ length: Number(count) }, (_, i) => `${name}-${String(i).padStart(3, "0")}`);
  // The server runs one client's mutations side by side and commits them in order: the
  // i-th waits 25 ms × (i + 1), so they are answered one by one while the test crashes it.
  const results = tags.map((tag, i) =>
    client.mutation("counter:apply_once", { tag, delay: 0.025 * (i + 1) }).then((value) => {
      resolved += 1;
      return value;
    }));
  console.log("fired");
  const values = await Promise.all(results);
  // The test commits to the counter after the restart: the resumed subscription sees it.
  await waitFor(() => counter[counter.length - 1] === 1, "the counter update after restart", 30000);
  await waitFor(() => applied[applied.length - 1].length === tags.length, "every tag applied");
  const state = client.connectionState();
  await client.close();
  finish({ values, tags, counter, lastApplied: applied[applied.length - 1], resolvedAtDisconnect,
           connectionCount: state.connectionCount });
});
