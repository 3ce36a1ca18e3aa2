// The example app's live demo: sign in, a task list and a task's chat, each a live query.
// Every window showing the same user sees every change as soon as it commits.
import { ReactorClient, anyApi as api, uploadFile } from "reactor-client";

const SESSION_KEY = "reactor-demo-session";
const $ = (selector) => document.querySelector(selector);

const client = new ReactorClient(location.origin, { onConnectionChange: showConnection });
const state = { session: null, taskId: null, tasks: [], messages: [], stops: [], stopChat: null };

/** A DOM element: `el("li", { class: "x", text: "hi", dataset: {...}, onclick }, ...children)`. */
function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "text") node.textContent = value;
    else if (key === "class") node.className = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  node.append(...children);
  return node;
}

function showError(selector, error) {
  const box = $(selector);
  box.hidden = error == null;
  // A function's error carries the server's message without the "[kind path]" prefix.
  box.textContent = error == null ? "" : (error.errorMessage ?? error.message ?? String(error));
}

function showConnection(connection) {
  const badge = $("#connection");
  const online = connection.isWebSocketConnected;
  badge.dataset.state = online ? "online" : connection.hasEverConnected ? "offline" : "connecting";
  badge.textContent = online ? "live" : connection.hasEverConnected ? "reconnecting…" : "connecting…";
}

/** Runs `work` with the form's buttons disabled; errors go to `errorSelector`. */
async function submitting(form, errorSelector, work) {
  const buttons = form.querySelectorAll("button");
  buttons.forEach((button) => (button.disabled = true));
  showError(errorSelector, null);
  try {
    await work();
  } catch (error) {
    showError(errorSelector, error);
  } finally {
    buttons.forEach((button) => (button.disabled = false));
  }
}

// ---- signing in ----

$("#auth-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const form = event.currentTarget;
  const data = Object.fromEntries(new FormData(form));
  const signUp = event.submitter?.value === "signUp";
  submitting(form, "#auth-error", async () => {
    const credentials = { email: data.email, password: data.password };
    if (!signUp) {
      startSession(await client.action(api.auth.signIn, credentials));
      return;
    }
    // The same answer whether or not the email is taken: the code (or a notice) goes by mail.
    await client.action(api.auth.signUp, { ...credentials, name: data.name || data.email.split("@")[0] });
    $("#confirm-email").textContent = data.email;
    $("#confirm-form").hidden = false;
  });
});

$("#confirm-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const form = event.currentTarget;
  const email = $("#confirm-email").textContent;
  const { code } = Object.fromEntries(new FormData(form));
  submitting(form, "#confirm-error", async () => {
    startSession(await client.action(api.auth.confirmSignUp, { email, code }));
    form.hidden = true;
    form.reset();
  });
});

// Signing out ends the session on the server too: the token stops working everywhere.
$("#sign-out").addEventListener("click", async () => {
  try {
    await client.mutation(api.auth.signOut, {});
  } finally {
    endSession();
  }
});

function startSession(session) {
  state.session = session;
  sessionStorage.setItem(SESSION_KEY, JSON.stringify(session));
  client.setAuth(
    async () => session.token,
    (accepted) => accepted || endSession("This session is no longer valid: sign in again."),
  );
  $("#auth").hidden = true;
  $("#app").hidden = false;
  $("#sign-out").hidden = false;
  state.stops = [
    client.onUpdate(api.auth.currentUser, {}, (user) => {
      $("#who").textContent = user ? `${user.name} · ${user.email}` : "";
    }),
    client.onUpdate(api.tasks.listByUser, {}, renderTasks, (error) => showError("#tasks-error", error)),
  ];
  selectTask(new URLSearchParams(location.hash.slice(1)).get("task"));
}

function endSession(reason) {
  for (const stop of state.stops) stop();
  state.stops = [];
  selectTask(null);
  client.clearAuth();
  state.session = null;
  sessionStorage.removeItem(SESSION_KEY);
  $("#app").hidden = true;
  $("#auth").hidden = false;
  $("#sign-out").hidden = true;
  $("#who").textContent = "";
  showError("#auth-error", reason ? new Error(reason) : null);
}

// ---- tasks ----

function renderTasks(tasks) {
  state.tasks = tasks;
  showError("#tasks-error", null);
  $("#task-count").textContent = tasks.length ? String(tasks.length) : "";
  const items = tasks.map((task) =>
    el(
      "li",
      { class: task._id === state.taskId ? "selected" : "", dataset: { id: task._id } },
      el(
        "button",
        { type: "button", onclick: () => selectTask(task._id) },
        el("span", { class: "title", text: task.title }),
        el("span", { class: `status ${task.status.toLowerCase()}`, text: task.status.toLowerCase() }),
        el("span", { class: "repo", text: task.repoFullName }),
      ),
    ),
  );
  if (items.length === 0) items.push(el("li", { class: "empty", text: "No tasks yet: create one above." }));
  $("#tasks").replaceChildren(...items);
  renderChatHeader();
}

$("#task-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const form = event.currentTarget;
  const data = Object.fromEntries(new FormData(form));
  submitting(form, "#tasks-error", async () => {
    const { taskId } = await client.mutation(api.tasks.create, {
      title: data.title,
      repoFullName: data.repo,
      repoUrl: `https://github.com/${data.repo}`,
      baseBranch: "main",
      ...(data.message ? { message: data.message } : {}),
    });
    form.elements.title.value = "";
    form.elements.message.value = "";
    selectTask(taskId);
  });
});

