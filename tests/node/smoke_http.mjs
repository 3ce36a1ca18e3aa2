// Calls one query through the official ConvexHttpClient and prints the outcome as JSON.
// Usage: node smoke_http.mjs <url> <udfPath> [argsJson]
// The last stdout line is {"ok": true, "value": <convex JSON>} or
// {"ok": false, "error": <message>, "data": <convex JSON or null>}.
import { ConvexHttpClient } from "convex/browser";
import { convexToJson, jsonToConvex } from "convex/values";

const [url, udfPath, argsJson = "{}"] = process.argv.slice(2);
if (!url || !udfPath) {
  console.error("usage: node smoke_http.mjs <url> <udfPath> [argsJson]");
  process.exit(2);
}

const client = new ConvexHttpClient(url, { logger: false });
try {
  const value = await client.query(udfPath, jsonToConvex(JSON.parse(argsJson)));
  console.log(JSON.stringify({ ok: true, value: convexToJson(value) }));
} catch (error) {
  const data = error.data === undefined ? null : convexToJson(error.data);
  console.log(JSON.stringify({ ok: false, error: String(error.message), data }));
}
