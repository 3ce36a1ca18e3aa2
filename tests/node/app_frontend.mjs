// The original frontend's three calls, unchanged, through the official ConvexHttpClient once signed in.
// Usage: node app_frontend.mjs <url>
import { ConvexHttpClient } from "convex/browser";
import { PASSWORD, TASK, api, caught, signUp } from "./app_lib.mjs";
import { failOnError, finish } from "./sync_lib.mjs";

const [url] = process.argv.slice(2);

failOnError(async () => {
  const user = await signUp(url, "frontend");
  const http = new ConvexHttpClient(url, { logger: false });
  http.setAuth(user.token);
  const me = await http.query(api.auth.currentUser, {});
  // The next visit signs in instead; a wrong password says nothing about which part was wrong.
  const anonymous = new ConvexHttpClient(url, { logger: false });
  const signIn = await anonymous.action(api.auth.signIn,
    { email: user.email.toUpperCase(), password: PASSWORD });
  const wrongPassword = await caught(anonymous.action(api.auth.signIn,
    { email: user.email, password: `${PASSWORD}!` }));

  // The scaffold's frontend passed its own userId; the server only accepts the caller's.
  const created = await http.mutation(api.tasks.create,
    { ...TASK, userId: user.userId, mainModel: "model-a", message: "Why does the test flake?" });
  const { taskId } = created;
  const appended = [];
  for (const [role, content, llmModel] of [
    ["ASSISTANT", "It depends on the wall clock.", "model-b"],
    ["USER", "Then freeze the clock.", undefined],
    ["SYSTEM", "Workspace ready.", undefined],
  ]) {
    appended.push(await http.mutation(api.messages.append, { taskId, role, content, llmModel }));
  }
  const messages = await http.query(api.messages.byTask, { taskId });
  const task = await http.query(api.tasks.get, { taskId });
  finish({ user, me, signIn, wrongPassword, created, appended, messages, task });
});
