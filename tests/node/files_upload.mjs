// The file upload flow of Convex's docs, unchanged, with the official client:
// generateUploadUrl mutation → fetch(url, {method: "POST", body}) → the storageId
// saved by a mutation → getUrl in a (live) query → fetch the URL.
// Usage: node files_upload.mjs <url>
import { ConvexClient } from "convex/browser";
import { failOnError, finish, waitFor } from "./sync_lib.mjs";

const [url] = process.argv.slice(2);

failOnError(async () => {
  const client = new ConvexClient(url, { logger: false });
  const updates = [];
  client.onUpdate("messages:list", {}, (messages) => updates.push(messages));
  await waitFor(() => updates.length > 0, "the first list");

  const bytes = new Uint8Array(70000).map((_, i) => (i * 7) % 256);
  const selectedImage = new Blob([bytes], { type: "image/png" });
  // Step 1: get a short-lived upload URL
  const postUrl = await client.mutation("messages:generateUploadUrl", {});
  // Step 2: POST the file to the URL
  const result = await fetch(postUrl, {
    method: "POST",
    headers: { "Content-Type": selectedImage.type },
    body: selectedImage,
  });
  const { storageId } = await result.json();
  // Step 3: save the newly allocated storage id to the database
  await client.mutation("messages:sendImage", { storageId, author: "ada" });

  await waitFor(() => updates[updates.length - 1].length === 1, "the image message");
  const message = updates[updates.length - 1][0];
  const served = await fetch(message.url);
  const body = new Uint8Array(await served.arrayBuffer());
  const same = body.length === bytes.length && body.every((b, i) => b === bytes[i]);
  const ranged = await fetch(message.url, { headers: { Range: "bytes=10-19" } });
  const rangedBody = Array.from(new Uint8Array(await ranged.arrayBuffer()));

  // Deleting the message deletes the file: the live query's URL goes away.
  const reused = await fetch(postUrl, { method: "POST", body: "again" });
  const messageId = message._id;
  await client.mutation("messages:remove", { id: messageId });
  await waitFor(() => updates[updates.length - 1].length === 0, "the message removed");
  const gone = await fetch(message.url);
  await client.close();
  finish({
    postUrl,
    uploadStatus: result.status,
    storageId,
    url: message.url,
    status: served.status,
    contentType: served.headers.get("content-type"),
    etag: served.headers.get("etag"),
    same,
    rangedStatus: ranged.status,
    rangedBody,
    expectedRange: Array.from(bytes.slice(10, 20)),
    reusedStatus: reused.status,
    reusedCode: (await reused.json()).code,
    goneStatus: gone.status,
  });
});
