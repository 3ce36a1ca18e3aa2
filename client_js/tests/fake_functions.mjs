// The functions the fake server hosts: a counter, echoes, auth, failures and a paginated list.
// Values are handled as raw convex JSON; keys of list items are plain numbers.

/** An application error a fake function throws; reaches the client as errorData. */
export class FakeAppError extends Error {
  constructor(message, data) {
    super(message);
    this.data = data;
  }
}

const END = "END";

/**
 * Items of `rows` ordered by `key`, after `cursor`. A page's end is pinned on its first run (in
 * the journal) or given as endCursor, so later runs return everything up to that end.
 */
function paginate(ctx, rows, opts) {
  const sorted = [...rows].sort((a, b) => a.key - b.key);
  const start = opts.cursor === null ? -Infinity : Number(opts.cursor);
  let end = opts.endCursor ?? (ctx.journal ? JSON.parse(ctx.journal).end : undefined);
  let page;
  if (end === undefined) {
    page = sorted.filter((r) => r.key > start).slice(0, opts.numItems);
    end = page.length < opts.numItems ? END : String(page[page.length - 1].key);
    ctx.setJournal(JSON.stringify({ end }));
  } else {
    const limit = end === END ? Infinity : Number(end);
    page = sorted.filter((r) => r.key > start && r.key <= limit);
  }
  const result = { page, isDone: end === END, continueCursor: end };
  const splitAt = ctx.db.all("settings")[0]?.splitAbove;
  if (splitAt !== undefined && page.length > splitAt) {
    result.splitCursor = String(page[Math.floor(page.length / 2) - 1].key);
    result.pageStatus = "SplitRecommended";
  }
  return result;
}

export const defaultFunctions = {
  "counter:get": { type: "query", handler: (ctx) => ctx.db.all("counter")[0]?.value ?? 0 },
  "counter:double": { type: "query", handler: (ctx) => (ctx.db.all("counter")[0]?.value ?? 0) * 2 },
  "counter:increment": {
    type: "mutation",
    handler: (ctx, args) => {
      const rows = ctx.db.all("counter");
      if (rows.length === 0) rows.push({ value: 0 });
      rows[0].value += args.by ?? 1;
      return rows[0].value;
    },
  },
  "values:echo": { type: "query", handler: (_ctx, args) => args.value },
  "values:echoMutation": { type: "mutation", handler: (_ctx, args) => args.value },
  "auth:whoami": { type: "query", handler: (ctx) => ctx.identity?.subject ?? null },
  "fail:query": {
    type: "query",
    handler: () => {
      throw new FakeAppError("query refused", { code: 42 });
    },
  },
  "fail:mutation": {
    type: "mutation",
    handler: () => {
      throw new FakeAppError("mutation refused", { reason: "nope" });
    },
  },
  "actions:echo": { type: "action", handler: (_ctx, args) => args.value },
  "actions:slow": {
    type: "action",
    handler: (_ctx, args) => new Promise((r) => setTimeout(() => r(args.ms), args.ms)),
  },
  "messages:list": {
    type: "query",
    handler: (ctx, args) => paginate(ctx, ctx.db.all("messages"), args.paginationOpts),
  },
  "messages:send": {
    type: "mutation",
    handler: (ctx, args) => {
      ctx.db.insert("messages", { key: args.key, body: args.body });
      return null;
    },
  },
};
