import assert from "node:assert/strict";
import { test } from "node:test";
import { anyApi, functionName, getFunctionPath, makeFunctionReference, syncUrl } from "../src/index.js";
import { canonicalPath } from "../src/refs.js";

test("references resolve to paths: strings, makeFunctionReference, anyApi, __reactorPath", () => {
  assert.equal(getFunctionPath("messages:list"), "messages:list");
  assert.equal(getFunctionPath(makeFunctionReference("folder/file:fn")), "folder/file:fn");
  assert.equal(getFunctionPath(anyApi.messages.list), "messages:list");
  assert.equal(getFunctionPath(anyApi.folder.file.fn), "folder/file:fn");
  assert.equal(getFunctionPath(anyApi.folder.file.default), "folder/file");
  assert.equal(getFunctionPath({ __reactorPath: "a:b" }), "a:b");
  // The official client's makeFunctionReference stores the path under the same global symbol.
  assert.equal(getFunctionPath({ [Symbol.for("functionName")]: "x:y" }), "x:y");
  assert.equal(functionName, Symbol.for("functionName"));
  assert.throws(() => getFunctionPath({}), /expected a function reference/);
  assert.throws(() => getFunctionPath(anyApi.messages), /api\.module\.fn/);
});

test("query paths are canonicalised like the official client", () => {
  assert.equal(canonicalPath("messages"), "messages:default");
  assert.equal(canonicalPath("messages.js:list"), "messages:list");
  assert.equal(canonicalPath("a/b:c"), "a/b:c");
});

test("the sync URL is derived from the deployment URL", () => {
  assert.equal(syncUrl("http://127.0.0.1:3210"), "ws://127.0.0.1:3210/api/1.48.0/sync");
  assert.equal(syncUrl("https://example.test/"), "wss://example.test/api/1.48.0/sync");
  assert.equal(syncUrl("ws://h:1"), "ws://h:1/api/1.48.0/sync");
  assert.throws(() => syncUrl("localhost:3210"), /expected an http\(s\):\/\/ or ws\(s\):\/\/ URL/);
});
