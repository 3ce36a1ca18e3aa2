// Functions declared by their signatures, through the official client: JavaScript
// numbers fill `int` parameters, omitted arguments take the handler's defaults, and
// AppError data arrives as the value itself.
// Usage: node sync_signatures.mjs <url>
import { ConvexHttpClient } from "convex/browser";
import { describeError, failOnError, finish } from "./sync_lib.mjs";

const [url] = process.argv.slice(2);

async function caught(promise) {
  try {
    return { value: await promise };
  } catch (error) {
    const described = describeError(error);
    if (described.data && typeof described.data === "object") {
      const { limit, raw } = described.data;
      described.data = { limit: `${typeof limit}:${limit}`, raw: raw instanceof ArrayBuffer
        ? Array.from(new Uint8Array(raw)) : String(raw) };
    }
    return { error: described };
  }
}

failOnError(async () => {
  const http = new ConvexHttpClient(url, { logger: false });
  finish({
    defaults: await caught(http.query("typed:window", {})),
    given: await caught(http.query("typed:window", { limit: 5, tag: null, order: "desc" })),
    fraction: await caught(http.query("typed:window", { limit: 5.5 })),
    literal: await caught(http.query("typed:window", { order: "up" })),
    refused: await caught(http.mutation("typed:refuse", { limit: 3 })),
  });
});
