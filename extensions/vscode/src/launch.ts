// The decisions of a debug launch, free of the VS Code API so that they
// are unit-tested with Node's test runner: whether mirrord runs, how the
// daemon is asked which config applies, and how the session's env is merged into the launch.
import type { ConfigDiscoverParams, ConfigDiscoverResult } from "./gen/daemonApi";

/** The launch config fields the decisions read. */
export interface LaunchConfig {
  type?: string;
  request?: string;
  env?: Record<string, string | null | undefined>;
  __parentId?: unknown;
  [key: string]: unknown;
}

/** Set on a launch we injected, so it is never injected twice. */
export const INJECTED = "__MIRRORD_EXT_INJECTED";

/**
 * Whether this launch runs under mirrord: the launch env's MIRRORD_ACTIVE
 * ("1" on, "0" off, compared as strings as upstream does) wins over the
 * toggle; attach requests, child sessions and launches already injected
 * are never touched.
 */
export function shouldRun(toggle: boolean, cfg: LaunchConfig): boolean {
  if (cfg.request === "attach" || cfg.__parentId !== undefined) {
    return false;
  }
  const env = cfg.env ?? {};
  if (env[INJECTED] === "true") {
    return false;
  }
  const active = env["MIRRORD_ACTIVE"];
  if (active === "1") {
    return true;
  }
  if (active === "0") {
    return false;
  }
  return toggle;
}

/**
 * The config/discover request of a launch. The daemon applies the order:
 * the active config, else MIRRORD_CONFIG_FILE of env (a relative path is
 * taken relative to the workspace), else the workspace's default file.
 */
export function discoverParams(workspaceFolder: string, active: string | undefined, env: Record<string, string>): ConfigDiscoverParams {
  return { workspaceFolder, active, env };
}

/** The config the daemon's discovery chose, and where it came from (for the notification that names it). */
export function chosenConfig(r: ConfigDiscoverResult): { path?: string; source: string } {
  return r.default ? { path: r.default, source: r.source } : { source: "none" };
}

/**
 * The variables that keep a debugger's own processes and ports out of
 * mirrord's way, by debug type (as upstream's extension adds them).
 */
export function debuggerEnv(type: string | undefined): Record<string, string> {
  const out: Record<string, string> = { MIRRORD_IGNORE_DEBUGGER_PORTS: "45000-65535" };
  switch (type) {
    case "go":
      out["MIRRORD_SKIP_PROCESSES"] = "dlv;debugserver;compile;go;asm;cgo;link;git;gcc;as;ld;collect2;cc1";
      break;
    case "python":
    case "debugpy":
      out["MIRRORD_DETECT_DEBUGGER_PORT"] = "debugpy";
      break;
    case "java":
      out["MIRRORD_DETECT_DEBUGGER_PORT"] = "javaagent";
      break;
  }
  return out;
}

/**
 * The launch env before the session starts: the user's env plus the
 * debugger's variables (the user's own values win), without nulls. It is
 * also the launchEnv sent to sessions/start.
 */
export function launchEnv(cfg: LaunchConfig): Record<string, string> {
  const out: Record<string, string> = { ...debuggerEnv(cfg.type) };
  for (const [k, v] of Object.entries(cfg.env ?? {})) {
    if (typeof v === "string") {
      out[k] = v;
    }
  }
  return out;
}

/**
 * The launch config to run: the session's env laid over the launch env
 * (the session wins on conflicts), its unset keys removed, and the
 * injection marker set. The input is not modified.
 */
export function inject(cfg: LaunchConfig, env: Record<string, string>, unset: string[]): LaunchConfig {
  const merged: Record<string, string> = { ...launchEnv(cfg), ...env };
  for (const k of unset) {
    delete merged[k];
  }
  merged[INJECTED] = "true";
  return { ...cfg, env: merged };
}
