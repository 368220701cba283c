import { test } from "node:test";
import * as assert from "node:assert/strict";
import { chosenConfig, discoverParams, inject, INJECTED, LaunchConfig, launchEnv, shouldRun } from "../src/launch";

test("shouldRun: MIRRORD_ACTIVE wins over the toggle; attach, children and injected launches are skipped", () => {
  const cases: [string, boolean, LaunchConfig, boolean][] = [
    ["toggle on", true, { request: "launch" }, true],
    ["toggle off", false, { request: "launch" }, false],
    ["MIRRORD_ACTIVE=1, toggle off", false, { env: { MIRRORD_ACTIVE: "1" } }, true],
    ["MIRRORD_ACTIVE=0, toggle on", true, { env: { MIRRORD_ACTIVE: "0" } }, false],
    ["a number 1 is not \"1\"", false, { env: { MIRRORD_ACTIVE: 1 as unknown as string } }, false],
    ["attach", true, { request: "attach" }, false],
    ["child session", true, { __parentId: "p" }, false],
    ["already injected", true, { env: { [INJECTED]: "true" } }, false],
  ];
  for (const [name, toggle, cfg, want] of cases) {
    assert.equal(shouldRun(toggle, cfg), want, name);
  }
});

test("discoverParams/chosenConfig: the daemon is given the active config and the launch env, and its choice is used", () => {
  const env = { MIRRORD_CONFIG_FILE: "rel.json" };
  assert.deepEqual(discoverParams("/w", "/w/.mirrord/a.json", env), { workspaceFolder: "/w", active: "/w/.mirrord/a.json", env });
  assert.deepEqual(JSON.parse(JSON.stringify(discoverParams("/w", undefined, {}))), { workspaceFolder: "/w", env: {} });
  assert.deepEqual(chosenConfig({ default: "/w/.mirrord/a.json", source: "active", candidates: [] }), { path: "/w/.mirrord/a.json", source: "active" });
  assert.deepEqual(chosenConfig({ default: "/w/rel.json", source: "env", candidates: [] }), { path: "/w/rel.json", source: "env" });
  assert.deepEqual(chosenConfig({ default: "/w/.mirrord/mirrord.json", source: "workspace", candidates: [] }), { path: "/w/.mirrord/mirrord.json", source: "workspace" });
  assert.deepEqual(chosenConfig({ default: "", source: "none", candidates: ["/w/.mirrord/x.json"] }), { source: "none" });
});

test("launchEnv: debugger variables by type, the user's values win, nulls dropped", () => {
  const env = launchEnv({ type: "go", env: { A: "1", MIRRORD_IGNORE_DEBUGGER_PORTS: "1-2", B: null } });
  assert.equal(env["A"], "1");
  assert.equal(env["MIRRORD_IGNORE_DEBUGGER_PORTS"], "1-2");
  assert.match(env["MIRRORD_SKIP_PROCESSES"], /^dlv;/);
  assert.equal("B" in env, false);
  assert.equal(launchEnv({ type: "debugpy" })["MIRRORD_DETECT_DEBUGGER_PORT"], "debugpy");
  assert.equal(launchEnv({ type: "node" })["MIRRORD_DETECT_DEBUGGER_PORT"], undefined);
});

test("inject: the session's env wins, unset keys go, the marker is set, the input is unchanged", () => {
  const cfg = { type: "node", env: { KEEP: "k", SAME: "launch", GONE: "x" } };
  const out = inject(cfg, { SAME: "pod", LD_PRELOAD: "/b.so" }, ["GONE"]);
  assert.equal(out.env?.["KEEP"], "k");
  assert.equal(out.env?.["SAME"], "pod");
  assert.equal(out.env?.["LD_PRELOAD"], "/b.so");
  assert.equal("GONE" in (out.env ?? {}), false);
  assert.equal(out.env?.[INJECTED], "true");
  assert.equal(cfg.env.SAME, "launch");
});
