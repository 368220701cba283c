// The VS Code extension's e2e scenarios, driven in code-server with
// Debian chromium through playwright-core. run.sh starts code-server (in
// the mirrord-laptop netns) and runs this in the same netns:
//   node test.mjs <code-server URL with ?folder=>
// Environment (from run.sh): VSCODE_E2E_DIR (playwright-core lives in its
// tools/), E2E_OUT (where the debuggee writes <case>.json), E2E_WS (the
// workspace copy), SHOTS (screenshots and results.json), TMPDIR, KUBECTL
// and KUBECONFIG (for the agent-Job check), SCENARIOS (optional, e.g. "1,2").
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";
import { execFileSync } from "node:child_process";

const env = (k) => {
  const v = process.env[k];
  if (!v) {
    console.error(`test.mjs: ${k} is not set (run it through run.sh)`);
    process.exit(2);
  }
  return v;
};
const url = process.argv[2];
if (!url) {
  console.error("usage: node test.mjs <url> (run.sh passes it)");
  process.exit(2);
}
const { chromium } = createRequire(path.join(env("VSCODE_E2E_DIR"), "tools", "package.json"))("playwright-core");
const OUT = env("E2E_OUT");
const SHOTS = env("SHOTS");
const KUBECTL = env("KUBECTL");
const only = process.env.SCENARIOS ? new Set(process.env.SCENARIOS.split(",")) : undefined;
fs.mkdirSync(SHOTS, { recursive: true });

const t0 = Date.now();
const log = (...a) => console.log(`[${((Date.now() - t0) / 1000).toFixed(1)}s]`, ...a);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const assert = (cond, msg) => {
  if (!cond) throw new Error(msg);
};

async function waitFile(f, ms) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    try {
      return JSON.parse(fs.readFileSync(f, "utf8"));
    } catch {}
    await sleep(200);
  }
  throw new Error(`no ${path.basename(f)} from the debuggee within ${ms / 1000}s`);
}

function agentJobs() {
  const out = execFileSync(KUBECTL, ["-n", "mirrord-e2e", "get", "jobs", "-l", "app=mirrord", "-o", "name"], { encoding: "utf8" });
  return out.split("\n").filter(Boolean);
}

const udd = fs.mkdtempSync(path.join(env("TMPDIR"), "chrome-udd-"));
const ctx = await chromium.launchPersistentContext(udd, {
  executablePath: "/usr/bin/chromium",
  headless: true,
  viewport: { width: 1400, height: 900 },
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"],
});
const page = ctx.pages()[0] || (await ctx.newPage());
page.on("console", (m) => m.type() === "error" && fs.appendFileSync(path.join(SHOTS, "browser-console-errors.log"), m.text() + "\n"));

