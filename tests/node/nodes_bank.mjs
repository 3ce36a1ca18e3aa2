// The bank on several Reactor nodes sharing one PostgreSQL: on every node a client sends
// transfers (a follower forwards its commits to the committer) and a subscriber watches
// the ledger. Every snapshot any node pushes must be one consistent state (the total
// never moves).
// Usage: node nodes_bank.mjs <transfers per client> <accounts (comma-separated)> <url>...
import { ConvexClient } from "convex/browser";
import { failOnError, finish, waitFor } from "./sync_lib.mjs";

const [count, accountList, ...urls] = process.argv.slice(2);
const accounts = accountList.split(",");

failOnError(async () => {
  const nodes = urls.map((url) => ({
    writer: new ConvexClient(url, { logger: false }),
    reader: new ConvexClient(url, { logger: false }),
    summaries: [],
    totals: [],
  }));
  for (const node of nodes) {
    node.reader.onUpdate("ledger:summary", {}, (value) => node.summaries.push(value));
    node.reader.onUpdate("ledger:audit", {}, (value) =>
      node.totals.push(value.accounts.reduce((sum, a) => sum + a.balance, 0)));
  }
  await waitFor(() => nodes.every((n) => n.summaries.length > 0 && n.totals.length > 0),
                "every node's first results");

  const transfers = Number(count);
  const acknowledged = [];
  // Stopped by the test's timeout: say what had come back, then go.
  process.on("SIGTERM", () => {
    console.error(JSON.stringify({
      acknowledged: acknowledged.map(([client, seq]) => `${client}:${seq}`),
      lastSummaries: nodes.map((n) => n.summaries[n.summaries.length - 1]),
    }));
    process.exit(1);
  });
  const sending = nodes.map(async (node, index) => {
    // A few in flight at once per client: they commit in the order sent.
    const pending = [];
    for (let seq = 0; seq < transfers; seq += 1) {
      const source = accounts[(seq + index) % accounts.length];
      const target = accounts[(seq * 7 + 3 + index) % accounts.length];
      if (source === target) continue;
      const client = `client${index}`;
      pending.push(node.writer.mutation("ledger:transfer", { client, seq, source, target,
                                                            amount: 1 + (seq % 5) })
        .then(() => acknowledged.push([client, seq])));
      if (pending.length >= 4) await pending.shift();
    }
    await Promise.all(pending);
  });
  await Promise.all(sending);
  const moves = 2 * acknowledged.length;
  for (const node of nodes) {
    await waitFor(() => node.summaries[node.summaries.length - 1].moves === moves,
                  "every node to show every transfer", 20000);
  }
  for (const node of nodes) {
    await node.writer.close();
    await node.reader.close();
  }
  finish({ acknowledged, moves,
           nodes: nodes.map((n) => ({ summaries: n.summaries, totals: n.totals })) });
});
