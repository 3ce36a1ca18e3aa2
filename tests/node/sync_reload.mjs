// Stays subscribed while the test edits the app under `reactor dev`.
// Usage: node sync_reload.mjs <url>
// Prints `value <json>` for each new greet:hello result, and exits once it sees "final".
import { ConvexClient } from "convex/browser";
import { failOnError, finish, waitFor } from "./sync_lib.mjs";

const [url] = process.argv.slice(2);

failOnError(async () => {
  const client = new ConvexClient(url, { logger: false });
  const values = [];
  client.onUpdate("greet:hello", {}, (value) => {
    values.push(value);
    console.log(`value ${JSON.stringify(value)}`);
  });
  await waitFor(() => values[values.length - 1] === "final", "the final value", 60000);
  const state = client.connectionState();
  await client.close();
  finish({ values, connectionCount: state.connectionCount });
});
