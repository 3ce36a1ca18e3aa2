// An app function that uses a component, through the official client; the component's
// own function through POST /api/function with a componentPath (admin only).
// Usage: node components.mjs <url> (the admin key in $REACTOR_ADMIN_KEY)
import { ConvexClient, ConvexHttpClient } from "convex/browser";
import { failOnError, finish, waitFor } from "./sync_lib.mjs";

const [url] = process.argv.slice(2);

async function caught(promise) {
  try {
    return { value: await promise };
  } catch (error) {
    return { error: String(error.message) };
  }
}

failOnError(async () => {
  const client = new ConvexClient(url, { logger: false });
  const seen = [];
  const unsubscribe = client.onUpdate("notes:overview", { name: "notes" },
    (value) => seen.push(value));
  const result = {
    written: await caught(client.mutation("notes:write_and_count", { text: "hello" })),
    failed: await caught(client.mutation("notes:write_and_fail", { text: "again" })),
    counted: await caught(client.action("notes:count_twice", { name: "n" })),
  };
  await waitFor(() => seen.some((v) => v.counter === 1 && v.notes === 2), "the live overview");
  result.live = seen.at(-1);
  unsubscribe();
  await client.close();
  const http = new ConvexHttpClient(url, { logger: false });
  result.publicCall = await caught(http.function("lib:get", "counter", { name: "n" }));
  const admin = new ConvexHttpClient(url, { logger: false });
  admin.setAdminAuth(process.env.REACTOR_ADMIN_KEY);
  result.adminQuery = await caught(admin.function("lib:get", "counter", { name: "n" }));
  result.adminMutation = await caught(admin.function("lib:add", "second", { name: "n", by: 4 }));
  result.adminSecond = await caught(admin.function("lib:get", "second", { name: "n" }));
  result.unknown = await caught(admin.function("lib:get", "nope", { name: "n" }));
  finish(result);
});
