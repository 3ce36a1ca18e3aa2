// The official client subscribed to a text search and a vector search: pushed a new result
// when a commit changes them, nothing when a commit on another board cannot.
// Usage: node search_live.mjs <url>
import { ConvexClient } from "convex/browser";
import { failOnError, finish, sleep, waitFor } from "./sync_lib.mjs";

const [url] = process.argv.slice(2);

failOnError(async () => {
  const client = new ConvexClient(url, { logger: false });
  const texts = [];
  const vectors = [];
  client.onUpdate("notes:search", { text: "hello wor", board: "a" }, (value) => texts.push(value));
  client.onUpdate("notes:nearest", { vector: [1, 0, 0], boards: ["a"] },
    (value) => vectors.push(value.map((hit) => hit._id)));
  await waitFor(() => texts.length > 0 && vectors.length > 0, "the first results");
  await client.mutation("notes:add_vector", { body: "goodbye", board: "b", embedding: [1, 0, 0] });
  await sleep(300);
  const afterOtherBoard = { texts: texts.length, vectors: vectors.length };
  const id = await client.mutation("notes:add_vector",
    { body: "hello world", board: "a", embedding: [1, 0, 0] });
  await waitFor(() => texts.length > 1 && vectors.length > 1, "the pushed results");
  await client.close();
  finish({ texts, vectors, afterOtherBoard, id });
});
