// Another user's task: every query and mutation on it is refused with the app's error code.
// Usage: node app_access.mjs <url>
import { TASK, api, caught, firstUpdate, httpClient, signUp, socketClient } from "./app_lib.mjs";
import { failOnError, finish } from "./sync_lib.mjs";

const [url] = process.argv.slice(2);

failOnError(async () => {
  const alice = await signUp(url, "alice");
  const bob = await signUp(url, "bob");
  const aliceHttp = httpClient(url, alice);
  const { taskId } = await aliceHttp.mutation(api.tasks.create, { ...TASK, message: "mine" });
  const { messageId } = await aliceHttp.mutation(api.messages.startAssistant,
    { taskId, llmModel: "model-a" });

  const bobHttp = httpClient(url, bob);
  const bobSocket = await socketClient(url, bob);
  const foreign = {
    getHttp: await caught(bobHttp.query(api.tasks.get, { taskId })),
    byTaskHttp: await caught(bobHttp.query(api.messages.byTask, { taskId })),
    byTaskLive: await firstUpdate(bobSocket, api.messages.byTask, { taskId }),
    todosLive: await firstUpdate(bobSocket, api.todos.byTask, { taskId }),
    appendHttp: await caught(bobHttp.mutation(api.messages.append,
      { taskId, role: "USER", content: "not yours" })),
    appendSocket: await caught(bobSocket.mutation(api.messages.append,
      { taskId, role: "USER", content: "not yours either" })),
    appendParts: await caught(bobSocket.mutation(api.messages.appendParts,
      { messageId, parts: [{ type: "text", text: "injected" }] })),
    stop: await caught(bobSocket.mutation(api.tasks.stop, { taskId })),
    remove: await caught(bobHttp.mutation(api.tasks.remove, { taskId })),
    createForAlice: await caught(bobHttp.mutation(api.tasks.create, { ...TASK, userId: alice.userId })),
  };
  const signedOut = {
    create: await caught(httpClient(url, null).mutation(api.tasks.create, TASK)),
    byTask: await caught(httpClient(url, null).query(api.messages.byTask, { taskId })),
  };
  // Nothing Bob tried left a trace on Alice's task.
  const messages = await aliceHttp.query(api.messages.byTask, { taskId });
  const task = await aliceHttp.query(api.tasks.get, { taskId });
  const bobTasks = await bobHttp.query(api.tasks.listByUser, {});
  await bobSocket.close();
  finish({ alice: alice.userId, taskId, messageId, foreign, signedOut, messages, task, bobTasks });
});