const item = () => page.locator(".statusbar-item", { hasText: /^\s*mirrord\s*$/ }).first();
async function toggleState() {
  const it = item();
  await it.waitFor({ timeout: 60000 });
  if (await it.locator(".codicon-debug-alt").count()) return "on";
  if (await it.locator(".codicon-debug-disconnect").count()) return "off";
  return "unknown: " + (await it.innerHTML());
}
async function waitToggle(want, ms = 10000) {
  const end = Date.now() + ms;
  let s;
  while (Date.now() < end) {
    s = await toggleState();
    if (s === want) return;
    await sleep(200);
  }
  throw new Error(`the status bar toggle is ${s}, expected ${want}`);
}
async function loadWorkbench() {
  await page.locator(".monaco-workbench").waitFor({ timeout: 60000 });
  await item().waitFor({ timeout: 60000 });
}
async function command(title) {
  await page.keyboard.press("Escape");
  await page.keyboard.press("F1");
  await page.locator(".quick-input-widget input").waitFor();
  await page.keyboard.type(title);
  await page.locator(".quick-input-list .monaco-list-row", { hasText: title }).first().waitFor({ timeout: 15000 });
  await page.keyboard.press("Enter");
}
async function openApp() {
  await page.keyboard.press("Escape");
  await page.keyboard.press("Control+P");
  await page.locator(".quick-input-widget input").waitFor();
  await page.keyboard.type("app.js");
  await page.locator(".quick-input-list .monaco-list-row", { hasText: "app.js" }).first().waitFor({ timeout: 15000 });
  await page.keyboard.press("Enter");
  await page.locator(".monaco-editor .view-lines", { hasText: "E2E_CASE" }).waitFor({ timeout: 15000 });
  await page.locator(".monaco-editor .view-lines").first().click();
}
/** Waits until no debug session runs (the debug toolbar is gone). */
async function debugIdle() {
  await page.locator(".debug-toolbar").waitFor({ state: "hidden", timeout: 30000 }).catch(() => {});
}
/** Starts a launch config by name through "Debug: Select and Start Debugging". */
async function startConfig(name) {
  await command("Debug: Select and Start Debugging");
  const row = page.locator(".quick-input-list .monaco-list-row", { hasText: name }).first();
  await row.waitFor({ timeout: 15000 });
  await row.click();
}
/** Finds deployment/web in the mirrord target QuickPick; returns its row and the labels shown. */
async function pickWeb() {
  const rows = page.locator(".quick-input-list .monaco-list-row");
  await rows.filter({ hasText: "deployment/web" }).first().waitFor({ timeout: 90000 });
  const labels = (await rows.allInnerTexts()).map((l) => l.replace(/\s+/g, " ").trim());
  // exactly deployment/web (or "Use most recent target: deployment/web"), never web-multi
  const i = labels.findIndex((l) => l === "deployment/web" || l.endsWith(": deployment/web"));
  assert(i >= 0, `no deployment/web item in the QuickPick: ${JSON.stringify(labels)}`);
  return { row: rows.nth(i), labels };
}
const REMOTE_TXT = /^mirrord e2e sample file/;
function assertRemote(rec) {
  assert(rec.MIRRORD_FAKE_VAR_FIRST === "mirrord.is.running", `MIRRORD_FAKE_VAR_FIRST=${rec.MIRRORD_FAKE_VAR_FIRST}, expected mirrord.is.running: ${JSON.stringify(rec)}`);
  assert(REMOTE_TXT.test(rec.testTxt ?? ""), `/app/test.txt is ${JSON.stringify(rec.testTxt)} (${rec.testTxtError ?? ""}), expected the pod's file`);
}
function assertLocal(rec) {
  assert(rec.MIRRORD_FAKE_VAR_FIRST === null, `MIRRORD_FAKE_VAR_FIRST=${rec.MIRRORD_FAKE_VAR_FIRST} in a local run`);
  assert(rec.testTxt === null && rec.testTxtError === "ENOENT", `/app/test.txt readable in a local run: ${JSON.stringify(rec)}`);
}

