// Config-file helpers free of the VS Code API (unit-tested): which files
// the TOML/YAML language client serves, and the labels of the active
// config picker.
import * as path from "path";

/** The TOML and YAML config files the language client serves (globs on the full path). */
export const LSP_CONFIG_PATTERNS = ["**/*mirrord.{toml,yaml,yml}", "**/.mirrord/*.{toml,yaml,yml}"];

const LSP_CONFIG_RE = [/(^|\/)[^/]*mirrord\.(toml|ya?ml)$/, /(^|\/)\.mirrord\/[^/]+\.(toml|ya?ml)$/];

/** Whether a file path is a TOML or YAML mirrord config. */
export function isLspConfig(fsPath: string): boolean {
  const p = fsPath.replace(/\\/g, "/");
  return LSP_CONFIG_RE.some((r) => r.test(p));
}

export interface ConfigItem {
  label: string;
  description?: string;
  /** The absolute path; "" for "use the default discovery". */
  path: string;
}

/**
 * The active-config picker's items: the default discovery first (naming
 * the file it finds), then every candidate the daemon reported, relative
 * to the workspace, the active one marked.
 */
export function configItems(workspace: string, candidates: string[], active: string | undefined, discovered: string | undefined): ConfigItem[] {
  const rel = (p: string) => path.relative(workspace, p) || p;
  const items: ConfigItem[] = [
    {
      label: "Default discovery",
      description: (discovered ? rel(discovered) : "no config file") + (active ? "" : " (active)"),
      path: "",
    },
  ];
  for (const c of candidates) {
    items.push({ label: rel(c), description: c === active ? "(active)" : undefined, path: c });
  }
  return items;
}
