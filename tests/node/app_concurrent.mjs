// Concurrent messages:append to one task from one socket client and several HTTP clients at once.
// Usage: node app_concurrent.mjs <url> <count>
import { TASK, api, httpClient, signUp, socketClient } from "./app_lib.mjs";
import { failOnError, finish, waitFor } from "./sync_lib.mjs";

const [url, count] = process.argv.slice(2);

failOnError(async () => {
  const user = await signUp(url, "burst");
  const socket = await socketClient(url, user);
  // skipQueue: each HTTP client sends its mutations without waiting for the previous answer.
  const https = [1, 2, 3, 4].map(() => httpClient(url, user, { skipQueue: true }));
  const clients = [socket, ...https];
  const { taskId } = await https[0].mutation(api.tasks.create, { ...TASK, message: "start" });

  let live = [];
  socket.onUpdate(api.messages.byTask, { taskId }, (messages) => { live = messages; });
  const results = await Promise.all(Array.from({ length: Number(count) }, (_, i) =>
    clients[i % clients.length].mutation(api.messages.append,
      { taskId, role: i % 2 ? "ASSISTANT" : "USER", content: `burst ${i}` })));
  await waitFor(() => live.length === Number(count) + 1, "the subscription to show every message");
  const stored = await https[0].query(api.messages.byTask, { taskId });
  const summary = (messages) => messages.map(({ _id, sequence, content }) => ({ _id, sequence, content }));
  await socket.close();
  finish({ results, stored: summary(stored), live: summary(live) });
});
