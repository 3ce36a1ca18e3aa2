// Types for reactor-client/react: the provider and hooks.

import type { ReactElement, ReactNode } from "react";
import type {
  ConnectionState,
  FunctionArgs,
  FunctionReference,
  FunctionReturnType,
  OptimisticUpdate,
  OptionalArgs,
  PaginatedQueryArgs,
  PaginatedQueryItem,
  PaginatedQueryReference,
  PaginationStatus,
  ReactorClient,
  Value,
} from "./index.js";

/** Makes `client` available to the hooks below it. */
export declare function ReactorProvider(props: { client: ReactorClient; children?: ReactNode }): ReactElement;

/** The client from the nearest ReactorProvider. */
export declare function useReactor(): ReactorClient;

/** The query's value; undefined while loading or when args is "skip". Throws the query's error. */
export declare function useQuery(query: string, args?: Record<string, Value> | "skip"): any;
export declare function useQuery<Q extends FunctionReference<"query">>(
  query: Q,
  ...args: OptionalArgs<Q> | ["skip"]
): FunctionReturnType<Q> | undefined;

export interface ReactMutation<M extends FunctionReference<"mutation">> {
  (...args: OptionalArgs<M>): Promise<FunctionReturnType<M>>;
  /** The same mutation with a local update shown until its write is visible. */
  withOptimisticUpdate(update: OptimisticUpdate<FunctionArgs<M>>): ReactMutation<M>;
}
export declare function useMutation<M extends FunctionReference<"mutation">>(mutation: M): ReactMutation<M>;
export declare function useMutation(mutation: string): ReactMutation<FunctionReference<"mutation">>;

export interface ReactAction<A extends FunctionReference<"action">> {
  (...args: OptionalArgs<A>): Promise<FunctionReturnType<A>>;
}
export declare function useAction<A extends FunctionReference<"action">>(action: A): ReactAction<A>;
export declare function useAction(action: string): ReactAction<FunctionReference<"action">>;

export interface UsePaginatedQueryResult<Item> {
  results: Item[];
  status: PaginationStatus;
  isLoading: boolean;
  /** Loads `numItems` more; false while a page is loading or when the list is exhausted. */
  loadMore(numItems: number): boolean;
}
export declare function usePaginatedQuery(
  query: string,
  args: Record<string, Value> | "skip",
  options: { initialNumItems: number },
): UsePaginatedQueryResult<any>;
export declare function usePaginatedQuery<Q extends PaginatedQueryReference>(
  query: Q,
  args: PaginatedQueryArgs<Q> | "skip",
  options: { initialNumItems: number },
): UsePaginatedQueryResult<PaginatedQueryItem<Q>>;

/** The client's connection state, re-rendering when it changes. */
export declare function useConnectionState(): ConnectionState;
