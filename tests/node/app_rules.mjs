// Refused status changes, the active-task limit and unique emails, also when calls race.
// Usage: node app_rules.mjs <url> <racers>
import { ConvexHttpClient } from "convex/browser";
import { PASSWORD, TASK, api, caught, httpClient, signUp } from "./app_lib.mjs";
import { failOnError, finish } from "./sync_lib.mjs";

const [url, racers] = process.argv.slice(2);

failOnError(async () => {
  const owner = await signUp(url, "rules");
  const http = httpClient(url, owner);
  const { taskId } = await http.mutation(api.tasks.create, { ...TASK, message: "first" });
  const transitions = {
    initializingToCompleted: await caught(http.mutation(api.tasks.setStatus,
      { taskId, status: "COMPLETED" })),
    failedWithoutMessage: await caught(http.mutation(api.tasks.setStatus,
      { taskId, status: "FAILED" })),
  };
  await http.mutation(api.tasks.archive, { taskId });
  transitions.archivedToRunning = await caught(http.mutation(api.tasks.setStatus,
    { taskId, status: "RUNNING" }));
  transitions.userMessageOnArchived = await caught(http.mutation(api.messages.append,
    { taskId, role: "USER", content: "are you there?" }));
  transitions.answerOnArchived = await caught(http.mutation(api.messages.startAssistant,
    { taskId, llmModel: "model-a" }));
  const archived = await http.query(api.tasks.get, { taskId });
  const archivedMessages = await http.query(api.messages.byTask, { taskId });

  // A fresh user fires `racers` creates at once from separate HTTP clients: only 5 fit.
  const racer = await signUp(url, "limit");
  const race = await Promise.all(Array.from({ length: Number(racers) }, (_, i) =>
    caught(httpClient(url, racer, { skipQueue: true }).mutation(api.tasks.create,
      { ...TASK, title: `task ${i}` }))));
  const racerHttp = httpClient(url, racer);
  const created = race.filter((r) => r.value).map((r) => r.value.taskId);
  await racerHttp.mutation(api.tasks.stop, { taskId: created[0] });
  const afterStop = await caught(racerHttp.mutation(api.tasks.create, { ...TASK, title: "after stop" }));
  await racerHttp.mutation(api.tasks.archive, { taskId: created[0] });
  const afterArchive = await caught(racerHttp.mutation(api.tasks.create, { ...TASK, title: "after archive" }));
  const racerTasks = await racerHttp.query(api.tasks.listByUser, {});

  // `racers` sign-ups with one email at once: one account, the others EmailTaken.
  const email = `twin+${Date.now()}@example.com`;
  const signUps = await Promise.all(Array.from({ length: Number(racers) }, () =>
    caught(new ConvexHttpClient(url, { logger: false }).action(api.auth.signUp,
      { email, password: PASSWORD, name: "Twin" }))));
  finish({ transitions, archived, archivedMessages, race, afterStop, afterArchive,
           racerTasks: racerTasks.map(({ title, status }) => ({ title, status })), signUps });
});
