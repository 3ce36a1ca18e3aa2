// Types for reactor-client: the core client, function references and the value model.

/** A value a Reactor function takes or returns. int64 is `bigint`; bytes arrive as `ArrayBuffer`. */
export type Value =
  | null
  | boolean
  | number
  | bigint
  | string
  | ArrayBuffer
  | ArrayBufferView
  | Value[]
  | { [key: string]: Value | undefined };

/** The JSON the wire carries ("convex JSON", protocol.md section 2). */
export type JSONValue = null | boolean | number | string | JSONValue[] | { [key: string]: JSONValue };

export type FunctionType = "query" | "mutation" | "action";

/** The runtime key a reference stores its path under: `Symbol.for("functionName")`. */
export declare const functionName: unique symbol;

/**
 * A reference to a server function, carrying its kind, argument and return types for the
 * compiler. At runtime it is an object whose `functionName` symbol holds the path
 * ("folder/file:fn"); generated code builds them with `makeFunctionReference` or `anyApi`.
 * The type-only members mirror the official client's references, so those type-check too.
 */
export interface FunctionReference<
  Type extends FunctionType = FunctionType,
  Args extends Record<string, any> = any,
  Returns = any,
> {
  readonly [functionName]?: string;
  readonly __reactorPath?: string;
  readonly _type?: Type;
  readonly _args?: Args;
  readonly _returnType?: Returns;
}

export type FunctionArgs<F> = F extends FunctionReference<any, infer A, any> ? A : never;
export type FunctionReturnType<F> = F extends FunctionReference<any, any, infer R> ? R : never;

type IsAny<T> = 0 extends 1 & T ? true : false;

/** `[args?]` when every argument is optional (or untyped), `[args]` otherwise. */
export type OptionalArgs<F> =
  IsAny<FunctionArgs<F>> extends true
    ? [args?: any]
    : {} extends FunctionArgs<F>
      ? [args?: FunctionArgs<F>]
      : [args: FunctionArgs<F>];

type MutationCall<M> =
  IsAny<FunctionArgs<M>> extends true
    ? [args?: any, options?: MutationOptions<any>]
    : {} extends FunctionArgs<M>
      ? [args?: FunctionArgs<M>, options?: MutationOptions<FunctionArgs<M>>]
      : [args: FunctionArgs<M>, options?: MutationOptions<FunctionArgs<M>>];

/** Builds a reference to the function at `path`; what generated `api` files are made of. */
export declare function makeFunctionReference<
  Type extends FunctionType,
  Args extends Record<string, any> = any,
  Returns = any,
>(path: string): FunctionReference<Type, Args, Returns>;

/** The path a reference names ("messages:list"). */
export declare function getFunctionPath(ref: FunctionReference | string): string;

/** An untyped api object: `anyApi.folder.file.fn` refers to "folder/file:fn". */
export type AnyApi = FunctionReference<any, any, any> & { readonly [name: string]: AnyApi };
export declare const anyApi: AnyApi;

export declare function encodeValue(value: Value): JSONValue;
export declare function decodeValue(json: JSONValue): Value;

/** A failed query, mutation or action; `message` starts with "[kind path]". */
export declare class FunctionError extends Error {
  readonly kind: "query" | "mutation" | "action";
  readonly functionPath: string;
  /** The server's message, without the prefix. */
  readonly errorMessage: string;
}

/** An application error thrown on purpose by a function, with the value it carried. */
export declare class AppError<Data = Value> extends FunctionError {
  readonly data: Data;
}

/** An upload the server refused (bad, used or expired URL, too large, too many uploads). */
export declare class UploadError extends Error {
  /** The HTTP status (400, 403, 408, 413, 429...). */
  readonly status: number;
  /** The server's error code, e.g. "UploadTokenUsed", or null. */
  readonly code: string | null;
}

