// Paginated queries: a growing list stitched from page subscriptions (protocol.md section 8).

import { errorFromResult } from "./errors.js";
import { callSafely } from "./listeners.js";
import { checkArgs, getFunctionPath } from "./refs.js";

let lastPaginationId = 0;

function isPageResult(value) {
  return (
    value !== null &&
    typeof value === "object" &&
    Array.isArray(value.page) &&
    typeof value.isDone === "boolean" &&
    typeof value.continueCursor === "string"
  );
}

/**
 * Each page is its own query with `paginationOpts {numItems, cursor, id, endCursor?}`. A page's
 * end stays where the server first put it (its journal, or an explicit endCursor), so a live
 * insert grows that page instead of pushing an item onto the next one. Pages the server marks
 * SplitRecommended/SplitRequired (or that grew past twice the initial size) are replaced by two
 * pages meeting at `splitCursor`, swapped in once both have loaded.
 *
 * The callback receives {results, status, loadMore} with status "LoadingFirstPage",
 * "CanLoadMore", "LoadingMore" or "Exhausted".
 */
export class PaginatedQuery {
  constructor(client, ref, args, options, callback, onError) {
    const initialNumItems = options?.initialNumItems;
    if (!Number.isInteger(initialNumItems) || initialNumItems <= 0) {
      throw new TypeError(`paginatedQuery: options.initialNumItems must be a positive integer, got ${initialNumItems}`);
    }
    this.client = client;
    this.path = getFunctionPath(ref);
    this.args = checkArgs(args, this.path);
    if ("paginationOpts" in this.args)
      throw new TypeError(`${this.path}: leave paginationOpts out of args; the client sets it`);
    this.initialNumItems = initialNumItems;
    this.callback = callback;
    this.onError = onError;
    this.closed = false;
    this.lastError = undefined;
    this.loadMore = (numItems) => this.requestMore(numItems);
    this.stopListening = client.addTransitionListener((changed) => this.onChanged(changed));
    this.start();
  }

  start() {
    this.id = ++lastPaginationId; // fresh id: a restart never reuses an old page subscription
    this.pages = [this.newPage(null, undefined, this.initialNumItems)];
    this.splits = new Map(); // page -> [first half, second half]
    this.publish();
  }

  newPage(cursor, endCursor, numItems) {
    const paginationOpts = { numItems, cursor, id: this.id };
    if (endCursor !== undefined) paginationOpts.endCursor = endCursor;
    const sub = this.client.subscribe(this.path, { ...this.args, paginationOpts });
    return { cursor, token: sub.token, unsubscribe: sub.unsubscribe };
  }

  pageValue(page) {
    const result = this.client.localResult(page.token);
    return result?.success && isPageResult(result.value) ? result.value : undefined;
  }

  onChanged(changed) {
    if (this.closed) return;
    const mine = (page) => changed.has(page.token);
    const touched = this.pages.some(mine) || [...this.splits.values()].some((halves) => halves.some(mine));
    if (!touched) return;
    this.processSplits();
    this.publish();
  }

  processSplits() {
    for (const [page, halves] of this.splits) {
      if (halves.some((half) => this.client.localResult(half.token) === undefined)) continue;
      const index = this.pages.indexOf(page);
      if (index >= 0) this.pages.splice(index, 1, ...halves);
      else for (const half of halves) half.unsubscribe();
      this.splits.delete(page);
      page.unsubscribe();
    }
    for (const page of this.pages) {
      const value = this.pageValue(page);
      if (value === undefined || this.splits.has(page) || !value.splitCursor) continue;
      const tooBig = value.page.length > this.initialNumItems * 2;
      if (value.pageStatus !== "SplitRecommended" && value.pageStatus !== "SplitRequired" && !tooBig) continue;
      this.splits.set(page, [
        this.newPage(page.cursor, value.splitCursor, this.initialNumItems),
        this.newPage(value.splitCursor, value.continueCursor, this.initialNumItems),
      ]);
    }
  }

  /** The list as the pages show it now. */
  compute() {
    const results = [];
    let last;
    for (const [index, page] of this.pages.entries()) {
      const result = this.client.localResult(page.token);
      if (result === undefined) return this.state(results, index === 0 ? "LoadingFirstPage" : "LoadingMore");
      if (!result.success) {
        if (result.errorMessage.includes("InvalidCursor")) return null;
        return this.state(
          results,
          index === 0 ? "LoadingFirstPage" : "LoadingMore",
          errorFromResult("query", this.path, result),
        );
      }
      if (!isPageResult(result.value)) {
        const error = new TypeError(`${this.path} did not return {page, isDone, continueCursor}`);
        return this.state(results, "LoadingFirstPage", error);
      }
      // An incomplete page waits for its split: show what comes before it.
      if (result.value.pageStatus === "SplitRequired") return this.state(results, "LoadingMore");
      results.push(...result.value.page);
      last = result.value;
    }
    return this.state(results, last.isDone ? "Exhausted" : "CanLoadMore");
  }

  state(results, status, error) {
    return { results, status, loadMore: this.loadMore, error };
  }

  publish() {
    const state = this.compute();
    if (state === null) {
      // The data under our cursors changed shape: throw the pages away and start over.
      this.client.logger.warn(`${this.path}: InvalidCursor, restarting pagination`);
      this.dropPages();
      return this.start();
    }
    this.current = state;
    if (state.error !== undefined && state.error.message !== this.lastError) {
      this.lastError = state.error.message;
      if (this.onError) callSafely(this.client.logger, "paginatedQuery onError", () => this.onError(state.error));
      else this.client.logger.error(state.error.message);
    }
    if (this.callback) callSafely(this.client.logger, "paginatedQuery callback", () => this.callback(state));
  }

  /** Subscribes the next page; false while a page is still loading or the list is exhausted. */
  requestMore(numItems) {
    if (this.closed || !Number.isInteger(numItems) || numItems <= 0) return false;
    const last = this.pageValue(this.pages[this.pages.length - 1]);
    if (last === undefined || last.isDone || last.pageStatus === "SplitRequired") return false;
    this.pages.push(this.newPage(last.continueCursor, undefined, numItems));
    this.publish();
    return true;
  }

  getCurrent() {
    return this.current;
  }

  dropPages() {
    for (const page of this.pages) page.unsubscribe();
    for (const halves of this.splits.values()) for (const half of halves) half.unsubscribe();
  }

  unsubscribe() {
    if (this.closed) return;
    this.closed = true;
    this.stopListening();
    this.dropPages();
  }
}
