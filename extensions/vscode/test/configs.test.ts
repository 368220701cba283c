import { test } from "node:test";
import * as assert from "node:assert/strict";
import { configItems, isLspConfig } from "../src/configs";

test("isLspConfig: TOML and YAML configs by name or in .mirrord, not JSON", () => {
  const cases: [string, boolean][] = [
    ["/w/.mirrord/mirrord.toml", true],
    ["/w/.mirrord/staging.yaml", true],
    ["/w/app.mirrord.yml", true],
    ["/w/mirrord.toml", true],
    ["/w/.mirrord/mirrord.json", false],
    ["/w/Cargo.toml", false],
    ["/w/config.yaml", false],
    ["C:\\w\\.mirrord\\x.toml", true],
  ];
  for (const [p, want] of cases) {
    assert.equal(isLspConfig(p), want, p);
  }
});

test("configItems: default discovery first, candidates relative, the active one marked", () => {
  const items = configItems("/w", ["/w/.mirrord/a.json", "/w/.mirrord/mirrord.json"], "/w/.mirrord/a.json", "/w/.mirrord/mirrord.json");
  assert.deepEqual(items, [
    { label: "Default discovery", description: ".mirrord/mirrord.json", path: "" },
    { label: ".mirrord/a.json", description: "(active)", path: "/w/.mirrord/a.json" },
    { label: ".mirrord/mirrord.json", description: undefined, path: "/w/.mirrord/mirrord.json" },
  ]);
  const none = configItems("/w", [], undefined, undefined);
  assert.deepEqual(none, [{ label: "Default discovery", description: "no config file (active)", path: "" }]);
});
