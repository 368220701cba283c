// The mirrord VS Code extension: a thin client of the mirrord daemon. A
// status-bar toggle turns mirrord on per workspace; a debug configuration
// provider for every debug type starts a session through the daemon and
// merges the env it returns into the launch. Everything it shows or
// injects comes from the daemon's API (daemon/api, types in src/gen).
import { execFile } from "child_process";
import { randomUUID } from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as vscode from "vscode";
import { BinarySettings, defaultDataDir, findBinary, Found, LookupDeps, parseAutoUpdate, parseVersionOutput } from "./binary";
import { configItems } from "./configs";
import { ResponseError } from "vscode-jsonrpc/node";
import { Daemon } from "./daemon";
import { ConfigLanguage } from "./lsp";
import { chosenConfig, discoverParams, inject, LaunchConfig, launchEnv, shouldRun } from "./launch";
import { firstPage, OTHER_NAMESPACE, pageItems, PickItem, TARGETLESS } from "./picker";
import {
  ConfigDiscoverResult,
  ConfigResolveResult,
  ErrorCodes,
  Issue,
  Methods,
  NamespacesListResult,
  Notifications,
  ProgressParams,
  SessionEndedParams,
  SessionsStartResult,
  TargetsListResult,
  UpdateApplyResult,
  UpdateCheckResult,
  UpdatePolicy,
} from "./gen/daemonApi";

const ENABLED_KEY = "mirrord.enabled";
const RECENT_KEY = "mirrord.recentTarget";
const ACTIVE_CONFIG_KEY = "mirrord.activeConfig";
const HIDE_CONFIG_NOTICE_KEY = "mirrord.hideConfigNotice";
const INSTALLED_KEY = "mirrord.installedVersion";
const DEFAULT_CONFIG = `{
  "feature": {
    "network": { "incoming": "mirror", "outgoing": true },
    "fs": "read",
    "env": true
  }
}
`;

let daemon: Promise<Daemon> | undefined;
let configLanguage: ConfigLanguage | undefined;
/** The connection should be replaced (new binary or settings) once no session runs. */
let staleDaemon = false;
let log: vscode.OutputChannel;
const sessionsByDebug = new Map<string, string>();
const progressSinks = new Map<string, (p: ProgressParams) => void>();
/** The versions this window installed or tried to (never twice). */
const applied = new Set<string>();

function extVersion(ctx: vscode.ExtensionContext): string {
  return String(ctx.extension.packageJSON.version ?? "0.0.0");
}

function binarySettings(): BinarySettings {
  const c = vscode.workspace.getConfiguration("mirrord");
  return { binaryPath: c.get<string>("binaryPath") ?? "", autoUpdate: parseAutoUpdate(c.get("autoUpdate", true)) };
}

const machine: Omit<LookupDeps, "pathDirs" | "dataDir"> = {
  async isExecutable(p) {
    try {
      const st = await fs.promises.stat(p);
      if (!st.isFile()) {
        return false;
      }
      await fs.promises.access(p, fs.constants.X_OK);
      return true;
    } catch {
      return false;
    }
  },
  version(p) {
    return new Promise((resolve) =>
      execFile(p, ["--version"], { timeout: 10000 }, (err, out) => resolve(err ? undefined : parseVersionOutput(String(out)))),
    );
  },
};

/** Looks the binary up again (every new daemon connection does). */
async function lookupBinary(ctx: vscode.ExtensionContext): Promise<Found> {
  const deps: LookupDeps = {
    ...machine,
    pathDirs: (process.env.PATH ?? "").split(path.delimiter),
    dataDir: defaultDataDir(process.env, os.homedir()),
  };
  return findBinary(binarySettings(), extVersion(ctx), deps, ctx.globalState.get<string>(INSTALLED_KEY));
}

