// React bindings: a provider and hooks over ReactorClient, built on useSyncExternalStore.

import { createContext, createElement, useContext, useMemo, useSyncExternalStore } from "react";
import { errorFromResult } from "./errors.js";
import { PaginatedQuery } from "./pagination.js";
import { checkArgs, getFunctionPath, queryToken } from "./refs.js";

const ReactorContext = createContext(undefined);

/** Makes `client` available to the hooks below it. */
export function ReactorProvider({ client, children }) {
  return createElement(ReactorContext.Provider, { value: client }, children);
}

/** The ReactorClient from the nearest ReactorProvider. */
export function useReactor() {
  const client = useContext(ReactorContext);
  if (client === undefined) throw new Error("Reactor hooks need a <ReactorProvider client={client}> above them");
  return client;
}

const NOTHING = { subscribe: () => () => {}, snapshot: () => undefined };

/**
 * A store over one query: subscribing (from React's commit phase, never from render) adds the
 * query to the client's set; the snapshot is the result object, stable until it changes.
 */
function queryStore(client, path, args, token) {
  return {
    subscribe(onChange) {
      const sub = client.subscribe(path, args);
      const stopWatching = client.watchToken(sub.token, onChange);
      return () => {
        stopWatching();
        sub.unsubscribe();
      };
    },
    snapshot: () => client.localResult(token),
  };
}

/** The query's current value; undefined while loading or when args is "skip". Throws its error. */
export function useQuery(ref, args) {
  const client = useReactor();
  const path = getFunctionPath(ref);
  const queryArgs = args === "skip" ? null : checkArgs(args, path);
  const token = queryArgs === null ? null : queryToken(path, queryArgs);
  // queryArgs is fully described by token: a new object with equal contents keeps the store.
  const store = useMemo(() => (token === null ? NOTHING : queryStore(client, path, queryArgs, token)), [client, token]);
  const result = useSyncExternalStore(store.subscribe, store.snapshot, store.snapshot);
  if (result === undefined) return undefined;
  if (!result.success) throw errorFromResult("query", path, result);
  return result.value;
}

function boundMutation(client, path, optimisticUpdate) {
  const mutate = (args) => client.mutation(path, args, { optimisticUpdate });
  mutate.withOptimisticUpdate = (update) => {
    if (optimisticUpdate !== undefined) throw new Error(`${path}: this mutation already has an optimistic update`);
    return boundMutation(client, path, update);
  };
  return mutate;
}

/** A stable function running the mutation; `.withOptimisticUpdate(fn)` adds a local update. */
export function useMutation(ref) {
  const client = useReactor();
  const path = getFunctionPath(ref);
  return useMemo(() => boundMutation(client, path, undefined), [client, path]);
}

/** A stable function running the action. */
export function useAction(ref) {
  const client = useReactor();
  const path = getFunctionPath(ref);
  return useMemo(() => (args) => client.action(path, args), [client, path]);
}

const FIRST_PAGE = Object.freeze({ results: [], status: "LoadingFirstPage", loadMore: () => false });

/** A store that runs one PaginatedQuery while anything is subscribed to it. */
function paginatedStore(client, path, args, initialNumItems) {
  let current = FIRST_PAGE;
  let paginated = null;
  const listeners = new Set();
  return {
    subscribe(onChange) {
      listeners.add(onChange);
      if (paginated === null) {
        const publish = (state) => {
          current = state;
          for (const listener of [...listeners]) listener();
        };
        paginated = new PaginatedQuery(client, path, args, { initialNumItems }, publish, () => {});
      }
      return () => {
        listeners.delete(onChange);
        if (listeners.size > 0) return;
        paginated.unsubscribe();
        paginated = null;
      };
    },
    snapshot: () => current,
  };
}

const SKIPPED_PAGES = { subscribe: () => () => {}, snapshot: () => FIRST_PAGE };

/** A growing list: {results, status, isLoading, loadMore(n)}; throws a page's error. */
export function usePaginatedQuery(ref, args, options) {
  const client = useReactor();
  const path = getFunctionPath(ref);
  const initialNumItems = options?.initialNumItems;
  if (!Number.isInteger(initialNumItems) || initialNumItems <= 0) {
    throw new TypeError(
      `usePaginatedQuery: options.initialNumItems must be a positive integer, got ${initialNumItems}`,
    );
  }
  const queryArgs = args === "skip" ? null : checkArgs(args, path);
  const key = queryArgs === null ? null : `${queryToken(path, queryArgs)}#${initialNumItems}`;
  const store = useMemo(
    () => (key === null ? SKIPPED_PAGES : paginatedStore(client, path, queryArgs, initialNumItems)),
    [client, key],
  );
  const state = useSyncExternalStore(store.subscribe, store.snapshot, store.snapshot);
  if (state.error !== undefined) throw state.error;
  const isLoading = state.status === "LoadingFirstPage" || state.status === "LoadingMore";
  return { results: state.results, status: state.status, isLoading, loadMore: state.loadMore };
}

/** The client's connection state, re-rendering when it changes. */
export function useConnectionState() {
  const client = useReactor();
  const store = useMemo(() => {
    let current = client.connectionState();
    return {
      subscribe(onChange) {
        const stop = client.subscribeToConnectionState((state) => {
          current = state;
          onChange();
        });
        current = client.connectionState();
        onChange();
        return stop;
      },
      snapshot: () => current,
    };
  }, [client]);
  return useSyncExternalStore(store.subscribe, store.snapshot, store.snapshot);
}
