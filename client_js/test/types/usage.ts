// A typed use of the core client: must compile with `tsc --noEmit`; the @ts-expect-error lines must fail.
import { AppError, ReactorClient, makeFunctionReference } from "reactor-client";
import { api, type Message } from "./_generated/api.js";

export async function main(): Promise<void> {
  const client = new ReactorClient("http://127.0.0.1:3210", { verbose: true, authRefreshLeewaySeconds: 30 });

  const stop = client.onUpdate(api.messages.count, {}, (count) => {
    const n: number = count;
    void n;
  });
  const current: number | undefined = stop.getCurrentValue();
  stop();
  void current;

  const count: number = await client.query(api.messages.count);
  const id: string = await client.mutation(api.messages.send, { body: "hi", author: "me" });
  await client.mutation(
    api.messages.send,
    { body: "hi", author: "me" },
    {
      optimisticUpdate: (store, args) => {
        const body: string = args.body;
        const before = store.getQuery(api.messages.count);
        if (before !== undefined) store.setQuery(api.messages.count, {}, before + body.length);
      },
    },
  );
  const summary: string = await client.action(api.ai.summarize, { text: "long text" });

  // @ts-expect-error: a required argument is missing
  await client.mutation(api.messages.send, { body: "hi" });
  // @ts-expect-error: a mutation is not a query
  await client.query(api.messages.send, { body: "x", author: "y" });
  // @ts-expect-error: the action's argument has the wrong type
  await client.action(api.ai.summarize, { text: 1 });

  const untyped = await client.query("messages:count", {});
  const ref = makeFunctionReference<"query", { a: number }, string>("mod:fn");
  const fromRef: string = await client.query(ref, { a: 1 });
  // @ts-expect-error: wrong argument type for a hand-made reference
  await client.query(ref, { a: "x" });

  const pages = client.paginatedQuery(api.messages.list, { channel: "general" }, { initialNumItems: 10 }, (state) => {
    const first: Message | undefined = state.results[0];
    if (state.status === "CanLoadMore") state.loadMore(10);
    void first;
  });
  pages.unsubscribe();

  await client.setAuth(
    async ({ forceRefreshToken }) => (forceRefreshToken ? "fresh.jwt.token" : null),
    (ok: boolean) => void ok,
  );
  client.subscribeToConnectionState((state) => void state.isWebSocketConnected);
  try {
    await client.mutation(api.messages.send, { body: "", author: "me" });
  } catch (err) {
    if (err instanceof AppError) console.log(err.data, err.functionPath);
  }
  console.log(count, id, summary, untyped, fromRef);
  await client.close();
}