function getDaemon(ctx: vscode.ExtensionContext): Promise<Daemon> {
  if (daemon && staleDaemon && sessionsByDebug.size === 0) {
    const old = daemon;
    daemon = undefined;
    staleDaemon = false;
    void old.then((d) => d.dispose()).catch(() => undefined);
  }
  if (!daemon) {
    daemon = (async () => {
      const settings = binarySettings();
      const found = await lookupBinary(ctx);
      log.appendLine(`mirrord binary: ${found.path} (${found.source}${found.version ? ", " + found.version : ""})`);
      if (found.note) {
        void vscode.window.showWarningMessage(`mirrord: ${found.note}`);
      }
      const policy: UpdatePolicy = { autoUpdate: settings.autoUpdate, binaryPath: settings.binaryPath || undefined };
      const d = await Daemon.connect(found.path, extVersion(ctx), policy);
      d.conn.onNotification(Notifications.progress, (p: ProgressParams) => progressSinks.get(p.token)?.(p));
      d.conn.onNotification(Notifications.sessionEnded, (p: SessionEndedParams) =>
        log.appendLine(`session ${p.sessionId} ended: ${p.reason}`),
      );
      d.conn.onNotification(Notifications.updateAvailable, (r: UpdateCheckResult) => void applyUpdate(ctx, d, policy, r));
      d.conn.onClose(() => (daemon = undefined));
      log.appendLine(`connected to the mirrord daemon ${d.info.version} (build ${d.info.buildHash}, pid ${d.info.pid})`);
      return d;
    })();
    daemon.catch(() => (daemon = undefined));
  }
  return daemon;
}

/**
 * Installs the version the daemon found under this window's policy
 * (autoUpdate true or pinned; never with binaryPath or false). New debug
 * sessions then use it: the lookup finds it, and its own daemon.
 */
async function applyUpdate(ctx: vscode.ExtensionContext, d: Daemon, policy: UpdatePolicy, r: UpdateCheckResult): Promise<void> {
  if (policy.binaryPath || policy.autoUpdate === false || !r.available || applied.has(r.latest)) {
    return;
  }
  applied.add(r.latest); // once per window, whatever the outcome
  log.appendLine(`mirrord ${r.latest} is available (running ${r.current}): installing it`);
  try {
    const res = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: `mirrord: installing ${r.latest}` },
      () => d.request<UpdateApplyResult>(Methods.updateApply, { autoUpdate: policy.autoUpdate, version: r.latest }),
    );
    await ctx.globalState.update(INSTALLED_KEY, res.version);
    staleDaemon = true;
    log.appendLine(`installed mirrord ${res.version} at ${res.path}`);
    void vscode.window.showInformationMessage(
      `mirrord: installed ${res.version}${res.previous ? ` (was ${res.previous})` : ""}; new debug sessions use it.`,
    );
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    log.appendLine(`update to ${r.latest} failed: ${msg}`);
    void vscode.window.showWarningMessage(
      `mirrord: installing ${r.latest} failed: ${msg}. The current binary stays in use; set mirrord.autoUpdate to false to stop updates.`,
    );
  }
}

/** The active config of this workspace (Select Active Config), absolute. */
function activeConfig(ctx: vscode.ExtensionContext): string | undefined {
  return ctx.workspaceState.get<string>(ACTIVE_CONFIG_KEY) || undefined;
}

function relPath(p: string): string {
  return vscode.workspace.asRelativePath(p, false);
}

const MENU_LINKS: [string, string][] = [
  ["Select active config", "mirrord.selectActiveConfig"],
  ["Open config", "mirrord.openConfig"],
  ["Show logs", "mirrord.showLogs"],
  ["Stop sessions", "mirrord.stopSessions"],
];

