// The target QuickPick's model, free of the VS Code API: pages by kind,
// the most recent target first, namespace switching and targetless.
import type { Target } from "./gen/daemonApi";

export const TARGETLESS = "targetless";
export const OTHER_NAMESPACE = "$other-namespace";

/** The kinds that get a page, in the order the pages are offered. */
const PAGE_ORDER = ["deployment", "rollout", "pod", "statefulset", "cronjob", "job", "replicaset", "service"];

export interface PickItem {
  label: string;
  description?: string;
  /** A target path, TARGETLESS, OTHER_NAMESPACE, or "page:<kind>". */
  value: string;
}

/** The kinds present among the available targets, in page order. */
export function kinds(targets: Target[]): string[] {
  const present = new Set(targets.filter((t) => t.available).map((t) => t.kind));
  return PAGE_ORDER.filter((k) => present.has(k));
}

function plural(kind: string): string {
  return kind.charAt(0).toUpperCase() + kind.slice(1) + "s";
}

/**
 * The items of one page: the most recent target (when it is still
 * available), the page's targets, the other pages, another namespace,
 * and targetless.
 */
export function pageItems(targets: Target[], page: string, recent: string | undefined): PickItem[] {
  const out: PickItem[] = [];
  const available = targets.filter((t) => t.available);
  if (recent && available.some((t) => t.path === recent)) {
    out.push({ label: `Use most recent target: ${recent}`, value: recent });
  }
  for (const t of available) {
    if (t.kind === page && t.path !== recent) {
      out.push({ label: t.path, value: t.path });
    }
  }
  for (const k of kinds(targets)) {
    if (k !== page) {
      out.push({ label: `Show ${plural(k)}`, value: `page:${k}` });
    }
  }
  out.push({ label: "Select Another Namespace", value: OTHER_NAMESPACE });
  out.push({ label: 'No Target ("targetless")', value: TARGETLESS });
  return out;
}

/** The first page: the kind of the most recent target, else the first kind present. */
export function firstPage(targets: Target[], recent: string | undefined): string {
  const ks = kinds(targets);
  const recentKind = recent ? targets.find((t) => t.path === recent)?.kind : undefined;
  if (recentKind && ks.includes(recentKind)) {
    return recentKind;
  }
  return ks[0] ?? "deployment";
}
