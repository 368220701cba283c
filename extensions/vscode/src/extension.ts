// The mirrord VS Code extension: a thin client of the mirrord daemon. A
// status-bar toggle turns mirrord on per workspace; a debug configuration
// provider for every debug type starts a session through the daemon and
// merges the env it returns into the launch. Everything it shows or
// injects comes from the daemon's API (daemon/api, types in src/gen).
import * as vscode from "vscode";
import { Daemon } from "./daemon";
import { inject, LaunchConfig, launchEnv, pickConfig, shouldRun } from "./launch";
import { firstPage, OTHER_NAMESPACE, pageItems, PickItem, TARGETLESS } from "./picker";
import {
  ConfigDiscoverResult,
  ConfigResolveResult,
  Methods,
  NamespacesListResult,
  Notifications,
  ProgressParams,
  SessionEndedParams,
  SessionsStartResult,
  TargetsListResult,
} from "./gen/daemonApi";

const ENABLED_KEY = "mirrord.enabled";
const RECENT_KEY = "mirrord.recentTarget";
const DEFAULT_CONFIG = `{
  "feature": {
    "network": { "incoming": "mirror", "outgoing": true },
    "fs": "read",
    "env": true
  }
}
`;

let daemon: Promise<Daemon> | undefined;
let log: vscode.OutputChannel;
let activeConfig: string | undefined;
const sessionsByDebug = new Map<string, string>();
const progressSinks = new Map<string, (p: ProgressParams) => void>();

function binary(): string {
  const p = vscode.workspace.getConfiguration("mirrord").get<string>("binaryPath");
  return p && p.trim() !== "" ? p : "mirrord";
}

function getDaemon(ctx: vscode.ExtensionContext): Promise<Daemon> {
  if (!daemon) {
    const version = String(ctx.extension.packageJSON.version ?? "0.0.0");
    daemon = Daemon.connect(binary(), version).then((d) => {
      d.conn.onNotification(Notifications.progress, (p: ProgressParams) => progressSinks.get(p.token)?.(p));
      d.conn.onNotification(Notifications.sessionEnded, (p: SessionEndedParams) =>
        log.appendLine(`session ${p.sessionId} ended: ${p.reason}`),
      );
      d.conn.onClose(() => (daemon = undefined));
      log.appendLine(`connected to the mirrord daemon ${d.info.version}`);
      return d;
    });
    daemon.catch(() => (daemon = undefined));
  }
  return daemon;
}

class Toggle {
  private readonly item: vscode.StatusBarItem;
  constructor(private readonly ctx: vscode.ExtensionContext) {
    this.item = vscode.window.createStatusBarItem(vscode.StatusBarAlignment.Left, 0);
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
    this.item.text = this.enabled ? "$(debug-alt) mirrord" : "$(debug-disconnect) mirrord";
    this.item.tooltip = this.enabled ? "mirrord is on for debug launches: click to turn it off" : "mirrord is off: click to turn it on";
    if (vscode.workspace.getConfiguration("mirrord").get<boolean>("showStatusBarButton", true)) {
      this.item.show();
    } else {
      this.item.hide();
    }
  }
}

function folderOf(folder: vscode.WorkspaceFolder | undefined): string | undefined {
  return (folder ?? vscode.workspace.workspaceFolders?.[0])?.uri.fsPath;
}

/** Shows the target picker; undefined means targetless. */
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
        return {};
      }
      if (chosen.value === TARGETLESS) {
        return {};
      }
      if (chosen.value.startsWith("page:")) {
        page = chosen.value.slice("page:".length);
        continue;
      }
      if (chosen.value === OTHER_NAMESPACE) {
        const ns = await d.request<NamespacesListResult>(Methods.namespacesList, { configPath, env });
        const pick = await vscode.window.showQuickPick(ns.namespaces, { title: "mirrord: namespace" });
        if (pick) {
          namespace = pick;
        }
        break;
      }
      await ctx.workspaceState.update(RECENT_KEY, chosen.value);
      await ctx.globalState.update(RECENT_KEY, chosen.value);
      return { target: chosen.value, namespace: namespace ?? list.currentNamespace };
    }
  }
}

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
      void vscode.window.showErrorMessage(`mirrord: ${msg}`);
      return undefined;
    }
  }

  private async start(folder: vscode.WorkspaceFolder | undefined, launch: LaunchConfig): Promise<vscode.DebugConfiguration> {
    const d = await getDaemon(this.ctx);
    const env = { ...(process.env as Record<string, string>), ...launchEnv(launch) };
    const ws = folderOf(folder);
    let discovered: string | undefined;
    if (ws) {
      const r = await d.request<ConfigDiscoverResult>(Methods.configDiscover, { workspaceFolder: ws, active: activeConfig, env });
      discovered = r.default || undefined;
    }
    const cfg = pickConfig(activeConfig, launch, discovered);
    if (cfg.path) {
      log.appendLine(`using the config ${cfg.path} (${cfg.source})`);
    }
    const resolved = await d.request<ConfigResolveResult>(Methods.configResolve, { path: cfg.path, env });
    if (resolved.errors.length > 0) {
      const first = resolved.errors[0];
      throw new Error(`${first.file}:${first.line}:${first.col}: ${first.message}`);
    }
    let target: string | undefined;
    let namespace: string | undefined;
    if (!resolved.targetSet) {
      ({ target, namespace } = await pickTarget(this.ctx, d, cfg.path, env));
    }
    const token = `mirrord-${Date.now()}`;
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

async function selectActiveConfig(): Promise<void> {
  const files = await vscode.workspace.findFiles("{**/*mirrord.{json,toml,yml,yaml},**/.mirrord/*.{json,toml,yml,yaml}}", "**/node_modules/**");
  const items = files.map((f) => ({ label: vscode.workspace.asRelativePath(f), path: f.fsPath }));
  const pick = await vscode.window.showQuickPick([{ label: "(none: use the default discovery)", path: "" }, ...items], {
    title: "mirrord: active config",
  });
  if (pick) {
    activeConfig = pick.path || undefined;
  }
}

async function openConfig(): Promise<void> {
  const ws = vscode.workspace.workspaceFolders?.[0];
  if (!ws) {
    void vscode.window.showErrorMessage("mirrord: open a folder first; the config lives in its .mirrord directory.");
    return;
  }
  const uri = activeConfig ? vscode.Uri.file(activeConfig) : vscode.Uri.joinPath(ws.uri, ".mirrord", "mirrord.json");
  try {
    await vscode.workspace.fs.stat(uri);
  } catch {
    await vscode.workspace.fs.writeFile(uri, Buffer.from(DEFAULT_CONFIG));
  }
  await vscode.window.showTextDocument(uri);
}

export function activate(ctx: vscode.ExtensionContext): void {
  log = vscode.window.createOutputChannel("mirrord");
  const toggle = new Toggle(ctx);
  ctx.subscriptions.push(
    log,
    vscode.commands.registerCommand("mirrord.toggle", () => toggle.flip()),
    vscode.commands.registerCommand("mirrord.selectActiveConfig", selectActiveConfig),
    vscode.commands.registerCommand("mirrord.openConfig", openConfig),
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
      sessionsByDebug.delete(s.id);
      const d = await getDaemon(ctx);
      await d.request(Methods.sessionsStop, { sessionId: id }).catch((e) => log.appendLine(`stopping ${id}: ${e}`));
    }),
    vscode.workspace.onDidChangeConfiguration((e) => e.affectsConfiguration("mirrord") && toggle.render()),
  );
}

export function deactivate(): void {
  void daemon?.then((d) => d.dispose());
}
