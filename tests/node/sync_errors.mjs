// Application errors arrive with their data; a failing query fails alone.
// Usage: node sync_errors.mjs <url> <counter>
import { ConvexClient, ConvexHttpClient } from "convex/browser";
import { describeError, failOnError, finish, waitFor } from "./sync_lib.mjs";

const [url, counter] = process.argv.slice(2);

async function caught(promise) {
  try {
    return { value: await promise };
  } catch (error) {
    return { error: describeError(error) };
  }
}

failOnError(async () => {
  const client = new ConvexClient(url, { logger: false });
  const values = [];
  const guarded = [];
  const guardErrors = [];
  client.onUpdate("counter:get", { name: counter }, (value) => values.push(value));
  client.onUpdate("errors:fail_above", { name: counter, above: 1 },
    (value) => guarded.push(value), (error) => guardErrors.push(describeError(error)));
  await waitFor(() => values.length > 0 && guarded.length > 0, "the first results");

  const mutation = await caught(client.mutation("errors:fail_mutation", { code: "M1" }));
  const action = await caught(client.action("errors:fail_action", { code: "A1" }));
  const echo = await caught(client.action("errors:echo", { text: "hi" }));
  const internal = await caught(client.mutation("counter:reset", { name: counter }));

  await client.mutation("counter:incr", { name: counter, by: 2 });
  await waitFor(() => guardErrors.length === 1, "the query's error");
  await client.mutation("counter:incr", { name: counter });
  await waitFor(() => values[values.length - 1] === 3, "the other query to keep updating");

  const http = new ConvexHttpClient(url, { logger: false });
  const httpMutation = await caught(http.mutation("errors:fail_mutation", { code: "H1" }));
  const httpQuery = await caught(http.query("errors:fail_above", { name: counter, above: 0 }));
  const httpAction = await caught(http.action("errors:fail_action", { code: "H2" }));
  const httpCrash = await caught(http.query("errors:crash", { name: counter }));

  await client.close();
  finish({ mutation, action, echo, internal, values, guarded, guardErrors,
           httpMutation, httpQuery, httpAction, httpCrash });
});
