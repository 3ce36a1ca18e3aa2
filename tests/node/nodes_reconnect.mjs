// A client of a node that dies: it reconnects (to another node, behind the same address)
// and resyncs. Sends transfers a few at a time; the test SIGKILLs the node after
// "sent N" lines and points the address at another node.
// Usage: node nodes_reconnect.mjs <url> <transfers> <accounts (comma-separated)>
import { ConvexClient } from "convex/browser";
import { failOnError, finish, waitFor } from "./sync_lib.mjs";

const [url, count, accountList] = process.argv.slice(2);
const accounts = accountList.split(",");

failOnError(async () => {
  const client = new ConvexClient(url, { logger: false });
  const summaries = [];
  client.onUpdate("ledger:summary", {}, (value) => summaries.push(value));
  await waitFor(() => summaries.length > 0, "the first summary");
  console.log("ready");
  const transfers = Number(count);
  const pending = [];
  for (let seq = 0; seq < transfers; seq += 1) {
    const source = accounts[seq % accounts.length];
    const target = accounts[(seq + 1) % accounts.length];
    pending.push(client.mutation("ledger:transfer", { client: "reconnecting", seq, source,
                                                      target, amount: 1 }));
    if (pending.length >= 3) await pending.shift();
    console.log(`sent ${seq}`);
  }
  await Promise.all(pending);
  await waitFor(() => summaries[summaries.length - 1].moves >= 2 * transfers,
                "the summary to show every transfer", 30000);
  const state = client.connectionState();
  await client.close();
  finish({ summaries, connectionCount: state.connectionCount });
});
