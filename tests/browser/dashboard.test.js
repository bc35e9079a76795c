// The dashboard in headless Chromium, as a person uses it: log in, drop a
// finished folder into the input, see its batch appear on the dashboard
// without reloading, open it, open one of its images. Run by
// tests/integration/test_web_browser.sh, which starts the daemon and passes:
//   SENDIT_BASE      http://127.0.0.1:PORT
//   SENDIT_PASSWORD  the web password
//   SENDIT_INPUT     the input folder
//   SENDIT_MKDICOM   command that writes DICOM files: MKDICOM OUT_DIR COUNT [options]
//   SENDIT_SHOTS     folder for the screenshots
//   SENDIT_DOCS_SHOT where to copy the dashboard screenshot too (optional)
// Prints one "ok"/"not ok" line per check and "N passed, M failed".
"use strict";

const { chromium } = require("playwright-core");
const { execSync } = require("child_process");
const fs = require("fs");
const path = require("path");

const base = process.env.SENDIT_BASE;
const shots = process.env.SENDIT_SHOTS;
let passed = 0;
let failed = 0;

function check(ok, what) {
  if (ok) passed++;
  else failed++;
  console.log((ok ? "ok - " : "not ok - ") + what);
}

// A sender's protocol: write NAME.tmp, then rename it to NAME when complete.
function dropFolder(name, count, options) {
  const tmp = path.join(process.env.SENDIT_INPUT, name + ".tmp1");
  execSync(`${process.env.SENDIT_MKDICOM} ${tmp} ${count} ${options || ""}`, { stdio: "ignore" });
  fs.renameSync(tmp, path.join(process.env.SENDIT_INPUT, name));
}

async function main() {
  const browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    // As root, headless Chromium needs these; the networking flags stop it
    // from trying to reach outside hosts at start.
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  try {
    const context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
    const page = await context.newPage();
    const problems = [];
    page.on("pageerror", (e) => problems.push(e.message));
    page.on("console", (m) => { if (m.type() === "error") problems.push(m.text()); });

    // Logging in: the dashboard sends us to the login form and back.
    await page.goto(base + "/");
    check(new URL(page.url()).pathname === "/login", "the dashboard asks for a login first");
    await page.fill("input[name=password]", "not the password");
    await page.click("button[type=submit]");
    check((await page.textContent("body")).includes("Wrong user or password."),
      "a wrong password is refused with a message");
    await page.fill("input[name=password]", process.env.SENDIT_PASSWORD);
    await Promise.all([page.waitForURL(base + "/"), page.click("button[type=submit]")]);
    check(new URL(page.url()).pathname === "/", "logged in, the dashboard shows");
    problems.length = 0; // the refused login above was a 401 on purpose
    const cookies = await context.cookies();
    const session = cookies.find((c) => c.name === "sendit_session");
    check(session && session.httpOnly && session.sameSite === "Strict",
      "the session cookie is HttpOnly and SameSite=Strict");
    check((await page.textContent("#live-cards")).includes("active"), "the watcher shows as active");
    check((await page.textContent("#live-cards")).includes("test: 0 queued"),
      "the queue card shows each stage");
    check(await page.isVisible("text=ERR02"), "earlier batches are listed");

    // A new folder arrives while the reader is looking: no reload by hand.
    await page.evaluate(() => { window.__notReloaded = true; window.scrollTo(0, 200); });
    dropFolder("LIVE01", 24, "--patient PAT077 --modality MR");
    const row = page.locator('#live-batches tr:has(a[href="/batches/LIVE01"])');
    await row.waitFor({ timeout: 30000 });
    await page.locator('#live-batches tr:has(a[href="/batches/LIVE01"]) .badge.s-DONE')
      .waitFor({ timeout: 30000 });
    check(true, "the new batch appears on the dashboard by itself, as DONE");
    check(await page.evaluate(() => window.__notReloaded === true), "without the page reloading");
    check((await row.textContent()).includes("24"), "with its image count");
    await page.evaluate(() => window.scrollTo(0, 0));
    await page.waitForTimeout(300);
    await page.screenshot({ path: path.join(shots, "dashboard.png") });
    if (process.env.SENDIT_DOCS_SHOT) {
      fs.mkdirSync(path.dirname(process.env.SENDIT_DOCS_SHOT), { recursive: true });
      fs.copyFileSync(path.join(shots, "dashboard.png"), process.env.SENDIT_DOCS_SHOT);
    }

    // Open it, then one of its images.
    await Promise.all([page.waitForURL(base + "/batches/LIVE01"),
      page.click('a[href="/batches/LIVE01"]')]);
    const batchText = await page.textContent("main");
    check(batchText.includes("Batch LIVE01") && batchText.includes("Images 1–24 of 24"),
      "the batch page lists its 24 images");
    check(batchText.includes("Timeline") && batchText.includes("finished"), "and its timeline");
    // The stage timeline (the daemon runs import -> test; LIVE01's test
    // stage fails once and is retried): one row per stage.
    const stages = await page.$$eval("#stages tr.stage", (rows) =>
      rows.map((tr) => Array.from(tr.cells).slice(0, 3).map((td) => td.textContent.trim()).join(" ")));
    check(JSON.stringify(stages) === JSON.stringify(["import done 1", "test done 2"]),
      "and its stages: import done, test done at the second attempt (" + stages.join("; ") + ")");
    check((await page.textContent("#stages")).includes("Last error"), "with each stage's last error");
    await page.screenshot({ path: path.join(shots, "batch.png"), fullPage: true });
    await Promise.all([page.waitForURL(/\/images\/\d+$/),
      page.click('#images a[href^="/images/"] >> nth=0')]);
    const imageText = await page.textContent("main");
    check(imageText.includes("PAT077") && imageText.includes("Storage path"),
      "the image page shows its record and storage path");
    check(await page.isVisible('table.header td:text-is("PatientName")'),
      "and its header as a table");
    await page.screenshot({ path: path.join(shots, "image.png"), fullPage: true });

    // The batch with errors: its badge leads to the errors, and Retry is offered.
    await page.goto(base + "/");
    await Promise.all([page.waitForURL(base + "/batches/ERR02#errors"),
      page.click('a[href="/batches/ERR02#errors"]')]);
    check((await page.textContent("#errors")).includes("junk.dcm"),
      "the error badge leads to the batch's errors");
    check(await page.isVisible("form.retry button"), "a batch with errors offers Retry");
    check(problems.length === 0, "no script errors" + (problems.length ? ": " + problems.join("; ") : ""));
  } finally {
    await browser.close();
  }
}

main()
  .catch((e) => {
    failed++;
    console.log("not ok - the browser test ran to the end: " + e.message);
  })
  .finally(() => {
    console.log(`${passed} passed, ${failed} failed`);
    process.exitCode = failed ? 1 : 0;
  });
