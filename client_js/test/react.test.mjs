import assert from "node:assert/strict";
import { test } from "node:test";
import { Component, act, createElement as h } from "react";
import { renderToString } from "react-dom/server";
import TestRenderer from "react-test-renderer";
import { ReactorProvider, useMutation, usePaginatedQuery, useQuery } from "../src/react.js";
import { until, withServer } from "../tests/helpers.mjs";

// The first render runs inside act() so the tests see it at once; later renders are scheduled
// by React on its own and the tests poll the rendered tree.
globalThis.IS_REACT_ACT_ENVIRONMENT = false;
const consoleError = console.error;
const expectedNoise = /react-test-renderer is deprecated|query refused|not configured to support act/;
console.error = (...args) => (args.some((a) => expectedNoise.test(String(a))) ? undefined : consoleError(...args));

const text = (renderer) => {
  const flat = (node) =>
    node === null ? "" : typeof node === "string" ? node : (node.children ?? []).map(flat).join("");
  const tree = renderer.toJSON();
  return Array.isArray(tree) ? tree.map(flat).join("|") : flat(tree);
};

async function mount(client, element) {
  let renderer;
  globalThis.IS_REACT_ACT_ENVIRONMENT = true;
  await act(() => {
    renderer = TestRenderer.create(h(ReactorProvider, { client }, element));
  });
  globalThis.IS_REACT_ACT_ENVIRONMENT = false;
  return renderer;
}
const adds = (server) => server.connections.flatMap((c) => c.received).flatMap((m) => m.modifications ?? []);

function Counter({ args = {} }) {
  const value = useQuery("counter:get", args);
  return h("span", null, value === undefined ? "loading" : `count ${value}`);
}

test("useQuery renders loading, the value, then each update; unmount unsubscribes", async () => {
  await withServer({}, async (server, client) => {
    const renderer = await mount(client, h(Counter));
    assert.equal(text(renderer), "loading");
    await until(() => text(renderer) === "count 0", "first value");
    server.commit((db) => db.set("counter", [{ value: 4 }]));
    await until(() => text(renderer) === "count 4", "update");
    renderer.unmount();
    await until(() => adds(server).some((m) => m.type === "Remove"), "Remove sent");
  });
});

test('useQuery with "skip" subscribes to nothing', async () => {
  await withServer({}, async (server, client) => {
    const renderer = await mount(client, h(Counter, { args: "skip" }));
    await client.query("values:echo", { value: 1 });
    assert.equal(text(renderer), "loading");
    assert.deepEqual(
      adds(server).map((m) => m.udfPath),
      ["values:echo"],
    );
    renderer.unmount();
  });
});

test("useMutation(...).withOptimisticUpdate shows the change before the server answers", async () => {
  await withServer({ server: { transitionDelayMs: 100 } }, async (_server, client) => {
    let increment;
    function Clicker() {
      increment = useMutation("counter:increment").withOptimisticUpdate((store, args) => {
        store.setQuery("counter:get", {}, (store.getQuery("counter:get", {}) ?? 0) + args.by);
      });
      return h(Counter);
    }
    const renderer = await mount(client, h(Clicker));
    await until(() => text(renderer) === "count 0", "first value");
    const done = increment({ by: 5 });
    await until(() => text(renderer) === "count 5", "optimistic render", 80);
    assert.equal(await done, 5);
    assert.equal(text(renderer), "count 5");
    renderer.unmount();
  });
});

test("usePaginatedQuery renders pages and loads more", async () => {
  await withServer({}, async (server, client) => {
    server.commit((db) =>
      db.set(
        "messages",
        [1, 2, 3].map((key) => ({ key, body: `m${key}` })),
      ),
    );
    let latest;
    function List() {
      latest = usePaginatedQuery("messages:list", {}, { initialNumItems: 2 });
      return h("ul", null, latest.status, ...latest.results.map((r) => h("li", { key: r.key }, r.body)));
    }
    const renderer = await mount(client, h(List));
    assert.equal(latest.status, "LoadingFirstPage");
    await until(() => text(renderer) === "CanLoadMorem1m2", "first page");
    assert.equal(latest.loadMore(2), true);
    await until(() => text(renderer) === "Exhaustedm1m2m3", "all pages");
    renderer.unmount();
  });
});

test("a query error reaches the nearest error boundary", async () => {
  await withServer({}, async (_server, client) => {
    class Boundary extends Component {
      state = { error: null };
      static getDerivedStateFromError(error) {
        return { error };
      }
      render() {
        return this.state.error ? h("b", null, `caught ${this.state.error.data.code}`) : this.props.children;
      }
    }
    function Failing() {
      return h("i", null, String(useQuery("fail:query", {})));
    }
    const renderer = await mount(client, h(Boundary, null, h(Failing)));
    await until(() => text(renderer) === "caught 42", "error shown");
    renderer.unmount();
  });
});

test("server rendering shows the loading state without subscribing", async () => {
  await withServer({}, async (server, client) => {
    const html = renderToString(h(ReactorProvider, { client }, h(Counter)));
    assert.equal(html, "<span>loading</span>");
    await client.query("values:echo", { value: 1 });
    assert.deepEqual(
      adds(server).map((m) => m.udfPath),
      ["values:echo"],
    );
  });
});
