// Two Reactor nodes on one PostgreSQL: transfers committed through the committing node,
// a subscriber on the follower node. Every snapshot the follower pushes must be one
// consistent state of the ledger (the total never moves), and the follower refuses
// mutations with NotCommitter.
// Usage: node nodes_follow.mjs <committer url> <follower url> <transfers> <accounts...>
import { ConvexClient } from "convex/browser";
import { failOnError, finish, waitFor } from "./sync_lib.mjs";

const [committerUrl, followerUrl, count, ...accounts] = process.argv.slice(2);

failOnError(async () => {
  const writer = new ConvexClient(committerUrl, { logger: false });
  const reader = new ConvexClient(followerUrl, { logger: false });
  const summaries = [];
  const balances = [];
  reader.onUpdate("ledger:summary", {}, (value) => summaries.push(value));
  reader.onUpdate("ledger:audit", {}, (value) =>
    balances.push(value.accounts.reduce((sum, a) => sum + a.balance, 0)));
  await waitFor(() => summaries.length > 0 && balances.length > 0, "the follower's first results");

  let refused = null;
  try {
    await reader.mutation("ledger:transfer", { client: "reader", seq: 0, source: accounts[0],
                                               target: accounts[1], amount: 1 });
  } catch (error) {
    refused = String(error.message ?? error);
  }

  const transfers = Number(count);
  // Several in flight at once: the committer batches them, the follower sees batches.
  const sent = [];
  for (let seq = 0; seq < transfers; seq += 1) {
    const source = accounts[seq % accounts.length];
    const target = accounts[(seq * 7 + 3) % accounts.length];
    if (source === target) continue;
    sent.push(writer.mutation("ledger:transfer", { client: "writer", seq, source, target,
                                                   amount: 1 + (seq % 5) }));
  }
  await Promise.all(sent);
  const moves = 2 * sent.length;
  await waitFor(() => summaries[summaries.length - 1].moves === moves,
                "the follower to show every transfer", 20000);
  await writer.close();
  await reader.close();
  finish({ summaries, balances, refused, moves });
});
