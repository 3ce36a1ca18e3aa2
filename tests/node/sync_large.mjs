// Large query results arrive split into TransitionChunk frames and are reassembled.
// Usage: node sync_large.mjs <url> <counter> <size>
import { ConvexClient } from "convex/browser";
import { failOnError, finish, waitFor } from "./sync_lib.mjs";

const [url, counter, size] = process.argv.slice(2);

failOnError(async () => {
  const client = new ConvexClient(url, { logger: false });
  const values = [];
  client.onUpdate("counter:padded", { name: counter, size: Number(size) }, (value) => values.push(value));
  await waitFor(() => values.length > 0, "the first large result");
  const result = await client.mutation("counter:incr", { name: counter });
  const latest = values[values.length - 1];
  const state = client.connectionState();
  await client.close();
  finish({ result, counts: values.map((v) => v.value), padLength: latest.pad.length,
           connectionCount: state.connectionCount });
});