export interface UploadFileOptions<Args = Record<string, Value>> {
  /** Arguments of the generateUploadUrl mutation. */
  args?: Args;
  /** The Content-Type stored with the file (default: the Blob's type). */
  contentType?: string;
  /** The fetch to POST with (default: globalThis.fetch). */
  fetch?: typeof fetch;
}

/**
 * Runs `generateUploadUrl` (a mutation returning `ctx.storage.generate_upload_url()`),
 * POSTs `file` to the URL it returns, and resolves to the new storage id.
 */
export declare function uploadFile(
  client: { mutation(ref: any, args: any): Promise<any> },
  generateUploadUrl: FunctionReference<"mutation", any, string> | string,
  file: Blob | ArrayBuffer | ArrayBufferView | string,
  options?: UploadFileOptions,
): Promise<string>;

/** A server message that does not follow the protocol (logged, never thrown to the app). */
export declare class ProtocolError extends Error {}

export declare const PROTOCOL_VERSION: string;
/** http(s)://host -> ws(s)://host/api/<PROTOCOL_VERSION>/sync */
export declare function syncUrl(url: string): string;

export interface Logger {
  log(...args: unknown[]): void;
  warn(...args: unknown[]): void;
  error(...args: unknown[]): void;
  debug?(...args: unknown[]): void;
}

export interface ConnectionState {
  isWebSocketConnected: boolean;
  hasEverConnected: boolean;
  connectionCount: number;
  connectionRetries: number;
  hasInflightRequests: boolean;
  inflightMutations: number;
  inflightActions: number;
  timeOfOldestInflightRequest: Date | null;
}

export interface ReactorClientOptions {
  /** A WebSocket class; defaults to `globalThis.WebSocket`. In Node pass `WebSocket` from "ws". */
  WebSocket?: new (url: string) => any;
  /** Print debug lines about the socket and auth. */
  verbose?: boolean;
  /** Where messages go; `false` silences the client. Defaults to the console. */
  logger?: Logger | boolean;
  onConnectionChange?: (state: ConnectionState) => void;
  /** Refresh an auth token this many seconds before its `exp` (default 10). */
  authRefreshLeewaySeconds?: number;
  /** Reconnect backoff: first delay after an unexplained close (1000 ms) and the cap (16000 ms). */
  backoff?: { initialMs?: number; maxMs?: number; random?: () => number };
  /** Reconnect when the server sends nothing for this long (default 60000 ms). */
  inactivityTimeoutMs?: number;
}

/** Returns a JWT, or null when there is none; `forceRefreshToken` asks for a fresh one. */
export type AuthTokenFetcher = (args: { forceRefreshToken: boolean }) => Promise<string | null | undefined>;

/** The query results an optimistic update reads and edits. Treat values as immutable. */
export interface OptimisticLocalStore {
  getQuery<Q extends FunctionReference<"query">>(
    query: Q | string,
    ...args: OptionalArgs<Q>
  ): FunctionReturnType<Q> | undefined;
  getAllQueries<Q extends FunctionReference<"query">>(
    query: Q | string,
  ): Array<{ args: FunctionArgs<Q>; value: FunctionReturnType<Q> | undefined }>;
  /** `undefined` shows the query as loading. */
  setQuery<Q extends FunctionReference<"query">>(
    query: Q | string,
    args: FunctionArgs<Q>,
    value: FunctionReturnType<Q> | undefined,
  ): void;
}

export type OptimisticUpdate<Args = any> = (store: OptimisticLocalStore, args: Args) => void;

export interface MutationOptions<Args = any> {
  optimisticUpdate?: OptimisticUpdate<Args>;
}

/** Stops an `onUpdate` subscription; also exposes the latest value. */
export interface Unsubscribe<T> {
  (): void;
  unsubscribe(): void;
  getCurrentValue(): T | undefined;
}

export interface PaginationOptions {
  numItems: number;
  cursor: string | null;
  id?: number;
  endCursor?: string | null;
}

