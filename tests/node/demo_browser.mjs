// Two headless Chromium pages on the demo (/demo/) of a running example app, signed in as one
// user: what one page writes must show up in the other without a reload.
// Usage: node demo_browser.mjs SERVER_URL SCREENSHOT_DIR   (driven by tests/test_demo_browser.py;
// $REACTOR_ADMIN_KEY reads the sign-up code from the app's outbox)
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { mailedCode } from "./app_lib.mjs";
import { failOnError, finish } from "./sync_lib.mjs";

const [url, screenshots] = process.argv.slice(2);
const CHROMIUM = "/usr/bin/chromium";
const TIMEOUT = 15000;
const ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/** Opens the demo in a new page, recording its errors; `noReload` marks the document. */
async function open(context, name, problems) {
  const page = await context.newPage();
  page.on("pageerror", (error) => problems.push(`${name}: ${error.message}`));
  page.on("console", (message) => {
    if (message.type() === "error") problems.push(`${name} console: ${message.text()}`);
  });
  await page.goto(`${url}/demo/`);
  await page.locator("#auth").waitFor({ timeout: TIMEOUT });
  return page;
}

async function signIn(page, button, user) {
  await page.fill("#auth-form [name=name]", user.name);
  await page.fill("#auth-form [name=email]", user.email);
  await page.fill("#auth-form [name=password]", user.password);
  await page.click(button);
  if (button === "#sign-up") {
    await page.locator("#confirm-form").waitFor({ timeout: TIMEOUT });
    await page.fill("#confirm-form [name=code]", await mailedCode(url, user.email));
    await page.click("#confirm");
  }
  await page.locator("#app").waitFor({ timeout: TIMEOUT });
  await page.locator("#connection[data-state=online]").waitFor({ timeout: TIMEOUT });
  // Set after the page loaded: a reload would lose it.
  await page.evaluate(() => {
    window.__sameDocument = true;
  });
}

/** Milliseconds until `locator` is visible in `page`. */
async function timeUntil(locator) {
  const started = Date.now();
  await locator.waitFor({ timeout: TIMEOUT });
  return Date.now() - started;
}

const messageTexts = (page) => page.locator("#messages .message .content").allTextContents();

async function main() {
  const profile = mkdtempSync(join(tmpdir(), "reactor-demo-chromium-"));
  const problems = [];
  let result;
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ARGS,
    viewport: { width: 1280, height: 800 },
  });
  try {
    const run = Date.now().toString(36);
    const user = { name: "Demo User", email: `demo+${run}@example.com`, password: "correct horse battery" };
    const a = await open(context, "A", problems);
    const b = await open(context, "B", problems);
    await a.screenshot({ path: join(screenshots, "demo_sign_in.png") });
    await signIn(a, "#sign-up", user);
    await signIn(b, "#sign-in", user);
    await b.waitForFunction(() => document.querySelector("#who").textContent !== "", null, { timeout: TIMEOUT });
    const who = await b.locator("#who").textContent();

    // A creates a task; B's task list shows it.
    const title = `Explain the build ${run}`;
    await a.fill("#task-form [name=title]", title);
    await a.fill("#task-form [name=message]", "How is this project built?");
    await a.click("#task-form button[type=submit]");
    await a.locator("#messages .message", { hasText: "How is this project built?" }).waitFor({ timeout: TIMEOUT });
    const taskInB = await timeUntil(b.locator("#tasks li", { hasText: title }));

    // B opens it; a message from A appears in B, and one from B in A.
    await b.locator("#tasks li", { hasText: title }).locator("button").click();
    await b.locator("#messages .message", { hasText: "How is this project built?" }).waitFor({ timeout: TIMEOUT });
    await a.fill("#message-form [name=content]", "Hello from page A");
    await a.click("#message-form button[type=submit]");
    const messageInB = await timeUntil(b.locator("#messages .message", { hasText: "Hello from page A" }));
    await b.fill("#message-form [name=content]", "And hello from page B");
    await b.click("#message-form button[type=submit]");
    const messageInA = await timeUntil(a.locator("#messages .message", { hasText: "And hello from page B" }));

    // A plays the agent; B watches the answer stream in and finish.
    await a.click("#agent-reply");
    let sawStreaming = false;
    try {
      await b.locator("#messages .message.assistant.streaming", { hasText: "You said" }).waitFor({ timeout: TIMEOUT });
      sawStreaming = true;
      await b.screenshot({ path: join(screenshots, "demo_streaming_b.png") });
    } catch {
      sawStreaming = false;
    }
    await b
      .locator("#messages .message.assistant:not(.streaming)", { hasText: "sees it grow." })
      .waitFor({ timeout: TIMEOUT });
    const statusInB = await b.locator("#tasks li", { hasText: title }).locator(".status").textContent();
    await a.locator("#message-form button[type=submit]:not([disabled])").waitFor({ timeout: TIMEOUT });

    // A attaches a file; B's attachment list shows it, and its URL serves the bytes.
    const fileName = `notes-${run}.txt`;
    const fileText = `Attached from page A (${run})`;
    await a.setInputFiles("#attach-form [name=file]", {
      name: fileName,
      mimeType: "text/plain",
      buffer: Buffer.from(fileText),
    });
    await a.click("#attach-form button[type=submit]");
    const attachmentInB = await timeUntil(b.locator("#attachments .attachment", { hasText: fileName }));
    const href = await b.locator("#attachments .attachment a", { hasText: fileName }).getAttribute("href");
    const served = await b.evaluate(async (link) => {
      const response = await fetch(link);
      return { text: await response.text(), type: response.headers.get("content-type") };
    }, href);
    await b.screenshot({ path: join(screenshots, "demo_attachment_b.png") });
    // B removes it; A's list empties without a reload.
    await b.locator("#attachments .attachment", { hasText: fileName }).locator("button").click();
    await a.locator("#attachments .attachment").waitFor({ state: "detached", timeout: TIMEOUT });
    const goneStatus = (await fetch(href)).status; // from Node: a 404 in a page logs a console error

    await a.screenshot({ path: join(screenshots, "demo_page_a.png") });
    await b.screenshot({ path: join(screenshots, "demo_page_b.png") });
    result = {
      who,
      taskInB,
      messageInB,
      messageInA,
      sawStreaming,
      statusInB,
      attachmentInB,
      attachment: { href, name: fileName, expected: fileText, ...served, goneStatus },
      messagesA: await messageTexts(a),
      messagesB: await messageTexts(b),
      sameDocument: await Promise.all([a, b].map((page) => page.evaluate(() => window.__sameDocument === true))),
      problems,
    };
  } finally {
    await context.close();
    rmSync(profile, { recursive: true, force: true });
  }
  finish(result);
}

failOnError(main);
