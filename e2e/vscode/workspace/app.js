// The debuggee of the VS Code e2e (e2e/vscode). It records what proves
// where it ran: the pod's env var and the pod's /app/test.txt (the laptop
// has neither). run.sh exports E2E_OUT (the extension host and this
// process inherit it); the launch config names the case in E2E_CASE.
const fs = require("fs");
const path = require("path");
const out = process.env.E2E_OUT;
const name = process.env.E2E_CASE || "unnamed";
const rec = {
  case: name,
  MIRRORD_FAKE_VAR_FIRST: process.env.MIRRORD_FAKE_VAR_FIRST ?? null,
  // set by feature.env.override of the config the launch used (scenarios 4 and 6)
  E2E_CONFIG: process.env.E2E_CONFIG ?? null,
  pid: process.pid,
  node: process.version,
  at: new Date().toISOString(),
};
try {
  rec.testTxt = fs.readFileSync("/app/test.txt", "utf8");
} catch (e) {
  rec.testTxt = null;
  rec.testTxtError = e.code || String(e);
}
console.log(JSON.stringify(rec));
if (out) {
  fs.mkdirSync(out, { recursive: true });
  // write then rename, so the test never reads a partial file
  fs.writeFileSync(path.join(out, name + ".json.tmp"), JSON.stringify(rec, null, 2));
  fs.renameSync(path.join(out, name + ".json.tmp"), path.join(out, name + ".json"));
}
