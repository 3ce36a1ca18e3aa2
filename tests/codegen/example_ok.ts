// Typed calls into the example app through its generated api: must compile.
import { ReactorClient } from "reactor-client";
import { api, internal, type Id } from "./example/_generated/api.js";

export async function main(client: ReactorClient): Promise<void> {
  const { status } = await client.action(api.auth.signUp, {
    email: "ada@example.com",
    password: "correct horse",
    name: "Ada",
  });
  const sent: "codeSent" = status;
  const { token, userId } = await client.action(api.auth.confirmSignUp, {
    email: "ada@example.com",
    code: sent === "codeSent" ? "12345678" : "",
  });
  const owner: Id<"users"> = userId;
  await client.setAuth(async () => token);
  const { taskId } = await client.mutation(api.tasks.create, {
    title: "Explain the build",
    repoFullName: "acme/widgets",
    repoUrl: "https://github.com/acme/widgets",
    baseBranch: "main",
    message: "How is this built?",
  });
  const tasks = await client.query(api.tasks.listByUser, { status: "RUNNING" });
  const { sequence } = await client.mutation(api.messages.append, { taskId, content: "hi", role: "USER" });
  await client.mutation(api.messages.appendParts, {
    messageId: (await client.mutation(api.messages.startAssistant, { taskId, llmModel: "m" })).messageId,
    parts: [{ type: "text", text: "hello" }, { type: "tool-call", toolCallId: "1", toolName: "ls", args: {} }],
  });
  client.onUpdate(api.messages.byTask, { taskId }, (messages) => console.log(messages.length));
  const n: number = sequence;
  console.log(owner, tasks, n, internal.tasks.cleanup);
}