const results = { scenarios: {} };
let mirrordRunEndedAt;
const scenarios = [
  ["1", "status bar toggle persists across a reload", async (r) => {
    await loadWorkbench();
    r.workbenchS = (Date.now() - t0) / 1000;
    await waitToggle("off");
    await page.screenshot({ path: path.join(SHOTS, "1a-off.png") });
    await item().click();
    await waitToggle("on");
    await sleep(1000); // let the workspace state reach storage
    await command("Developer: Reload Window");
    await sleep(2000);
    await loadWorkbench();
    await waitToggle("on");
    await page.screenshot({ path: path.join(SHOTS, "1b-on-after-reload.png") });
  }],
  ["2", "F5 with the toggle on: QuickPick, deployment/web, remote env and file", async (r) => {
    await waitToggle("on");
    await openApp();
    const f5 = Date.now();
    await page.keyboard.press("F5");
    const { row, labels } = await pickWeb();
    r.quickPickS = (Date.now() - f5) / 1000;
    r.quickPickItems = labels;
    await page.screenshot({ path: path.join(SHOTS, "2a-quickpick.png") });
    await row.click();
    const rec = await waitFile(path.join(OUT, "toggle.json"), 90000);
    r.f5ToOutputS = (Date.now() - f5) / 1000;
    mirrordRunEndedAt = Date.now();
    r.jobsAtOutput = agentJobs();
    r.output = rec;
    await page.screenshot({ path: path.join(SHOTS, "2b-ran.png") });
    assertRemote(rec);
    await debugIdle();
  }],
  ["3", "MIRRORD_ACTIVE=0 runs locally with the toggle on; =1 runs under mirrord with it off", async (r) => {
    await debugIdle();
    await waitToggle("on");
    let t = Date.now();
    await startConfig("e2e: active0");
    const local = await waitFile(path.join(OUT, "active0.json"), 60000);
    r.active0S = (Date.now() - t) / 1000;
    r.active0 = local;
    await page.screenshot({ path: path.join(SHOTS, "3a-active0.png") });
    assertLocal(local);
    await debugIdle();
    await item().click();
    await waitToggle("off");
    t = Date.now();
    await startConfig("e2e: active1");
    const { row, labels } = await pickWeb();
    r.active1QuickPickItems = labels;
    await row.click();
    const remote = await waitFile(path.join(OUT, "active1.json"), 90000);
    r.active1S = (Date.now() - t) / 1000;
    mirrordRunEndedAt = Date.now();
    r.jobsAtOutput = agentJobs();
    r.active1 = remote;
    await page.screenshot({ path: path.join(SHOTS, "3b-active1.png") });
    assertRemote(remote);
    await debugIdle();
  }],
  ["8", "the session stops with the debug session: no agent Job within 60s", async (r) => {
    assert(mirrordRunEndedAt, "no mirrord launch ran before (scenario 2 or 3 must run)");
    let jobs;
    const end = mirrordRunEndedAt + 60000;
    for (;;) {
      jobs = agentJobs();
      if (jobs.length === 0) break;
      if (Date.now() > end) throw new Error(`agent Jobs still there 60s after the debuggee ended: ${jobs.join(" ")}`);
      await sleep(1000);
    }
    r.jobsGoneAfterS = (Date.now() - mirrordRunEndedAt) / 1000;
    // The daemon logs each sessions/stop the extension sent when a debug session ended.
    const dir = path.join(env("XDG_STATE_HOME"), "mirrord");
    const logText = fs.readdirSync(dir).filter((f) => f.startsWith("daemon-")).map((f) => fs.readFileSync(path.join(dir, f), "utf8")).join("");
    r.sessionsStarted = (logText.match(/msg="session started"/g) ?? []).length;
    r.sessionsStopped = (logText.match(/msg="session stopped/g) ?? []).length;
    assert(r.sessionsStarted > 0, "the daemon log shows no session");
    assert(r.sessionsStopped === r.sessionsStarted, `the daemon log shows ${r.sessionsStarted} sessions started but ${r.sessionsStopped} stopped by the extension`);
    await page.screenshot({ path: path.join(SHOTS, "8-stopped.png") });
  }],
];

let failed = 0;
try {
  await page.goto(url);
  for (const [id, title, fn] of scenarios) {
    if (only && !only.has(id)) continue;
    const r = { title };
    results.scenarios[id] = r;
    const s = Date.now();
    try {
      await fn(r);
      r.ok = true;
    } catch (e) {
      r.ok = false;
      r.error = String(e?.message ?? e);
      failed++;
      await page.screenshot({ path: path.join(SHOTS, `${id}-FAILED.png`) }).catch(() => {});
      await page.keyboard.press("Escape").catch(() => {});
    }
    r.durationS = (Date.now() - s) / 1000;
    log(`scenario ${id} ${r.ok ? "PASSED" : "FAILED"} in ${r.durationS}s: ${title}${r.ok ? "" : "\n    " + r.error}`);
    for (const k of ["quickPickS", "f5ToOutputS", "active0S", "active1S", "jobsAtOutput", "jobsGoneAfterS", "sessionsStarted", "sessionsStopped"]) if (r[k] !== undefined) log(`  ${k}=${r[k]}`);
  }
} finally {
  results.totalS = (Date.now() - t0) / 1000;
  fs.writeFileSync(path.join(SHOTS, "results.json"), JSON.stringify(results, null, 2));
  await ctx.close();
  fs.rmSync(udd, { recursive: true, force: true });
}
const bad = Object.entries(results.scenarios).filter(([, r]) => !r.ok).map(([id, r]) => `${id} (${r.error})`);
log(bad.length === 0 ? "E2E PASSED" : `E2E FAILED: ${bad.join("; ")}`);
process.exit(bad.length === 0 && Object.keys(results.scenarios).length > 0 ? 0 : 1);
