// ConvexHttpClient.function (POST /api/function), built-in environment values, and the
// deployment's action timeout, through the official client.
// Usage: node compat_endpoints.mjs <url> <counter name> <expired token> <foreign token>
import { ConvexClient, ConvexHttpClient } from "convex/browser";
import { failOnError, finish } from "./sync_lib.mjs";

const [url, counter, expiredToken, foreignToken] = process.argv.slice(2);

async function caught(promise) {
  try {
    return { value: await promise };
  } catch (error) {
    return { error: { message: String(error.message),
                      data: error.data === undefined ? null : error.data } };
  }
}

failOnError(async () => {
  const http = new ConvexHttpClient(url, { logger: false });
  const client = new ConvexClient(url, { logger: false });
  // `function(fn, componentPath, args)`: one endpoint for every kind of function.
  const result = {
    fnMutation: await caught(http.function("counter:incr", undefined, { name: counter, by: 2 })),
    fnQuery: await caught(http.function("counter:get", undefined, { name: counter })),
    fnAction: await caught(http.function("errors:echo", undefined, { text: "hi" })),
    fnAppError: await caught(http.function("compat:app_error", undefined, { kind: "text" })),
    fnMissing: await caught(http.function("compat:nope", undefined, {})),
    fnInternal: await caught(http.function("counter:reset", undefined, { name: counter })),
    fnComponent: await caught(http.function("counter:get", "some/component",
      { name: counter })),
    urls: await caught(http.query("compat:urls", {})),
    actionUrls: await caught(http.action("compat:urls_in_action", {})),
  };
  // Refused tokens, with Convex's codes.
  const expired = new ConvexHttpClient(url, { logger: false });
  expired.setAuth(expiredToken);
  result.expired = await caught(expired.query("auth:whoami", {}));
  const foreign = new ConvexHttpClient(url, { logger: false });
  foreign.setAuth(foreignToken);
  result.foreign = await caught(foreign.query("auth:whoami", {}));
  const started = Date.now();
  result.hang = await caught(client.action("compat:hang", {}));
  result.hangMs = Date.now() - started;
  result.afterHang = await caught(client.query("counter:get", { name: counter }));
  await client.close();
  finish(result);
});
