// The dashboard in headless Firefox (Debian's firefox-esr, driven over WebDriver BiDi by
// puppeteer-core): sign in with a one-time link, page through the data, edit a document an
// official convex client watches, run a function, and open every page without errors.
// Usage: node dashboard_firefox.mjs SERVER_URL LOGIN_LINK SCREENSHOT_DIR FIREFOX
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConvexClient } from "convex/browser";
import puppeteer from "puppeteer-core";
import { failOnError, finish } from "./sync_lib.mjs";

const [url, link, screenshots, firefox] = process.argv.slice(2);
const TIMEOUT = 20000;
const PAGES = ["functions", "logs", "schedules", "env", "files", "schema", "health"];

const text = (page, selector) => page.$eval(selector, (element) => element.textContent);

/** Waits for `test` in the page; on timeout, says what `selector` showed instead. */
async function until(page, test, selector) {
  try {
    await page.waitForFunction(test);
  } catch (error) {
    const shown = await text(page, selector).catch(() => "(nothing)");
    throw new Error(`${error.message}: waiting for ${test}; ${selector} shows ${JSON.stringify(shown)}`);
  }
}

async function main() {
  const profile = mkdtempSync(join(tmpdir(), "reactor-dashboard-firefox-"));
  const problems = [];
  const result = {};
  const convex = new ConvexClient(url);
  const browser = await puppeteer.launch({
    browser: "firefox", executablePath: firefox, headless: true, userDataDir: profile,
    defaultViewport: { width: 1280, height: 800 },
  });
  try {
    const page = await browser.newPage();
    page.setDefaultTimeout(TIMEOUT);
    page.on("pageerror", (error) => problems.push(`page: ${error.message}`));
    page.on("console", (message) => {
      if (message.type() === "error") problems.push(`console: ${message.text()}`);
    });
    page.on("dialog", (dialog) => dialog.accept());
    result.browser = await browser.version();

    await page.goto(link);
    await page.waitForSelector("#connection[data-state=online]");
    result.addressAfterSignIn = page.url();
    await until(page, () => document.querySelector('#tables button[data-table="items"] .count')?.textContent === "10,000", "#tables");
    result.count = await text(page, '#tables button[data-table="items"] .count');
    await page.waitForSelector("#documents tbody tr");
    result.firstPageRows = await page.$$eval("#documents tbody tr", (rows) => rows.length);
    await page.click("#next-page");
    await until(page, () => document.querySelector("#page-status").textContent === "documents 51–100", "#page-status");
    result.secondPage = await text(page, "#page-status");
    await page.screenshot({ path: join(screenshots, "dashboard_firefox_data.png") });

    // Sort by an index, filter to one document and edit it; the official client sees it.
    await page.select("#index", "by_n");
    await page.select("#order", "asc");
    await until(page, () => document.querySelector("#documents tbody tr td:nth-child(3)")?.textContent === "0", "#documents tbody");
    await page.type("#filter-field", "n");
    await page.type("#filter-value", "6");
    await page.keyboard.press("Enter");
    await until(page, () => document.querySelectorAll("#documents tbody tr").length === 1, "#documents tbody");
    const watched = new Promise((resolve) => {
      const stop = convex.onUpdate("items:by_n", { n: 6 }, (doc) => {
        if (doc?.title === "edited in firefox") {
          stop();
          resolve(doc.title);
        }
      });
    });
    await page.click("#documents tbody tr");
    await page.waitForSelector("#field-title");
    await page.$eval("#field-title", (input) => { input.value = ""; });
    await page.type("#field-title", '"edited in firefox"');
    await page.click("#save-document");
    result.convexSaw = await watched;

    // Run a mutation from the Functions page.
    await page.click('nav a[href="#/functions"]');
    // puppeteer's click does not wait: the functions list renders after a round trip.
    await page.waitForSelector('tr[data-path="items:greet"]');
    await page.click('tr[data-path="items:greet"]');
    await page.$eval("#run-args", (input) => { input.value = ""; });
    await page.type("#run-args", '{"title": "firefox"}');
    await page.click("#run");
    await page.waitForSelector("#run-status");
    result.greet = { status: await text(page, "#run-status"), logs: await text(page, "#run-logs") };

    // Every other page opens.
    result.pages = {};
    for (const name of PAGES) {
      await page.click(`nav a[href="#/${name}"]`);
      await page.waitForSelector(`main[data-page="${name}"] h2`);
      result.pages[name] = await text(page, `main[data-page="${name}"] h2`);
    }
  } finally {
    await browser.close();
    await convex.close();
    rmSync(profile, { recursive: true, force: true });
  }
  result.problems = problems;
  finish(result);
}

failOnError(main);
