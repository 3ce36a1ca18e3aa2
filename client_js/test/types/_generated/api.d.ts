// The shape `reactor codegen` is expected to emit: typed references over reactor-client's types.
import type { FunctionReference, PaginationOptions, PaginationResult } from "reactor-client";

export type Message = { _id: string; _creationTime: number; body: string; author: string };

export declare const api: {
  messages: {
    list: FunctionReference<"query", { channel: string; paginationOpts: PaginationOptions }, PaginationResult<Message>>;
    count: FunctionReference<"query", {}, number>;
    send: FunctionReference<"mutation", { body: string; author: string }, string>;
  };
  ai: {
    summarize: FunctionReference<"action", { text: string; maxWords?: number }, string>;
  };
};