// ---- the selected task's chat ----

function selectTask(taskId) {
  state.stopChat?.();
  state.stopChat = null;
  state.taskId = taskId || null;
  state.messages = [];
  history.replaceState(null, "", state.taskId ? `#task=${state.taskId}` : location.pathname);
  for (const item of document.querySelectorAll("#tasks li[data-id]")) {
    item.classList.toggle("selected", item.dataset.id === state.taskId);
  }
  showError("#chat-error", null);
  $("#message-form").hidden = state.taskId === null;
  $("#attachments-box").hidden = state.taskId === null;
  $("#attachments").replaceChildren();
  $("#messages").replaceChildren(
    el("li", { class: "placeholder", text: state.taskId ? "Loading…" : "Pick a task, or create one." }),
  );
  renderChatHeader();
  if (state.taskId === null) return;
  const onError = (error) => showError("#chat-error", error);
  const stops = [
    client.onUpdate(api.messages.byTask, { taskId: state.taskId }, renderMessages, onError),
    client.onUpdate(api.attachments.byTask, { taskId: state.taskId }, renderAttachments, onError),
  ];
  state.stopChat = () => stops.forEach((stop) => stop());
}

// ---- attachments: uploaded with an upload URL, listed live with their file URLs ----

function formatSize(bytes) {
  if (bytes == null) return "";
  if (bytes < 1024) return `${bytes} B`;
  return bytes < 1024 * 1024 ? `${(bytes / 1024).toFixed(1)} KiB` : `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

function renderAttachments(attachments) {
  const items = attachments.map((a) =>
    el(
      "li",
      { class: "attachment", dataset: { id: a._id } },
      a.url ? el("a", { href: a.url, download: a.name, text: a.name }) : el("span", { text: a.name }),
      el("span", { class: "size", text: formatSize(a.size) }),
      el("button", {
        type: "button",
        class: "quiet",
        title: "Remove this file",
        text: "✕",
        onclick: () =>
          submitting($("#attach-form"), "#chat-error", () =>
            client.mutation(api.attachments.remove, { attachmentId: a._id }),
          ),
      }),
    ),
  );
  $("#attachments").replaceChildren(...items);
}

$("#attach-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const form = event.currentTarget;
  const file = form.elements.file.files[0];
  if (!file) return;
  const taskId = state.taskId;
  submitting(form, "#chat-error", async () => {
    // The upload flow: a one-use URL from a mutation, a POST of the file, then the id saved.
    const storageId = await uploadFile(client, api.attachments.generateUploadUrl, file);
    await client.mutation(api.attachments.add, { taskId, storageId, name: file.name });
    form.reset();
  });
});

function renderChatHeader() {
  const task = state.tasks.find((t) => t._id === state.taskId);
  $("#chat-title").textContent = task ? task.title : state.taskId ? "…" : "Pick a task";
  const status = $("#chat-status");
  status.hidden = !task;
  status.className = `status ${task ? task.status.toLowerCase() : ""}`;
  status.textContent = task ? task.status.toLowerCase() : "";
  $("#archive").hidden = !task || task.status === "ARCHIVED";
}

function renderMessages(messages) {
  state.messages = messages;
  const list = $("#messages");
  const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
  const items = messages.map((m) => {
    const streaming = m.metadata?.isStreaming === true;
    const time = new Date(m.createdAt).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
    return el(
      "li",
      { class: `message ${m.role.toLowerCase()}${streaming ? " streaming" : ""}`, dataset: { sequence: m.sequence } },
      el("div", { class: "meta", text: `${m.role.toLowerCase()} · #${m.sequence} · ${time}` }),
      el("div", { class: "content", text: m.content || (streaming ? "…" : "") }),
    );
  });
  if (items.length === 0) items.push(el("li", { class: "placeholder", text: "No messages yet: say hello." }));
  list.replaceChildren(...items);
  if (atBottom) list.scrollTop = list.scrollHeight;
}

$("#message-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const form = event.currentTarget;
  const content = form.elements.content.value.trim();
  if (!content) return;
  submitting(form, "#chat-error", async () => {
    await client.mutation(api.messages.append, { taskId: state.taskId, content, role: "USER" });
    form.elements.content.value = "";
  });
});

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Plays the agent: an assistant message that grows a few words per write, then finishes. */
$("#agent-reply").addEventListener("click", () => {
  const taskId = state.taskId;
  const asked = state.messages.findLast((m) => m.role === "USER")?.content ?? "nothing yet";
  const words = `You said: “${asked}”. This answer is streamed by the agent a few words per write; every window showing this task sees it grow.`.split(" ");
  submitting($("#message-form"), "#chat-error", async () => {
    const { messageId } = await client.mutation(api.messages.startAssistant, { taskId, llmModel: "demo-echo" });
    for (let i = 0; i < words.length; i += 3) {
      const text = (i === 0 ? "" : " ") + words.slice(i, i + 3).join(" ");
      await client.mutation(api.messages.appendParts, { messageId, parts: [{ type: "text", text }] });
      await sleep(150);
    }
    await client.mutation(api.messages.finish, { messageId, finishReason: "stop" });
  });
});

$("#archive").addEventListener("click", () => {
  submitting($("#message-form"), "#chat-error", () => client.mutation(api.tasks.archive, { taskId: state.taskId }));
});

// ---- start ----

const saved = sessionStorage.getItem(SESSION_KEY);
if (saved) startSession(JSON.parse(saved));
else endSession();
