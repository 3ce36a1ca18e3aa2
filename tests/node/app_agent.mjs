// The example app's agent through the official client: a user message starts a run, a
// subscriber watches the answer grow, the tools' records are read back.
// Usage: node app_agent.mjs <url> <mode> <task args JSON> <model> [n]
//   mode: answer (wait for the run's end), stop (stop it mid-stream), concurrent (n tasks at
//   once), begin / resume (around a server killed mid-stream; resume's [n] is begin's output)
import { TASK, api, httpClient, signUp, socketClient } from "./app_lib.mjs";
import { failOnError, finish, sleep, waitFor } from "./sync_lib.mjs";

const [url, mode, taskJson, model, count] = process.argv.slice(2);
const taskArgs = { ...TASK, ...JSON.parse(taskJson) };
const ENDED = ["COMPLETED", "FAILED", "STOPPED"];

// Every version of the task's assistant message a subscriber saw, and the task's statuses.
function watch(viewer, taskId) {
  const seen = { versions: [], statuses: [] };
  viewer.onUpdate(api.messages.byTask, { taskId }, (messages) => {
    const answer = messages.find((m) => m.role === "ASSISTANT");
    if (answer) {
      seen.versions.push({ content: answer.content, isStreaming: answer.metadata.isStreaming,
                           parts: answer.metadata.parts.map((p) => p.type), at: Date.now() });
    }
  });
  viewer.onUpdate(api.tasks.get, { taskId }, (task) => task && seen.statuses.push(task.status));
  return seen;
}

const sealed = (seen) => seen.versions.length > 0 && seen.versions.at(-1).isStreaming === false;

async function records(client, taskId) {
  return {
    task: await client.query(api.tasks.get, { taskId }),
    messages: await client.query(api.messages.byTask, { taskId }),
    todos: await client.query(api.todos.byTask, { taskId }),
    toolCalls: await client.query(api.agent.toolCalls, { taskId }),
    fileChanges: await client.query(api.agent.fileChanges, { taskId }),
  };
}

async function single(stopMidStream) {
  const user = await signUp(url, "agent");
  const viewer = await socketClient(url, user);
  const client = httpClient(url, user);
  const { taskId } = await client.mutation(api.tasks.create, taskArgs);
  const seen = watch(viewer, taskId);
  await waitFor(() => seen.statuses.length > 0, "the task");
  await client.mutation(api.messages.append,
    { taskId, content: "Plan the work, then read the README", role: "USER", llmModel: model });
  let stoppedAt = null;
  if (stopMidStream) {
    await waitFor(() => seen.versions.some((v) => v.content.length > 0), "the first text", 20000);
    stoppedAt = Date.now();
    await client.mutation(api.tasks.stop, { taskId });
  }
  await waitFor(() => sealed(seen) && ENDED.includes(seen.statuses.at(-1)),
    "the sealed answer and the run's end", 30000);
  const result = { taskId, ...seen, stoppedAt, ...(await records(client, taskId)) };
  await viewer.close();
  finish(result);
}

async function concurrent(n) {
  // A user may have 5 active tasks: n tasks need n / 5 users.
  const users = await Promise.all(Array.from({ length: Math.ceil(n / 5) },
    (_, i) => signUp(url, `crowd${i}`)));
  const started = Date.now();
  const created = await Promise.all(Array.from({ length: n }, (_, i) =>
    httpClient(url, users[Math.floor(i / 5)], { skipQueue: true }).mutation(api.tasks.create,
      { ...taskArgs, title: `Task ${i}`, mainModel: model, message: `Question ${i}` })
      .then(({ taskId }) => ({ taskId, user: users[Math.floor(i / 5)] }))));
  const results = [];
  for (const { taskId, user } of created) {
    const client = httpClient(url, user);
    for (;;) {
      const task = await client.query(api.tasks.get, { taskId });
      if (ENDED.includes(task.status)) break;
      if (Date.now() - started > 60000) throw new Error(`task ${taskId} is still ${task.status}`);
      await sleep(50);
    }
    results.push(await records(client, taskId));
  }
  finish({ results, elapsedMs: Date.now() - started });
}

// Crash test, part 1: start a run and report once its answer is streaming.
async function begin() {
  const user = await signUp(url, "crash");
  const client = httpClient(url, user);
  const { taskId } = await client.mutation(api.tasks.create, taskArgs);
  await client.mutation(api.messages.append,
    { taskId, content: "Explain", role: "USER", llmModel: model });
  for (;;) {
    const messages = await client.query(api.messages.byTask, { taskId });
    if (messages.some((m) => m.role === "ASSISTANT" && m.content.length > 0)) break;
    await sleep(20);
  }
  finish({ taskId, user });
}

// Crash test, part 2 (on the restarted server): wait for the interrupted run to be sealed,
// then send another message and wait for its answer.
async function resume({ taskId, user }) {
  const client = httpClient(url, user);
  let interrupted;
  for (const started = Date.now(); ; await sleep(50)) {
    interrupted = await records(client, taskId);
    if (interrupted.task.status !== "RUNNING") break;
    if (Date.now() - started > 30000) throw new Error("the interrupted run was never sealed");
  }
  await client.mutation(api.messages.append,
    { taskId, content: "Try again", role: "USER", llmModel: model });
  let resumed;
  for (const started = Date.now(); ; await sleep(50)) {
    resumed = await records(client, taskId);
    if (ENDED.includes(resumed.task.status)) break;
    if (Date.now() - started > 30000) throw new Error("the resumed run never ended");
  }
  finish({ interrupted, resumed });
}

failOnError(async () => {
  if (mode === "concurrent") await concurrent(Number(count));
  else if (mode === "begin") await begin();
  else if (mode === "resume") await resume(JSON.parse(count));
  else await single(mode === "stop");
});
