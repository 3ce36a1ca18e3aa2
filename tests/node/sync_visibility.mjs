// A mutation's promise resolves only once its write is visible to subscriptions.
// Usage: node sync_visibility.mjs <url> <counter> <rounds>
import { ConvexClient, ConvexHttpClient } from "convex/browser";
import { failOnError, finish, waitFor } from "./sync_lib.mjs";

const [url, counter, rounds] = process.argv.slice(2);

failOnError(async () => {
  const client = new ConvexClient(url, { logger: false });
  const seen = [];
  const padded = [];
  client.onUpdate("counter:get", { name: counter }, (value) => seen.push(value));
  client.onUpdate("counter:padded", { name: counter, size: 10 }, (value) => padded.push(value.value));
  await waitFor(() => seen.length > 0 && padded.length > 0, "the first results");
  const stale = [];
  for (let round = 1; round <= Number(rounds); round++) {
    await client.mutation("counter:incr", { name: counter }).then((result) => {
      // In the mutation's own continuation, the subscriptions already show its write.
      const latest = seen[seen.length - 1];
      const latestPadded = padded[padded.length - 1];
      if (result !== round || latest !== result || latestPadded !== result) {
        stale.push({ round, result, latest, latestPadded });
      }
    });
  }
  const http = new ConvexHttpClient(url, { logger: false });
  const viaHttp = await http.query("counter:get", { name: counter });
  const state = client.connectionState();
  await client.close();
  finish({ stale, seen, viaHttp, connectionCount: state.connectionCount });
});
