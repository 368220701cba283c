// Which mirrord binary the extension runs, free of the VS Code API so that
// it is unit-tested: mirrord.binaryPath, then a mirrord on PATH of the
// wanted version, then the daemon-managed download (the daemon's updater
// installs releases under <data dir>/bin/<version>/mirrord and points
// <data dir>/current at the one to use), then any mirrord on PATH.
import * as path from "path";

/** The mirrord.autoUpdate setting: true, false or a pinned "x.y.z". */
export type AutoUpdate = boolean | string;

const VERSION = /^v?(\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?)$/;

/**
 * Reads mirrord.autoUpdate. A version is returned without a leading "v";
 * anything else is an error that names the setting and what it accepts.
 */
export function parseAutoUpdate(v: unknown): AutoUpdate {
  if (v === undefined || v === null) {
    return true;
  }
  if (typeof v === "boolean") {
    return v;
  }
  if (typeof v === "string") {
    const s = v.trim();
    if (s === "true" || s === "false") {
      return s === "true";
    }
    const m = VERSION.exec(s);
    if (m) {
      return m[1];
    }
  }
  throw new Error(`mirrord.autoUpdate is ${JSON.stringify(v)}: set it to true, false or a version such as "0.3.1"`);
}

/**
 * The version a binary found on PATH must have: the pinned one; for true
 * the latest the daemon installed (else this extension's own version,
 * released with the binary); none for false (any version will do).
 */
export function wantedVersion(auto: AutoUpdate, extensionVersion: string, latestInstalled?: string): string | undefined {
  if (typeof auto === "string") {
    return auto;
  }
  return auto ? latestInstalled || extensionVersion : undefined;
}

/** Reads `mirrord X.Y.Z` (the form `mirrord --version` prints). */
export function parseVersionOutput(out: string): string | undefined {
  const m = /^mirrord\s+v?(\S+)/m.exec(out.trim());
  return m ? m[1] : undefined;
}

/** What the lookup needs from the machine (fakes in the tests). */
export interface LookupDeps {
  /** Whether p is an executable regular file (symlinks followed). */
  isExecutable(p: string): Promise<boolean>;
  /** The version `p --version` prints, undefined when it fails. */
  version(p: string): Promise<string | undefined>;
  /** The PATH directories, in order. */
  pathDirs: string[];
  /** The user's mirrord data directory ($XDG_DATA_HOME/mirrord). */
  dataDir: string;
}

export type BinarySource = "binaryPath" | "path" | "managed";

export interface Found {
  path: string;
  source: BinarySource;
  version?: string;
  /** Why this one was taken although it is not the wanted version. */
  note?: string;
}

export interface BinarySettings {
  binaryPath?: string;
  autoUpdate: AutoUpdate;
}

/** The user's mirrord data directory, as the daemon's updater uses it. */
export function defaultDataDir(env: Record<string, string | undefined>, home: string): string {
  const x = env["XDG_DATA_HOME"];
  return x ? path.join(x, "mirrord") : path.join(home, ".local", "share", "mirrord");
}

/** Finds the binary; the error names the problem and the fix. */
export async function findBinary(
  settings: BinarySettings,
  extensionVersion: string,
  deps: LookupDeps,
  latestInstalled?: string,
): Promise<Found> {
  const configured = settings.binaryPath?.trim();
  if (configured) {
    if (await deps.isExecutable(configured)) {
      return { path: configured, source: "binaryPath" };
    }
    throw new Error(
      `mirrord.binaryPath is "${configured}", which is not an executable file: fix the setting, or clear it to use mirrord from PATH or the managed download`,
    );
  }
  const want = wantedVersion(settings.autoUpdate, extensionVersion, latestInstalled);
  let onPath: Found | undefined;
  for (const dir of deps.pathDirs) {
    if (!dir) {
      continue;
    }
    const p = path.join(dir, "mirrord");
    if (await deps.isExecutable(p)) {
      onPath = { path: p, source: "path", version: await deps.version(p) };
      break;
    }
  }
  if (onPath && (want === undefined || onPath.version === want)) {
    return onPath;
  }
  const managed =
    typeof settings.autoUpdate === "string"
      ? path.join(deps.dataDir, "bin", settings.autoUpdate, "mirrord")
      : path.join(deps.dataDir, "current");
  if (await deps.isExecutable(managed)) {
    return { path: managed, source: "managed", version: typeof settings.autoUpdate === "string" ? settings.autoUpdate : undefined };
  }
  if (onPath) {
    return {
      ...onPath,
      note: `mirrord on PATH is ${onPath.version ?? "of an unknown version"}, not ${want}; it is used until the daemon has installed ${want}`,
    };
  }
  throw new Error(
    "no mirrord binary found: install mirrord on PATH, or set mirrord.binaryPath to the binary" +
      (settings.autoUpdate === false ? "" : ` (the managed download, ${managed}, is not installed yet)`),
  );
}