class Toggle {
  private readonly item: vscode.StatusBarItem;
  constructor(private readonly ctx: vscode.ExtensionContext) {
    this.item = vscode.window.createStatusBarItem("mirrord.toggle", vscode.StatusBarAlignment.Left, 0);
    this.item.name = "mirrord";
    this.item.command = "mirrord.toggle";
    ctx.subscriptions.push(this.item);
    this.render();
  }
  get enabled(): boolean {
    const def = vscode.workspace.getConfiguration("mirrord").get<boolean>("enabledByDefault", false);
    return this.ctx.workspaceState.get<boolean>(ENABLED_KEY, def);
  }
  async flip(): Promise<void> {
    await this.ctx.workspaceState.update(ENABLED_KEY, !this.enabled);
    this.render();
  }
  render(): void {
    const on = this.enabled;
    this.item.text = on ? "$(debug-alt) mirrord" : "$(debug-disconnect) mirrord";
    // The tooltip is the toolbar menu: links to the commands (as upstream's).
    const md = new vscode.MarkdownString(undefined, true);
    md.isTrusted = { enabledCommands: ["mirrord.toggle", "workbench.action.openSettings", ...MENU_LINKS.map(([, c]) => c)] };
    md.appendMarkdown(`**mirrord** is ${on ? "on" : "off"} for debug launches. [${on ? "Disable" : "Enable"}](command:mirrord.toggle)\n\n`);
    const active = activeConfig(this.ctx);
    md.appendMarkdown(`Active config: ${active ? md_escape(relPath(active)) : "default discovery"}\n\n`);
    md.appendMarkdown(
      [...MENU_LINKS.map(([t, c]) => `[${t}](command:${c})`), `[Settings](command:workbench.action.openSettings?${encodeURIComponent(JSON.stringify("mirrord"))})`].join(" · "),
    );
    this.item.tooltip = md;
    if (vscode.workspace.getConfiguration("mirrord").get<boolean>("showStatusBarButton", true)) {
      this.item.show();
    } else {
      this.item.hide();
    }
  }
}

