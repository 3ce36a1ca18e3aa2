// Error shapes as Convex apps see them through the official client.
// Usage: node compat_errors.mjs <url> <counter name>
import { ConvexClient, ConvexHttpClient } from "convex/browser";
import { ConvexError } from "convex/values";
import { failOnError, finish, waitFor } from "./sync_lib.mjs";

const [url, counter] = process.argv.slice(2);

// What an app can look at in a caught error.
function describe(error) {
  return {
    message: String(error.message),
    isConvexError: error instanceof ConvexError,
    // A bigint (int64) does not survive JSON: it is shown as "bigint:<digits>".
    data: error.data === undefined ? null : JSON.parse(JSON.stringify(error.data,
      (_key, value) => (typeof value === "bigint" ? `bigint:${value}` : value))),
    keys: error.data && typeof error.data === "object" ? Object.keys(error.data) : null,
  };
}

async function caught(promise) {
  try {
    return { value: await promise };
  } catch (error) {
    return { error: describe(error) };
  }
}

failOnError(async () => {
  const client = new ConvexClient(url, { logger: false });
  const http = new ConvexHttpClient(url, { logger: false });
  const subscribed = [];
  client.onUpdate("compat:typed", { name: 12, count: 1 }, () => {},
    (error) => subscribed.push(describe(error)));
  await waitFor(() => subscribed.length > 0, "the failing subscription");

  const id = await client.mutation("compat:new_counter", { name: counter });
  const result = {
    subscribed: subscribed[0],
    missing: await caught(client.query("compat:nope", {})),
    missingMutation: await caught(client.mutation("compat:nope", {})),
    internal: await caught(client.mutation("counter:reset", { name: counter })),
    argsWs: await caught(client.mutation("compat:app_error", { kind: 12 })),
    argsHttp: await caught(http.query("compat:typed", { name: "x", count: 1, extra: 2.5 })),
    missingArg: await caught(http.query("compat:typed", { count: 1 })),
    returns: await caught(http.query("compat:bad_returns", {})),
    appWs: await caught(client.mutation("compat:app_error", { kind: "object" })),
    appText: await caught(client.mutation("compat:app_error", { kind: "text" })),
    appHttp: await caught(http.mutation("compat:app_error", { kind: "object" })),
    appThroughAction: await caught(client.action("compat:app_error_through_action",
      { kind: "object" })),
    appThroughActionHttp: await caught(http.action("compat:app_error_through_action",
      { kind: "object" })),
    crash: await caught(client.mutation("compat:crash", {})),
    crashHttp: await caught(http.mutation("compat:crash", {})),
    systemGet: await caught(http.query("compat:system_get", { id })),
  };
  await client.close();
  finish(result);
});
