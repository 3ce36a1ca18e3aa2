// A typed use of the React bindings: must compile with `tsc --noEmit`.
import type { ReactorClient } from "reactor-client";
import {
  ReactorProvider,
  useAction,
  useConnectionState,
  useMutation,
  usePaginatedQuery,
  useQuery,
} from "reactor-client/react";
import { api } from "./_generated/api.js";

export function App({ client }: { client: ReactorClient }) {
  return (
    <ReactorProvider client={client}>
      <Messages channel="general" />
    </ReactorProvider>
  );
}

function Messages({ channel }: { channel: string }) {
  const count: number | undefined = useQuery(api.messages.count);
  const skipped = useQuery(api.messages.count, "skip");
  const send = useMutation(api.messages.send).withOptimisticUpdate((store, args) => {
    const before = store.getQuery(api.messages.count) ?? 0;
    store.setQuery(api.messages.count, {}, before + (args.body ? 1 : 0));
  });
  const summarize = useAction(api.ai.summarize);
  const { results, status, isLoading, loadMore } = usePaginatedQuery(
    api.messages.list,
    { channel },
    { initialNumItems: 20 },
  );
  // @ts-expect-error: channel is required
  usePaginatedQuery(api.messages.list, {}, { initialNumItems: 20 });
  // @ts-expect-error: send needs an author
  void send({ body: "x" });
  const { isWebSocketConnected } = useConnectionState();
  return (
    <div>
      <p>
        {count ?? "…"} {skipped} {isWebSocketConnected ? "online" : "offline"}
      </p>
      {results.map((m) => (
        <p key={m._id}>{m.body}</p>
      ))}
      <button disabled={isLoading} onClick={() => loadMore(20)}>
        {status}
      </button>
      <button onClick={() => void send({ body: "hello", author: "me" })}>send</button>
      <button onClick={() => void summarize({ text: "hello" }).then((s: string) => console.log(s))}>summarize</button>
    </div>
  );
}
