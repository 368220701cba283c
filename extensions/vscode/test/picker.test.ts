import { test } from "node:test";
import * as assert from "node:assert/strict";
import { firstPage, OTHER_NAMESPACE, pageItems, TARGETLESS } from "../src/picker";

const targets = [
  { path: "deployment/web", kind: "deployment", available: true },
  { path: "deployment/down", kind: "deployment", available: false },
  { path: "pod/web-1", kind: "pod", available: true },
];

test("pages: available targets of the page, other pages, namespace and targetless last", () => {
  const items = pageItems(targets, "deployment", undefined).map((i) => i.value);
  assert.deepEqual(items, ["deployment/web", "page:pod", OTHER_NAMESPACE, TARGETLESS]);
});

test("the most recent target comes first, once", () => {
  const items = pageItems(targets, "pod", "pod/web-1").map((i) => i.label);
  assert.equal(items[0], "Use most recent target: pod/web-1");
  assert.equal(items.filter((l) => l === "pod/web-1").length, 0);
  assert.equal(firstPage(targets, "pod/web-1"), "pod");
  assert.equal(firstPage(targets, "deployment/gone"), "deployment");
});

test("an unavailable recent target is not offered", () => {
  const items = pageItems(targets, "deployment", "deployment/down").map((i) => i.value);
  assert.equal(items.includes("deployment/down"), false);
});
