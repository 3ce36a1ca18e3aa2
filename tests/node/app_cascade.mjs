// tasks:remove and auth:deleteAccount delete what hangs off them; integrity:report (admin) finds no orphans.
// Usage: node app_cascade.mjs <url> <adminKey>
import { ConvexHttpClient } from "convex/browser";
import { TASK, api, caught, httpClient, signUp, socketClient } from "./app_lib.mjs";
import { describeError, failOnError, finish, waitFor } from "./sync_lib.mjs";

const [url, adminKey] = process.argv.slice(2);

// A task with a message of every kind, a pull-request snapshot, todos, a memory and a session.
async function filledTask(http, title) {
  const { taskId } = await http.mutation(api.tasks.create, { ...TASK, title, message: "go" });
  const { messageId } = await http.mutation(api.messages.startAssistant, { taskId, llmModel: "m" });
  await http.mutation(api.messages.appendParts, { messageId, parts: [{ type: "text", text: "Done." }] });
  await http.mutation(api.messages.finish, { messageId, finishReason: "stop" }); // schedules cleanup
  await http.mutation(api.pullRequests.record, { messageId, title: "Fix", description: "d",
    filesChanged: 1, linesAdded: 3, linesRemoved: 1, commitSha: "abc123" });
  await http.mutation(api.todos.write, { taskId, merge: false, todos: [
    { id: "t1", content: "reproduce", status: "completed" },
    { id: "t2", content: "fix", status: "in_progress" }] });
  await http.mutation(api.memories.add, { taskId, content: "Tests use make", category: "TESTING" });
  await http.mutation(api.taskSessions.start, { taskId, podName: "pod-1" });
  return taskId;
}

failOnError(async () => {
  const owner = await signUp(url, "cascade");
  const http = httpClient(url, owner);
  const admin = new ConvexHttpClient(url, { logger: false });
  admin.setAdminAuth(adminKey);
  const kept = await filledTask(http, "kept");
  const taskId = await filledTask(http, "removed");
  const { cleanupJobId } = await http.query(api.tasks.get, { taskId });
  const before = await admin.query(api.integrity.report, {});
  const jobBefore = await admin.query(api.integrity.job, { jobId: cleanupJobId });

  // An open chat window on the task while it is deleted.
  const viewer = await socketClient(url, owner);
  const chatErrors = [];
  const taskValues = [];
  viewer.onUpdate(api.messages.byTask, { taskId }, () => {},
    (error) => chatErrors.push(describeError(error)));
  viewer.onUpdate(api.tasks.get, { taskId }, (task) => taskValues.push(task));
  await waitFor(() => taskValues.length > 0, "the task");
  await http.mutation(api.tasks.remove, { taskId });
  await waitFor(() => chatErrors.length > 0 && taskValues[taskValues.length - 1] === null,
    "the open chat to learn the task is gone");

  const after = await admin.query(api.integrity.report, {});
  const jobAfter = await admin.query(api.integrity.job, { jobId: cleanupJobId });
  const again = await caught(http.mutation(api.tasks.remove, { taskId }));
  const keptMessages = await http.query(api.messages.byTask, { taskId: kept });
  const keptTodos = await http.query(api.todos.byTask, { taskId: kept });
  await viewer.close();

  // Deleting the account takes the kept task (and its rows) and the password account along.
  await http.mutation(api.auth.deleteAccount, {});
  const afterAccount = await admin.query(api.integrity.report, {});
  const signedOut = await http.query(api.auth.currentUser, {});
  finish({ owner: owner.userId, kept, taskId, before, after, jobBefore, jobAfter, chatErrors,
           again, keptMessages: keptMessages.length, keptTodos: keptTodos.length, afterAccount,
           signedOut });
});
