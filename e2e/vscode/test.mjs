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
/** The rows of the open QuickPick, as their normalized text. */
async function rowTexts() {
  return (await page.locator(".quick-input-widget .quick-input-list .monaco-list-row").allInnerTexts()).map((l) => l.replace(/\s+/g, " ").trim());
}
/** Waits until the QuickPick's title matches re. */
async function waitTitle(re, ms = 60000) {
  const title = page.locator(".quick-input-widget .quick-input-title");
  const end = Date.now() + ms;
  let last = "";
  while (Date.now() < end) {
    if (await page.locator(".quick-input-widget").isVisible()) {
      last = (await title.innerText().catch(() => "")).trim();
      if (re.test(last)) return last;
    }
    await sleep(150);
  }
  throw new Error(`no QuickPick titled ${re} within ${ms / 1000}s (last title: ${JSON.stringify(last)})`);
}
/** Types into the open QuickPick's filter and picks the first row starting with label. */
async function pickTyped(filter, label, ms = 15000) {
  await page.locator(".quick-input-widget input").fill(filter);
  const end = Date.now() + ms;
  let texts = [];
  while (Date.now() < end) {
    texts = await rowTexts();
    const i = texts.findIndex((t) => t.startsWith(label));
    if (i >= 0) {
      await page.locator(".quick-input-widget .quick-input-list .monaco-list-row").nth(i).click();
      return texts;
    }
    await sleep(150);
  }
  throw new Error(`no QuickPick row starting with ${JSON.stringify(label)} after typing ${JSON.stringify(filter)}: ${JSON.stringify(texts)}`);
}
/** Waits for a notification toast whose text matches re; returns its text. */
async function waitNotification(re, ms = 30000) {
  const toasts = page.locator(".notifications-toasts .notification-toast");
  const end = Date.now() + ms;
  while (Date.now() < end) {
    for (const t of await toasts.allInnerTexts()) {
      if (re.test(t)) return t.replace(/\s+/g, " ").trim();
    }
    await sleep(200);
  }
  const shown = JSON.stringify(await toasts.allInnerTexts());
  throw new Error(`no notification matching ${re} within ${ms / 1000}s: toasts ${shown}, notification center ${JSON.stringify(await centerTexts())}`);
}
/** The notification center's entries (every notification not cleared, toast hidden or not). */
async function centerTexts() {
  try {
    await command("Notifications: Show Notifications");
    const rows = page.locator(".notifications-center .notification-list-item");
    await rows.first().waitFor({ timeout: 3000 }).catch(() => {});
    const texts = (await rows.allInnerTexts()).map((l) => l.replace(/\s+/g, " ").trim());
    await page.keyboard.press("Escape");
    return texts;
  } catch (e) {
    return [`(unreadable: ${e?.message ?? e})`];
  }
}
async function clearNotifications() {
  await command("Notifications: Clear All Notifications");
}
/** The picker must not appear while waiting for a debuggee's record. */
async function waitFileNoPicker(f, ms) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const title = await page.locator(".quick-input-widget .quick-input-title").innerText().catch(() => "");
    if ((await page.locator(".quick-input-widget").isVisible()) && /pick a target/.test(title)) {
      throw new Error(`the target picker appeared although the config sets the target: ${title}`);
    }
    try {
      return JSON.parse(fs.readFileSync(f, "utf8"));
    } catch {}
    await sleep(200);
  }
  throw new Error(`no ${path.basename(f)} from the debuggee within ${ms / 1000}s`);
}
function daemonLog() {
  const dir = path.join(env("XDG_STATE_HOME"), "mirrord");
  return fs.readdirSync(dir).filter((f) => f.startsWith("daemon-")).map((f) => fs.readFileSync(path.join(dir, f), "utf8")).join("");
}
/** The extension's output channel of the current window (VS Code logs it to a file). */
function extLog() {
  const files = [];
  const walk = (d) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (/^\d+-mirrord\.log$/.test(e.name)) files.push(p);
    }
  };
  walk(env("E2E_LOGS"));
  files.sort((a, b) => fs.statSync(b).mtimeMs - fs.statSync(a).mtimeMs);
  return files.length ? fs.readFileSync(files[0], "utf8") : "";
}
const WS = env("E2E_WS");
const writeWs = (rel, text) => fs.writeFileSync(path.join(WS, rel), text);
const rmOut = (name) => fs.rmSync(path.join(OUT, name + ".json"), { force: true });
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
// In this order: 8 checks that every session the others started was stopped.
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
    // Again within the warm TTL: the picker offers the most recent target
    // first, and the session reuses the warm agent.
    rmOut("toggle");
    await openApp();
    const f5w = Date.now();
    await page.keyboard.press("F5");
    const warm = await pickWeb();
    r.quickPickWarmS = (Date.now() - f5w) / 1000;
    assert(/^Use most recent target: deployment\/web$/.test(warm.labels[0]), `the most recent target is not first: ${JSON.stringify(warm.labels)}`);
    await warm.row.click();
    const rec2 = await waitFile(path.join(OUT, "toggle.json"), 90000);
    r.f5ToOutputWarmS = (Date.now() - f5w) / 1000;
    mirrordRunEndedAt = Date.now();
    const jobs2 = agentJobs();
    await page.screenshot({ path: path.join(SHOTS, "2c-warm-ran.png") });
    assertRemote(rec2);
    r.warmReused = (daemonLog().match(/msg="session reused a warm runner"/g) ?? []).length;
    assert(r.warmReused >= 1 && jobs2.join() === r.jobsAtOutput.join(), `the second launch did not reuse the warm agent: jobs ${jobs2} then ${r.jobsAtOutput}, ${r.warmReused} reuses in the daemon log`);
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
  ["4", "a config that sets the target skips the picker; an invalid key is a diagnostic and refuses the launch", async (r) => {
    await debugIdle();
    if ((await toggleState()) !== "on") {
      await item().click();
      await waitToggle("on");
    }
    const original = fs.readFileSync(path.join(WS, ".mirrord/mirrord.json"), "utf8");
    const withTarget = {
      target: { path: "deployment/web", namespace: "mirrord-e2e" },
      feature: { network: { outgoing: true }, fs: "read", env: { override: { E2E_CONFIG: "target-set" } } },
    };
    writeWs(".mirrord/mirrord.json", JSON.stringify(withTarget, null, 2) + "\n");
    rmOut("config");
    let t = Date.now();
    await startConfig("e2e: config");
    const rec = await waitFileNoPicker(path.join(OUT, "config.json"), 90000);
    r.targetSetS = (Date.now() - t) / 1000;
    r.targetSet = rec;
    mirrordRunEndedAt = Date.now();
    await page.screenshot({ path: path.join(SHOTS, "4a-target-from-config.png") });
    assertRemote(rec);
    assert(rec.E2E_CONFIG === "target-set", `E2E_CONFIG=${rec.E2E_CONFIG}: the launch did not use .mirrord/mirrord.json`);
    await debugIdle();
    await clearNotifications();

    // An unknown key: JSON diagnostics from the schema, then a refused launch.
    const bad = JSON.stringify({ ...withTarget, not_a_key: true }, null, 2) + "\n";
    writeWs(".mirrord/mirrord.json", bad);
    await command("mirrord: Open or Create Config");
    await page.locator(".monaco-editor .view-lines", { hasText: "not_a_key" }).waitFor({ timeout: 15000 });
    await page.locator(".monaco-editor .squiggly-warning, .monaco-editor .squiggly-error").first().waitFor({ timeout: 30000 });
    await command("Problems: Focus on Problems View");
    const marker = page.locator(".markers-panel .monaco-list-row", { hasText: "not_a_key" }).first();
    await marker.waitFor({ timeout: 15000 });
    r.diagnostic = (await marker.innerText()).replace(/\s+/g, " ").trim();
    await page.screenshot({ path: path.join(SHOTS, "4b-diagnostic.png") });
    rmOut("config");
    t = Date.now();
    await startConfig("e2e: config");
    r.refusal = await waitNotification(/refused.*not_a_key/, 30000);
    r.refusalS = (Date.now() - t) / 1000;
    await sleep(600); // the toast's fade-in
    await page.screenshot({ path: path.join(SHOTS, "4c-launch-refused.png") });
    assert(/mirrord\.json:\d+:\d+/.test(r.refusal), `the notification does not name the file and position: ${r.refusal}`);
    await sleep(2000);
    assert(!fs.existsSync(path.join(OUT, "config.json")), "the launch ran although its config is invalid");
    writeWs(".mirrord/mirrord.json", original);
    await command("View: Close All Editors");
    await clearNotifications();
  }],
  ["5", "typing in .mirrord/mirrord.toml offers completions from the schema (the daemon's LSP)", async (r) => {
    await page.keyboard.press("Escape");
    await page.keyboard.press("Control+P");
    await page.locator(".quick-input-widget input").waitFor();
    await page.keyboard.type("mirrord.toml");
    await page.locator(".quick-input-list .monaco-list-row", { hasText: "mirrord.toml" }).first().waitFor({ timeout: 15000 });
    await page.keyboard.press("Enter");
    await page.locator(".monaco-editor .view-lines", { hasText: "[feature]" }).waitFor({ timeout: 15000 });
    await page.locator(".monaco-editor .view-lines").first().click();
    await page.keyboard.press("Control+End");
    await page.keyboard.press("Enter");
    await page.keyboard.type("ne");
    const t = Date.now();
    const row = page.locator(".suggest-widget .monaco-list-row", { hasText: /^\s*network/ }).first();
    for (;;) {
      await page.keyboard.press("Control+Space");
      if (await row.waitFor({ timeout: 3000 }).then(() => true, () => false)) break;
      if (Date.now() - t > 45000) {
        const shown = await page.locator(".suggest-widget .monaco-list-row").allInnerTexts();
        throw new Error(`no "network" completion in mirrord.toml within 45s: ${JSON.stringify(shown)}`);
      }
    }
    r.completionS = (Date.now() - t) / 1000;
    r.completions = (await page.locator(".suggest-widget .monaco-list-row").allInnerTexts()).map((l) => l.replace(/\s+/g, " ").trim());
    await page.screenshot({ path: path.join(SHOTS, "5-toml-completion.png") });
    await page.keyboard.press("Enter");
    await page.locator(".monaco-editor .view-lines", { hasText: "network" }).waitFor({ timeout: 5000 });
    await command("File: Revert File");
    await command("View: Close All Editors");
  }],
  ["6", "Select Active Config switches between two files; each launch uses the selected one", async (r) => {
    await debugIdle();
    await waitToggle("on");
    for (const name of ["web-a", "web-b"]) {
      await command("mirrord: Select Active Config");
      await waitTitle(/Select Active Config/);
      r[`${name}Items`] = await pickTyped(name, `.mirrord/${name}.json`);
      await waitNotification(new RegExp(`active config: \\.mirrord/${name}\\.json`), 15000);
      if (name === "web-a") await page.screenshot({ path: path.join(SHOTS, "6a-active-config.png") });
      rmOut("config");
      const t = Date.now();
      await startConfig("e2e: config");
      const rec = await waitFileNoPicker(path.join(OUT, "config.json"), 90000);
      r[`${name}S`] = (Date.now() - t) / 1000;
      mirrordRunEndedAt = Date.now();
      assertRemote(rec);
      assert(rec.E2E_CONFIG === name, `E2E_CONFIG=${rec.E2E_CONFIG} with ${name} active`);
      await debugIdle();
    }
    await page.screenshot({ path: path.join(SHOTS, "6b-web-b-used.png") });
    await command("mirrord: Select Active Config");
    await waitTitle(/Select Active Config/);
    await pickTyped("Default discovery", "Default discovery");
    await clearNotifications();
  }],
  ["7", "Select Another Namespace lists the other namespace's targets", async (r) => {
    await debugIdle();
    await waitToggle("on");
    await startConfig("e2e: namespace");
    await waitTitle(/pick a target in mirrord-e2e/);
    await pickTyped("Select Another Namespace", "Select Another Namespace");
    await waitTitle(/Select Another Namespace/);
    r.namespaces = await pickTyped("kube-system", "kube-system");
    await waitTitle(/pick a target in kube-system/);
    await page.locator(".quick-input-widget .quick-input-list .monaco-list-row", { hasText: "deployment/coredns" }).first().waitFor({ timeout: 30000 });
    r.kubeSystemItems = await rowTexts();
    await page.screenshot({ path: path.join(SHOTS, "7a-other-namespace.png") });
    assert(!r.kubeSystemItems.some((l) => /deployment\/web\b/.test(l)), `mirrord-e2e's targets listed in kube-system: ${JSON.stringify(r.kubeSystemItems)}`);
    // back to mirrord-e2e, and run there
    await pickTyped("Select Another Namespace", "Select Another Namespace");
    await waitTitle(/Select Another Namespace/);
    await pickTyped("mirrord-e2e", "mirrord-e2e");
    await waitTitle(/pick a target in mirrord-e2e/);
    const { row } = await pickWeb();
    await row.click();
    const rec = await waitFile(path.join(OUT, "namespace.json"), 90000);
    mirrordRunEndedAt = Date.now();
    assertRemote(rec);
    await page.screenshot({ path: path.join(SHOTS, "7b-ran.png") });
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
    const logText = daemonLog();
    // a warm reuse is a start too (under a new session id)
    r.sessionsStarted = (logText.match(/msg="session (started|reused a warm runner)"/g) ?? []).length;
    r.sessionsStopped = (logText.match(/msg="session stopped/g) ?? []).length;
    assert(r.sessionsStarted > 0, "the daemon log shows no session");
    assert(r.sessionsStopped === r.sessionsStarted, `the daemon log shows ${r.sessionsStarted} sessions started but ${r.sessionsStopped} stopped by the extension`);
    await page.screenshot({ path: path.join(SHOTS, "8-stopped.png") });
  }],
  ["9", "autoUpdate: the pinned managed binary runs; with true the daemon finds a newer release, the extension installs it, new connections use it", async (r) => {
    const dataDir = path.join(env("XDG_DATA_HOME"), "mirrord");
    const version = env("E2E_VERSION");
    const next = env("E2E_NEXT_VERSION");
    const pinned = path.join(dataDir, "bin", version, "mirrord");
    const uses = (p) => new RegExp(`mirrord binary: ${p.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")} \\(managed`);
    assert(uses(pinned).test(extLog()), `the extension did not run the pinned managed binary ${pinned}: ${extLog().split("\n").filter((l) => l.includes("binary")).join(" | ")}`);
    // A daemon request under the pinned policy: the extension is connected
    // (and idle) when the setting changes, so it reconnects with the new
    // policy at once, without a key press of the test (the same whether or
    // not scenarios 2-8 ran before).
    await command("mirrord: Select Active Config");
    await waitTitle(/Select Active Config/);
    await page.keyboard.press("Escape");
    await clearNotifications();
    // Edit the setting in VS Code (code-server does not notice an outside
    // write of settings.json): find/replace in the settings editor, save.
    await command("Preferences: Open User Settings (JSON)");
    await page.locator(".monaco-editor .view-lines", { hasText: "mirrord.autoUpdate" }).waitFor({ timeout: 15000 });
    await sleep(300); // the editor that just opened has the focus (it may be a modal one: no click)
    await page.keyboard.press("Control+H");
    const findInput = page.locator(".find-widget .find-part textarea, .find-widget .find-part input").first();
    const replaceInput = page.locator(".find-widget .replace-part textarea, .find-widget .replace-part input").first();
    await findInput.fill(`"mirrord.autoUpdate": "${version}"`);
    await replaceInput.fill(`"mirrord.autoUpdate": true`);
    await page.keyboard.press("Control+Alt+Enter"); // replace all
    await page.locator(".monaco-editor .view-lines", { hasText: '"mirrord.autoUpdate": true' }).waitFor({ timeout: 10000 });
    await page.keyboard.press("Escape");
    await page.keyboard.press("Control+S");
    const t = Date.now();
    for (const end = Date.now() + 15000; !/mirrord\.autoUpdate changed/.test(extLog()); await sleep(200)) {
      if (Date.now() > end) throw new Error("the extension saw no change of mirrord.autoUpdate");
    }
    r.settingSeenS = (Date.now() - t) / 1000;
    // The daemon checks the feed, the extension installs what it found and
    // tells it in a toast. No key press until the toast is seen: Escape
    // hides every toast (VS Code's notifications.hideToasts), and the
    // install takes a few seconds, so a command run here raced it.
    r.installed = await waitNotification(new RegExp(`installed ${next.replace(/\./g, "\\.")}`), 60000);
    r.updateS = (Date.now() - t) / 1000;
    await sleep(600);
    await page.screenshot({ path: path.join(SHOTS, "9-updated.png") });
    // The settings editor may be a modal one, which keeps the command
    // palette from opening. Escape closes it, unless a toast is shown and
    // the editor has the focus: then the first Escape hides the toasts.
    const modal = page.locator(".modal-editor-part");
    for (let i = 0; i < 5 && (await modal.isVisible()); i++) {
      await page.keyboard.press("Escape");
      await sleep(300);
    }
    await command("View: Close All Editors");
    const installed = path.join(dataDir, "bin", next, "mirrord");
    assert(fs.existsSync(installed), `${installed} is not installed`);
    assert(fs.realpathSync(path.join(dataDir, "current")) === fs.realpathSync(installed), "current does not point at the installed version");
    // the next connection runs the installed binary
    await command("mirrord: Select Active Config");
    await waitTitle(/Select Active Config/);
    await page.keyboard.press("Escape");
    const current = path.join(dataDir, "current");
    const end = Date.now() + 15000;
    while (!uses(current).test(extLog()) || !extLog().includes(`connected to the mirrord daemon ${next} `)) {
      if (Date.now() > end) throw new Error(`the extension did not switch to ${current}: ${extLog().split("\n").filter((l) => l.includes("binary")).join(" | ")}`);
      await sleep(300);
    }
    await clearNotifications();
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
    for (const k of ["quickPickS", "f5ToOutputS", "quickPickWarmS", "f5ToOutputWarmS", "active0S", "active1S", "targetSetS", "refusalS", "completionS", "web-aS", "web-bS", "updateS", "jobsAtOutput", "jobsGoneAfterS", "sessionsStarted", "sessionsStopped"]) if (r[k] !== undefined) log(`  ${k}=${r[k]}`);
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
