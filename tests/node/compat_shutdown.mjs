// In flight when the server gets SIGTERM: two hanging actions (WebSocket and HTTP) and
// a mutation still running. Prints "fired" once all three are sent, then the outcomes.
// Usage: node compat_shutdown.mjs <url> <counter name>
import { ConvexClient, ConvexHttpClient } from "convex/browser";
import { failOnError, finish, sleep } from "./sync_lib.mjs";

const [url, counter] = process.argv.slice(2);

function settle(promise) {
  return promise.then((value) => ({ value }),
    (error) => ({ error: String(error.message) }));
}

failOnError(async () => {
  const client = new ConvexClient(url, { logger: false });
  const http = new ConvexHttpClient(url, { logger: false });
  await client.query("counter:get", { name: counter });  // the socket is up
  const outcomes = Promise.all([
    settle(client.action("compat:hang", {})),
    settle(http.action("compat:hang", {})),
    settle(client.mutation("compat:slow_write", { name: counter, seconds: 1.0 })),
  ]);
  await sleep(300);
  console.log("fired");
  const [wsAction, httpAction, mutation] = await outcomes;
  finish({ wsAction, httpAction, mutation });
});