export interface PaginationResult<T> {
  page: T[];
  isDone: boolean;
  continueCursor: string;
  splitCursor?: string | null;
  pageStatus?: "SplitRecommended" | "SplitRequired" | null;
}

export type PaginationStatus = "LoadingFirstPage" | "CanLoadMore" | "LoadingMore" | "Exhausted";

export type PaginatedQueryReference = FunctionReference<
  "query",
  { paginationOpts: PaginationOptions },
  PaginationResult<any>
>;
export type PaginatedQueryArgs<Q> = Omit<FunctionArgs<Q>, "paginationOpts">;
export type PaginatedQueryItem<Q> = FunctionReturnType<Q> extends PaginationResult<infer T> ? T : any;

export interface PaginatedState<Item> {
  results: Item[];
  status: PaginationStatus;
  /** Loads `numItems` more; false while a page is loading or when the list is exhausted. */
  loadMore(numItems: number): boolean;
  error?: Error;
}

export declare class PaginatedQuery<Item = any> {
  loadMore(numItems: number): boolean;
  getCurrent(): PaginatedState<Item> | undefined;
  unsubscribe(): void;
}

/**
 * The untyped (string path) overload of each method comes first, so that a typed reference with
 * wrong arguments is reported against its own signature.
 */
export declare class ReactorClient {
  constructor(url: string, options?: ReactorClientOptions);
  readonly url: string;
  readonly sessionId: string;

  /** Calls `callback` with the query's value now (once loaded) and after every change. */
  onUpdate(
    query: string,
    args: Record<string, Value>,
    callback: (value: any) => unknown,
    onError?: (error: Error) => unknown,
  ): Unsubscribe<any>;
  onUpdate<Q extends FunctionReference<"query">>(
    query: Q,
    args: FunctionArgs<Q>,
    callback: (value: FunctionReturnType<Q>) => unknown,
    onError?: (error: Error) => unknown,
  ): Unsubscribe<FunctionReturnType<Q>>;

  /** The query's value once: subscribe, first result, unsubscribe. */
  query(query: string, args?: Record<string, Value>): Promise<any>;
  query<Q extends FunctionReference<"query">>(query: Q, ...args: OptionalArgs<Q>): Promise<FunctionReturnType<Q>>;

  /** Resolves after the client has seen a snapshot that includes the mutation's write. */
  mutation(mutation: string, args?: Record<string, Value>, options?: MutationOptions): Promise<any>;
  mutation<M extends FunctionReference<"mutation">>(
    mutation: M,
    ...args: MutationCall<M>
  ): Promise<FunctionReturnType<M>>;

  action(action: string, args?: Record<string, Value>): Promise<any>;
  action<A extends FunctionReference<"action">>(action: A, ...args: OptionalArgs<A>): Promise<FunctionReturnType<A>>;

  paginatedQuery(
    query: string,
    args: Record<string, Value>,
    options: { initialNumItems: number },
    callback?: (state: PaginatedState<any>) => void,
    onError?: (error: Error) => void,
  ): PaginatedQuery<any>;
  paginatedQuery<Q extends PaginatedQueryReference>(
    query: Q,
    args: PaginatedQueryArgs<Q>,
    options: { initialNumItems: number },
    callback?: (state: PaginatedState<PaginatedQueryItem<Q>>) => void,
    onError?: (error: Error) => void,
  ): PaginatedQuery<PaginatedQueryItem<Q>>;

  /** Authenticates with tokens from `fetchToken`; `onChange` reports whether the server accepted one. */
  setAuth(fetchToken: AuthTokenFetcher, onChange?: (isAuthenticated: boolean) => void): Promise<void>;
  /** Act as the deployment's admin: internal and `_system/` functions too. */
  setAdminAuth(adminKey: string): void;
  clearAuth(): void;

  connectionState(): ConnectionState;
  subscribeToConnectionState(callback: (state: ConnectionState) => void): () => void;

  /** Closes the socket for good; requests in flight fail. */
  close(): Promise<void>;
}
