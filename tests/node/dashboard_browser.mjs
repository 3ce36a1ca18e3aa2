// The dashboard (/_dashboard/) in headless Chromium against a running server of the dashboard
// test app: sign in with a one-time link, browse 10,000 documents, edit one (schema error at
// the field, then a valid edit an official convex client sees), run functions, cancel a job.
// Usage: node dashboard_browser.mjs SERVER_URL LOGIN_LINK SCREENSHOT_DIR
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConvexClient } from "convex/browser";
import { chromium } from "playwright-core";
import { failOnError, finish } from "./sync_lib.mjs";

const [url, link, screenshots] = process.argv.slice(2);
const CHROMIUM = "/usr/bin/chromium";
const TIMEOUT = 15000;
const ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync"];

/** Resolves with the first value `client` sees of the query for which `test` is true. */
function seen(client, path, args, test) {
  return new Promise((resolve) => {
    const stop = client.onUpdate(path, args, (value) => {
      if (test(value)) {
        stop();
        resolve(value);
      }
    });
  });
}

async function shot(page, name) {
  await page.screenshot({ path: join(screenshots, `dashboard_${name}.png`) });
}

async function main() {
  const profile = mkdtempSync(join(tmpdir(), "reactor-dashboard-chromium-"));
  const problems = [];
  const result = {};
  const convex = new ConvexClient(url);
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM, headless: true, args: ARGS, viewport: { width: 1280, height: 800 },
  });
  try {
    const page = await context.newPage();
    page.setDefaultTimeout(TIMEOUT);
    page.on("pageerror", (error) => problems.push(`page: ${error.message}`));
    page.on("console", (message) => {
      if (message.type() === "error") problems.push(`console: ${message.text()}`);
    });
    page.on("dialog", (dialog) => dialog.accept());

    // Without the key: only the sign-in form; a wrong key is refused.
    await page.goto(`${url}/_dashboard/`);
    await page.locator("#sign-in-form").waitFor();
    await page.fill("#admin-key", "reactor_admin_wrong");
    await page.press("#admin-key", "Enter");
    await page.locator("#sign-in-error:not(:empty)").waitFor();
    result.wrongKey = await page.textContent("#sign-in-error");
    problems.length = 0; // the refused key's 401 is logged by the browser as a console error
    await shot(page, "sign_in");

    // The one-time link signs in; the code leaves the address bar.
    await page.goto(link);
    await page.locator("#connection[data-state=online]").waitFor();
    result.addressAfterSignIn = page.url();
    await page.evaluate(() => { window.__sameDocument = true; });

    // Data: 10,000 documents, a page at a time.
    const items = page.locator('#tables button[data-table="items"] .count');
    await page.waitForFunction(() => document.querySelector('#tables button[data-table="items"] .count')?.textContent === "10,000");
    result.count = await items.textContent();
    await page.locator("#documents tbody tr").first().waitFor();
    result.firstPageRows = await page.locator("#documents tbody tr").count();
    await page.click("#next-page");
    await page.waitForFunction(() => document.querySelector("#page-status").textContent === "documents 51–100");
    result.secondPage = await page.textContent("#page-status");
    await page.selectOption("#index", "by_n");
    await page.selectOption("#order", "asc");
    await page.waitForFunction(() => document.querySelector("#documents tbody tr td:nth-child(3)")?.textContent === "0");
    await shot(page, "data");

    // Filter to one document, open it, get a schema error at the field, then save an edit.
    await page.fill("#filter-field", "n");
    await page.fill("#filter-value", "5");
    await page.press("#filter-value", "Enter");
    await page.waitForFunction(() => document.querySelectorAll("#documents tbody tr").length === 1);
    const watched = seen(convex, "items:by_n", { n: 5 }, (doc) => doc?.title === "edited in the dashboard");
    await page.click("#documents tbody tr");
    await page.fill("#field-n", '"five"');
    await page.click("#save-document");
    await page.locator("#field-n-error:not(:empty)").waitFor();
    result.fieldError = await page.textContent("#field-n-error");
    result.fieldInvalid = await page.getAttribute("#field-n", "aria-invalid");
    await shot(page, "data_edit_error");
    await page.fill("#field-n", "5");
    await page.fill("#field-title", '"edited in the dashboard"');
    await page.fill("#field-big", "9007199254740993"); // 2^53 + 1: exact only as an int64
    await page.click("#save-document");
    const edited = await watched;
    result.convexSaw = edited.title;
    result.convexSawBig = typeof edited.big === "bigint" ? edited.big.toString() : `not an int64: ${edited.big}`;
    await page.locator("#editor").waitFor({ state: "hidden" });

    // A write by the app appears without a reload; delete it from the dashboard.
    await convex.mutation("items:fill", { count: 1, start: 20000 });
    await page.waitForFunction(() => document.querySelector('#tables button[data-table="items"] .count').textContent === "10,001");
    await page.click("#filters button"); // drop the filter n = 5
    await page.selectOption("#order", "desc");
    await page.waitForFunction(() => document.querySelector("#documents tbody tr td:nth-child(3)")?.textContent === "20000");
    await page.click("#documents tbody tr");
    await page.click("#delete-document");
    await page.waitForFunction(() => document.querySelector('#tables button[data-table="items"] .count').textContent === "10,000");
    result.afterDelete = await items.textContent();
    // Insert from the form: the new document is at the top of the (newest first) page.
    await page.click("#new-document");
    await page.fill("#field-title", '"made in the dashboard"');
    await page.fill("#field-n", "77777");
    await page.click("#save-document");
    await page.waitForFunction(() => document.querySelector("#documents tbody tr td:nth-child(2)")?.textContent === "made in the dashboard");
    await page.waitForFunction(() => document.querySelector('#tables button[data-table="items"] .count').textContent === "10,001");
    result.inserted = (await seen(convex, "items:by_n", { n: 77777 }, (doc) => doc !== null)).title;

    // Functions: run a public mutation (result, log line, duration), an internal one, and a
    // query as a given user.
    await page.click('nav a[href="#/functions"]');
    await page.click('tr[data-path="items:greet"]');
    await page.fill("#run-args", '{"title": "dashboard"}');
    await page.click("#run");
    await page.locator("#run-status").waitFor();
    result.greet = { status: await page.textContent("#run-status"), value: await page.textContent("#run-result"),
      logs: await page.textContent("#run-logs") };
    await shot(page, "functions");
    await page.click('tr[data-path="items:whoami"]');
    await page.fill("#run-identity", '{"subject": "user-7", "name": "Seven"}');
    await page.click("#run");
    await page.locator("#run-status").waitFor();
    result.whoami = JSON.parse(await page.textContent("#run-result"));

    // Schedules: a job the app schedules appears live; cancel it.
    await page.click('nav a[href="#/schedules"]');
    await page.locator("#crons tr").first().waitFor();
    const job = await convex.mutation("items:later", { title: "to cancel", delay: 3600 });
    const row = page.locator(`#jobs tr[data-id="${job}"]`);
    await row.locator(".badge.pending").waitFor();
    await shot(page, "schedules");
    await row.locator("button.cancel-job").click();
    await row.locator(".badge.canceled").waitFor();
    result.canceled = await row.locator(".badge").textContent();

    // Environment variables: set one; its value is hidden until revealed.
    await page.click('nav a[href="#/env"]');
    await page.fill("#env-name", "API_BASE");
    await page.fill("#env-value", "https://api.example");
    await page.press("#env-value", "Enter");
    const variable = page.locator('#env tr[data-name="API_BASE"]');
    await variable.waitFor();
    result.envHidden = await variable.locator(".mono").nth(1).textContent();
    await variable.getByRole("button", { name: "Reveal" }).click();
    result.envRevealed = await variable.locator(".mono").nth(1).textContent();
    await shot(page, "env");

    // Logs: the earlier run is there with its log line; a new call arrives while watching;
    // filters narrow the list.
    await page.click('nav a[href="#/logs"]');
    const greetRow = page.locator('#log-rows tr[data-path="items:greet"]').first();
    await greetRow.waitFor();
    result.logLine = await greetRow.locator(".log-lines").textContent();
    await convex.mutation("items:greet", { title: "while watching" });
    await page.locator('#log-rows tr[data-path="items:greet"] .log-lines', { hasText: "greeting while watching" }).waitFor();
    await convex.mutation("items:fill", { count: "many" }).catch(() => {});
    await page.locator('#log-rows tr[data-path="items:fill"] .badge.failed').first().waitFor();
    await page.selectOption("#log-status", "failed");
    await page.waitForFunction(() => [...document.querySelectorAll("#log-rows tr")].every((tr) => tr.querySelector(".badge.failed")));
    result.failedOnly = await page.locator("#log-rows tr").count();
    await shot(page, "logs");
    await page.selectOption("#log-status", "");
    await page.fill("#log-text", "while watching");
    await page.press("#log-text", "Enter");
    await page.waitForFunction(() => document.querySelectorAll("#log-rows tr").length === 1);
    result.textFiltered = await page.locator("#log-rows tr .log-lines").textContent();

    for (const name of ["files", "schema"]) {
      await page.click(`nav a[href="#/${name}"]`);
      await page.locator(`main[data-page="${name}"] h2`).waitFor();
      await page.waitForTimeout(300);
      await shot(page, name);
    }
    await page.click('nav a[href="#/schema"]');
    await page.locator("#schema section").first().waitFor();
    result.schemaText = await page.textContent("#schema");

    await page.click('nav a[href="#/health"]');
    await page.locator('[data-metric="subscriptions"]').waitFor();
    // A commit pushed to a subscriber between two samples: commit and push latencies show.
    const pushed = seen(convex, "items:by_n", { n: 30000 }, (doc) => doc !== null);
    await page.waitForTimeout(2200);
    await convex.mutation("items:fill", { count: 1, start: 30000 });
    await pushed;
    // The chart's label keeps the peak: the commit and the push may fall in two samples.
    const peak = (metric) => page.evaluate((m) => Number(/peak ([\d.]+)/.exec(
      document.querySelector(`[data-metric="${m}"] svg`)?.getAttribute("aria-label") ?? "")?.[1] ?? 0), metric);
    await page.waitForFunction(() => ["pushP95", "commitP95"].every((m) =>
      Number(/peak ([\d.]+)/.exec(document.querySelector(`[data-metric="${m}"] svg`)?.getAttribute("aria-label") ?? "")?.[1] ?? 0) > 0));
    result.pushP95 = await peak("pushP95");
    result.commitP95 = await peak("commitP95");
    result.health = await page.locator('[data-metric="subscriptions"] strong').textContent();
    await shot(page, "health");

    // Keyboard: Tab reaches the navigation from the top of the page.
    await page.keyboard.press("Tab");
    result.firstTab = await page.evaluate(() => document.activeElement?.textContent);
    result.sameDocument = await page.evaluate(() => window.__sameDocument === true);
  } finally {
    await context.close();
    await convex.close();
    rmSync(profile, { recursive: true, force: true });
  }
  result.problems = problems;
  finish(result);
}

failOnError(main);