function md_escape(s: string): string {
  return s.replace(/[\\`*_{}[\]()#+\-.!|]/g, "\\$&");
}

function folderOf(folder: vscode.WorkspaceFolder | undefined): string | undefined {
  return (folder ?? vscode.workspace.workspaceFolders?.[0])?.uri.fsPath;
}

/** Shows the target picker; an empty result means targetless. */
async function pickTarget(ctx: vscode.ExtensionContext, d: Daemon, configPath: string | undefined, env: Record<string, string>): Promise<{ target?: string; namespace?: string }> {
  let namespace: string | undefined;
  const recent = ctx.workspaceState.get<string>(RECENT_KEY) ?? ctx.globalState.get<string>(RECENT_KEY);
  for (;;) {
    const list = await d.request<TargetsListResult>(Methods.targetsList, { configPath, env, namespace });
    let page = firstPage(list.targets, recent);
    for (;;) {
      const items = pageItems(list.targets, page, recent);
      const chosen = await vscode.window.showQuickPick<PickItem & vscode.QuickPickItem>(items, {
        title: `mirrord: pick a target in ${list.currentNamespace}`,
        placeHolder: "Target to run the launch in the context of",
      });
      if (!chosen) {
        void vscode.window.showInformationMessage("mirrord: no target picked, running targetless.");
        return { namespace: list.currentNamespace };
      }
      if (chosen.value === TARGETLESS) {
        return { namespace: list.currentNamespace };
      }
      if (chosen.value.startsWith("page:")) {
        page = chosen.value.slice("page:".length);
        continue;
      }
      if (chosen.value === OTHER_NAMESPACE) {
        const ns = await d.request<NamespacesListResult>(Methods.namespacesList, { configPath, env });
        const pick = await vscode.window.showQuickPick(
          ns.namespaces.map((n) => ({ label: n, description: n === list.currentNamespace ? "(current)" : undefined })),
          { title: "mirrord: Select Another Namespace", placeHolder: "Namespace whose targets to list" },
        );
        if (pick) {
          namespace = pick.label;
        }
        break;
      }
      await ctx.workspaceState.update(RECENT_KEY, chosen.value);
      await ctx.globalState.update(RECENT_KEY, chosen.value);
      return { target: chosen.value, namespace: list.currentNamespace };
    }
  }
}

/** A config the launch cannot use; the message names the file, position and problem. */
class ConfigError extends Error {
  constructor(
    message: string,
    readonly file: string | undefined,
    readonly line: number,
    readonly col: number,
  ) {
    super(message);
  }
}

/** The data of a daemon error (daemon/api ErrorData). */
interface ErrorData {
  category?: string;
  help?: string;
  issues?: Issue[];
}

function issueError(issues: Issue[], fallbackFile: string | undefined): ConfigError {
  const first = issues[0];
  const file = first.file || fallbackFile;
  const where = file ? `${relPath(file)}${first.line ? `:${first.line}:${first.col ?? 1}` : ""}: ` : "";
  const more = issues.length > 1 ? ` (and ${issues.length - 1} more)` : "";
  return new ConfigError(`${where}${first.message}${more}`, file, first.line ?? 1, first.col ?? 1);
}

/** A config-category error of the daemon becomes a positioned ConfigError. */
function asConfigError(e: unknown, file: string | undefined): unknown {
  if (e instanceof ResponseError && e.code === ErrorCodes.Config) {
    const issues = (e.data as ErrorData | undefined)?.issues;
    if (issues && issues.length > 0) {
      return issueError(issues, file);
    }
  }
  return e;
}

const SOURCE_LABEL: Record<string, string> = {
  active: "the active config",
  env: "MIRRORD_CONFIG_FILE of the launch",
  workspace: "found in the workspace",
};

class Provider implements vscode.DebugConfigurationProvider {
  constructor(private readonly ctx: vscode.ExtensionContext, private readonly toggle: Toggle) {}

  async resolveDebugConfigurationWithSubstitutedVariables(
    folder: vscode.WorkspaceFolder | undefined,
    cfg: vscode.DebugConfiguration,
  ): Promise<vscode.DebugConfiguration | undefined | null> {
    const launch = cfg as LaunchConfig;
    if (!shouldRun(this.toggle.enabled, launch)) {
      return cfg;
    }
    try {
      return await this.start(folder, launch);
    } catch (e) {
      const msg = e instanceof Error ? e.message : String(e);
      log.appendLine(`launch refused: ${msg}`);
      if (e instanceof ConfigError && e.file) {
        const file = e.file;
        void vscode.window.showErrorMessage(`mirrord: the launch is refused: ${msg}`, "Open Config").then(async (a) => {
          if (a) {
            const pos = new vscode.Position(Math.max(0, e.line - 1), Math.max(0, e.col - 1));
            await vscode.window.showTextDocument(vscode.Uri.file(file), { selection: new vscode.Range(pos, pos) });
          }
        });
      } else {
        void vscode.window.showErrorMessage(`mirrord: ${msg}`);
      }
      return undefined;
    }
  }

  private noticeConfig(p: string, source: string): void {
    log.appendLine(`using the config ${p} (${source})`);
    if (this.ctx.globalState.get<boolean>(HIDE_CONFIG_NOTICE_KEY)) {
      return;
    }
    void vscode.window
      .showInformationMessage(`mirrord: using the config ${relPath(p)} (${SOURCE_LABEL[source] ?? source}).`, "Don't show again")
      .then((a) => a && this.ctx.globalState.update(HIDE_CONFIG_NOTICE_KEY, true));
  }

  private async start(folder: vscode.WorkspaceFolder | undefined, launch: LaunchConfig): Promise<vscode.DebugConfiguration> {
    const d = await getDaemon(this.ctx);
    const env = { ...(process.env as Record<string, string>), ...launchEnv(launch) };
    const ws = folderOf(folder);
    // The daemon picks the config (active, MIRRORD_CONFIG_FILE, workspace
    // default); without a folder there is nothing to discover, and the
    // session's runner still reads MIRRORD_CONFIG_FILE from the launch env.
    const cfg = ws
      ? chosenConfig(await d.request<ConfigDiscoverResult>(Methods.configDiscover, discoverParams(ws, activeConfig(this.ctx), env)))
      : { path: undefined, source: "none" };
    let resolved: ConfigResolveResult;
    try {
      resolved = await d.request<ConfigResolveResult>(Methods.configResolve, { path: cfg.path, env });
    } catch (e) {
      throw asConfigError(e, cfg.path);
    }
    if (resolved.errors.length > 0) {
      throw issueError(resolved.errors, cfg.path);
    }
    if (cfg.path) {
      this.noticeConfig(cfg.path, cfg.source);
    }
    let target: string | undefined;
    let namespace: string | undefined;
    if (!resolved.targetSet) {
      const t0 = Date.now();
      ({ target, namespace } = await pickTarget(this.ctx, d, cfg.path, env));
      log.appendLine(`target picked in ${((Date.now() - t0) / 1000).toFixed(1)}s: ${target ?? "targetless"}`);
    }
    const token = `mirrord-${randomUUID()}`;
    const res = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: "mirrord", cancellable: false },
      async (progress) => {
        progressSinks.set(token, (p) => p.value.message && progress.report({ message: p.value.message }));
        try {
          return await d.request<SessionsStartResult>(Methods.sessionsStart, {
            configPath: cfg.path,
            target: target ?? (resolved.targetSet ? undefined : TARGETLESS),
            namespace,
            launchEnv: env,
            cwd: typeof launch["cwd"] === "string" ? launch["cwd"] : ws,
            debuggerType: launch.type,
            workDoneToken: token,
          });
        } finally {
          progressSinks.delete(token);
        }
      },
    );
    for (const w of res.warnings) {
      void vscode.window.showWarningMessage(`mirrord: ${w}`);
    }
    log.appendLine(`session ${res.sessionId} on ${res.target}${res.reused ? " (warm agent reused)" : ""}`);
    const out = inject(launch, res.env, res.unset) as vscode.DebugConfiguration;
    out["__mirrordSession"] = res.sessionId;
    return out;
  }
}

/** Select Active Config: the daemon's candidates for this workspace. */
async function selectActiveConfig(ctx: vscode.ExtensionContext, toggle: Toggle): Promise<void> {
  const ws = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
  if (!ws) {
    void vscode.window.showErrorMessage("mirrord: open a folder first; its configs live in .mirrord or are named *mirrord.json.");
    return;
  }
  let r: ConfigDiscoverResult;
  try {
    const d = await getDaemon(ctx);
    r = await d.request<ConfigDiscoverResult>(Methods.configDiscover, { workspaceFolder: ws });
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    log.appendLine(`config/discover failed: ${msg}`);
    void vscode.window.showErrorMessage(`mirrord: cannot list the configs of ${ws}: ${msg}`);
    return;
  }
  const candidates = r.candidates;
  const discovered = r.default || undefined;
  const active = activeConfig(ctx);
  const pick = await vscode.window.showQuickPick(configItems(ws, candidates, active, discovered), {
    title: "mirrord: Select Active Config",
    placeHolder: "The config every mirrord launch of this workspace uses",
  });
  if (!pick) {
    return;
  }
  await ctx.workspaceState.update(ACTIVE_CONFIG_KEY, pick.path || undefined);
  toggle.render();
  log.appendLine(`active config: ${pick.path || "default discovery"}`);
  void vscode.window.showInformationMessage(`mirrord: active config: ${pick.path ? relPath(pick.path) : "default discovery"}`);
}

async function openConfig(ctx: vscode.ExtensionContext): Promise<void> {
  const ws = vscode.workspace.workspaceFolders?.[0];
  if (!ws) {
    void vscode.window.showErrorMessage("mirrord: open a folder first; the config lives in its .mirrord directory.");
    return;
  }
  const active = activeConfig(ctx);
  const uri = active ? vscode.Uri.file(active) : vscode.Uri.joinPath(ws.uri, ".mirrord", "mirrord.json");
  try {
    await vscode.workspace.fs.stat(uri);
  } catch {
    await vscode.workspace.fs.writeFile(uri, Buffer.from(DEFAULT_CONFIG));
  }
  await vscode.window.showTextDocument(uri);
}

async function menu(): Promise<void> {
  const items = [["Enable/Disable", "mirrord.toggle"], ...MENU_LINKS].map(([label, command]) => ({ label, command }));
  const pick = await vscode.window.showQuickPick(items, { title: "mirrord" });
  if (pick) {
    await vscode.commands.executeCommand(pick.command);
  }
}

export function activate(ctx: vscode.ExtensionContext): void {
  log = vscode.window.createOutputChannel("mirrord");
  const toggle = new Toggle(ctx);
  const lang = new ConfigLanguage(async () => (await lookupBinary(ctx)).path, log);
  configLanguage = lang;
  ctx.subscriptions.push(
    log,
    vscode.commands.registerCommand("mirrord.toggle", () => toggle.flip()),
    vscode.commands.registerCommand("mirrord.menu", menu),
    vscode.commands.registerCommand("mirrord.selectActiveConfig", () => selectActiveConfig(ctx, toggle)),
    vscode.commands.registerCommand("mirrord.openConfig", () => openConfig(ctx)),
    vscode.commands.registerCommand("mirrord.showLogs", () => log.show()),
    vscode.commands.registerCommand("mirrord.stopSessions", async () => {
      const d = await getDaemon(ctx);
      for (const id of sessionsByDebug.values()) {
        await d.request(Methods.sessionsStop, { sessionId: id }).catch(() => undefined);
      }
      sessionsByDebug.clear();
    }),
    vscode.debug.registerDebugConfigurationProvider("*", new Provider(ctx, toggle)),
    vscode.debug.onDidStartDebugSession((s) => {
      const id = s.configuration["__mirrordSession"];
      if (typeof id === "string") {
        sessionsByDebug.set(s.id, id);
      }
    }),
    vscode.debug.onDidTerminateDebugSession(async (s) => {
      const id = sessionsByDebug.get(s.id);
      if (!id) {
        return;
      }
      // Still in the map: getDaemon does not swap a stale connection now.
      const d = await getDaemon(ctx).catch(() => undefined);
      sessionsByDebug.delete(s.id);
      await d?.request(Methods.sessionsStop, { sessionId: id }).catch((e) => log.appendLine(`stopping ${id}: ${e}`));
    }),
    vscode.workspace.onDidChangeConfiguration((e) => {
      if (e.affectsConfiguration("mirrord")) {
        toggle.render();
      }
      if (e.affectsConfiguration("mirrord.binaryPath") || e.affectsConfiguration("mirrord.autoUpdate")) {
        log.appendLine("mirrord.binaryPath or mirrord.autoUpdate changed: the binary is looked up again");
        staleDaemon = true;
        void lang.restart();
        // Connected and idle: reconnect now, so the daemon applies the new
        // policy (its update check) without waiting for the next launch.
        if (daemon && sessionsByDebug.size === 0) {
          getDaemon(ctx).catch((err) => log.appendLine(`reconnecting: ${err}`));
        }
      }
    }),
  );
  lang.watch(ctx);
  // The binary lookup at activation: a bad setting or a missing binary is
  // told now, not at the first F5 (nothing is started).
  lookupBinary(ctx).then(
    (f) => log.appendLine(`mirrord binary: ${f.path} (${f.source})`),
    (e) => {
      const msg = e instanceof Error ? e.message : String(e);
      log.appendLine(msg);
      void vscode.window.showWarningMessage(`mirrord: ${msg}`);
    },
  );
}

/** VS Code waits for the returned promise: the daemon bridge and the language client shut down. */
export function deactivate(): Promise<unknown> {
  return Promise.all([daemon?.then((d) => d.dispose()).catch(() => undefined), configLanguage?.stop()]);
}
