// A subscriber watches an assistant message stream in while an agent client writes it batch by batch.
// Usage: node app_streaming.mjs <url> <batches> <delayMs>
import { TASK, api, httpClient, signUp, socketClient } from "./app_lib.mjs";
import { failOnError, finish, sleep, waitFor } from "./sync_lib.mjs";

const [url, batches, delayMs] = process.argv.slice(2);

failOnError(async () => {
  const user = await signUp(url, "stream");
  const viewer = await socketClient(url, user); // the browser tab
  const agent = httpClient(url, user); // the workspace sidecar producing the answer
  const { taskId } = await agent.mutation(api.tasks.create, { ...TASK, message: "Explain the build" });

  const versions = [];
  const statuses = [];
  viewer.onUpdate(api.messages.byTask, { taskId }, (messages) => {
    const answer = messages.find((m) => m.role === "ASSISTANT");
    if (answer) {
      versions.push({ sequence: answer.sequence, content: answer.content,
                      isStreaming: answer.metadata.isStreaming, parts: answer.metadata.parts });
    }
  });
  viewer.onUpdate(api.tasks.get, { taskId }, (task) => statuses.push(task.status));
  await waitFor(() => statuses.length > 0, "the task");

  const { messageId, sequence } = await agent.mutation(api.messages.startAssistant,
    { taskId, llmModel: "model-a" });
  const words = [];
  for (let i = 0; i < Number(batches); i++) {
    const text = `${i === 0 ? "" : " "}word${i}`;
    words.push(text);
    const parts = [{ type: "text", text }];
    if (i === Math.floor(Number(batches) / 2)) {
      parts.push({ type: "tool-call", toolCallId: "c1", toolName: "read_file", args: { path: "Makefile" } },
                 { type: "tool-result", toolCallId: "c1", toolName: "read_file", result: { lines: 40 } });
    }
    await agent.mutation(api.messages.appendParts, { messageId, parts });
    await sleep(Number(delayMs));
  }
  const usage = { promptTokens: 12, completionTokens: Number(batches), totalTokens: 12 + Number(batches) };
  await agent.mutation(api.messages.finish, { messageId, finishReason: "stop", usage });
  await waitFor(() => versions.length > 0 && versions[versions.length - 1].isStreaming === false
    && statuses[statuses.length - 1] === "COMPLETED", "the finished answer and the COMPLETED task");

  const [final] = (await agent.query(api.messages.byTask, { taskId })).filter((m) => m.sequence === sequence);
  const task = await agent.query(api.tasks.get, { taskId });
  await viewer.close();
  finish({ sequence, words, versions, statuses, final, task, finishedAt: Date.now() });
});
