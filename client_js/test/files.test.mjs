import assert from "node:assert/strict";
import { test } from "node:test";
import { UploadError, uploadFile } from "../src/index.js";

function fakeClient(url) {
  const calls = [];
  return { calls, mutation: async (ref, args) => (calls.push([ref, args]), url) };
}

function fakeFetch(status, payload) {
  const calls = [];
  const fetch = async (url, init) => {
    calls.push([url, init]);
    return { ok: status >= 200 && status < 300, status, json: async () => payload };
  };
  return { calls, fetch };
}

test("uploadFile asks for a URL, POSTs the file with its type, returns the storage id", async () => {
  const client = fakeClient("http://server/api/storage/upload?token=t");
  const { calls, fetch } = fakeFetch(200, { storageId: "abc" });
  const file = new Blob(["hello"], { type: "text/plain" });
  const id = await uploadFile(client, "files:generateUploadUrl", file, { fetch, args: { kind: "x" } });
  assert.equal(id, "abc");
  assert.deepEqual(client.calls, [["files:generateUploadUrl", { kind: "x" }]]);
  assert.equal(calls[0][0], "http://server/api/storage/upload?token=t");
  assert.equal(calls[0][1].method, "POST");
  assert.deepEqual(calls[0][1].headers, { "Content-Type": "text/plain" });
  assert.equal(calls[0][1].body, file);
});

test("a refused upload rejects with UploadError carrying status and code", async () => {
  const client = fakeClient("http://server/api/storage/upload?token=t");
  const { fetch } = fakeFetch(403, { code: "UploadTokenUsed", message: "upload token was used already" });
  await assert.rejects(uploadFile(client, "f:g", "text", { fetch }), (error) => {
    assert.ok(error instanceof UploadError);
    assert.equal(error.status, 403);
    assert.equal(error.code, "UploadTokenUsed");
    assert.match(error.message, /used already/);
    return true;
  });
});

test("a mutation that does not return a URL is a clear TypeError", async () => {
  const client = { mutation: async () => null };
  await assert.rejects(uploadFile(client, "f:g", "x", { fetch: async () => assert.fail() }), TypeError);
});
