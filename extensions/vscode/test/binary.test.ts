import { test } from "node:test";
import * as assert from "node:assert/strict";
import { AutoUpdate, defaultDataDir, findBinary, LookupDeps, parseAutoUpdate, parseVersionOutput, wantedVersion } from "../src/binary";

/** A machine with these executables (path → version). */
function machine(bins: Record<string, string | undefined>, pathDirs = ["/usr/local/bin", "/usr/bin"]): LookupDeps {
  return {
    isExecutable: async (p) => p in bins,
    version: async (p) => bins[p],
    pathDirs,
    dataDir: "/home/u/.local/share/mirrord",
  };
}

test("parseAutoUpdate: true, false, a version; anything else names the setting", () => {
  const ok: [unknown, AutoUpdate][] = [
    [true, true],
    [false, false],
    [undefined, true],
    [null, true],
    ["0.3.1", "0.3.1"],
    ["v0.3.1", "0.3.1"],
    [" 1.2.3-rc.1 ", "1.2.3-rc.1"],
    ["false", false],
  ];
  for (const [v, want] of ok) {
    assert.equal(parseAutoUpdate(v), want, JSON.stringify(v));
  }
  for (const v of ["latest", "1.2", 3, {}]) {
    assert.throws(() => parseAutoUpdate(v), /mirrord\.autoUpdate is .*true, false or a version/, JSON.stringify(v));
  }
});

test("wantedVersion: pinned, else the latest installed or the extension's, none for false", () => {
  assert.equal(wantedVersion("0.2.0", "0.1.0", "0.3.0"), "0.2.0");
  assert.equal(wantedVersion(true, "0.1.0", undefined), "0.1.0");
  assert.equal(wantedVersion(true, "0.1.0", "0.3.0"), "0.3.0");
  assert.equal(wantedVersion(false, "0.1.0", "0.3.0"), undefined);
});

test("parseVersionOutput reads `mirrord X.Y.Z`", () => {
  assert.equal(parseVersionOutput("mirrord 0.1.0\n"), "0.1.0");
  assert.equal(parseVersionOutput("mirrord v3.250.0"), "3.250.0");
  assert.equal(parseVersionOutput("something else"), undefined);
});

test("defaultDataDir follows XDG_DATA_HOME as the daemon's updater does", () => {
  assert.equal(defaultDataDir({ XDG_DATA_HOME: "/x" }, "/home/u"), "/x/mirrord");
  assert.equal(defaultDataDir({}, "/home/u"), "/home/u/.local/share/mirrord");
});

test("findBinary: binaryPath, then PATH of the wanted version, then the managed download, then any PATH", async () => {
  const managed = "/home/u/.local/share/mirrord/current";
  const pinned = "/home/u/.local/share/mirrord/bin/0.2.0/mirrord";
  const cases: {
    name: string;
    bins: Record<string, string | undefined>;
    settings: { binaryPath?: string; autoUpdate: AutoUpdate };
    installed?: string;
    want?: { path: string; source: string; note?: RegExp };
    err?: RegExp;
  }[] = [
    {
      name: "binaryPath wins over everything",
      bins: { "/opt/m/mirrord": undefined, "/usr/bin/mirrord": "0.1.0", [managed]: "0.1.0" },
      settings: { binaryPath: "/opt/m/mirrord", autoUpdate: true },
      want: { path: "/opt/m/mirrord", source: "binaryPath" },
    },
    {
      name: "a binaryPath that is not executable is an error naming the setting",
      bins: { "/usr/bin/mirrord": "0.1.0" },
      settings: { binaryPath: "/nope/mirrord", autoUpdate: true },
      err: /mirrord\.binaryPath is "\/nope\/mirrord", which is not an executable file: fix the setting/,
    },
    {
      name: "PATH with the extension's version",
      bins: { "/usr/bin/mirrord": "0.1.0", [managed]: "0.3.0" },
      settings: { autoUpdate: true },
      want: { path: "/usr/bin/mirrord", source: "path" },
    },
    {
      name: "the first PATH entry is the one looked at",
      bins: { "/usr/local/bin/mirrord": "0.0.9", "/usr/bin/mirrord": "0.1.0", [managed]: "0.3.0" },
      settings: { autoUpdate: true },
      want: { path: managed, source: "managed" },
    },
    {
      name: "after an update the installed version is the wanted one",
      bins: { "/usr/bin/mirrord": "0.1.0", [managed]: "0.3.0" },
      settings: { autoUpdate: true },
      installed: "0.3.0",
      want: { path: managed, source: "managed" },
    },
    {
      name: "pinned: PATH of that version",
      bins: { "/usr/bin/mirrord": "0.2.0", [pinned]: "0.2.0" },
      settings: { autoUpdate: "0.2.0" },
      want: { path: "/usr/bin/mirrord", source: "path" },
    },
    {
      name: "pinned: the managed download of that version, not current",
      bins: { "/usr/bin/mirrord": "0.1.0", [pinned]: "0.2.0", [managed]: "0.3.0" },
      settings: { autoUpdate: "0.2.0" },
      want: { path: pinned, source: "managed" },
    },
    {
      name: "false: any version on PATH",
      bins: { "/usr/bin/mirrord": "0.0.1", [managed]: "0.3.0" },
      settings: { autoUpdate: false },
      want: { path: "/usr/bin/mirrord", source: "path" },
    },
    {
      name: "nothing managed yet: PATH of another version, with a note",
      bins: { "/usr/bin/mirrord": "0.0.1" },
      settings: { autoUpdate: true },
      want: { path: "/usr/bin/mirrord", source: "path", note: /mirrord on PATH is 0\.0\.1, not 0\.1\.0/ },
    },
    {
      name: "no binary at all names both fixes",
      bins: {},
      settings: { autoUpdate: true },
      err: /no mirrord binary found: install mirrord on PATH, or set mirrord\.binaryPath .*managed download/,
    },
  ];
  for (const c of cases) {
    const p = findBinary(c.settings, "0.1.0", machine(c.bins), c.installed);
    if (c.err) {
      await assert.rejects(p, c.err, c.name);
      continue;
    }
    const got = await p;
    assert.equal(got.path, c.want!.path, c.name);
    assert.equal(got.source, c.want!.source, c.name);
    if (c.want!.note) {
      assert.match(got.note ?? "", c.want!.note, c.name);
    } else {
      assert.equal(got.note, undefined, c.name);
    }
  }
});
