// Turns a zod issue into one line an operator can act on: the exact key path as written in the
// file (snake_case, `gpus[0].model`), what was expected and what was found.
import type { z } from "zod";

export type IssuePath = readonly PropertyKey[];

export function formatIssuePath(p: IssuePath): string {
  let out = "";
  for (const seg of p) {
    if (typeof seg === "number") out += `[${seg}]`;
    else out += out === "" ? String(seg) : `.${String(seg)}`;
  }
  return out === "" ? "(top level)" : out;
}

function valueAt(root: unknown, p: IssuePath): unknown {
  let cur: unknown = root;
  for (const seg of p) {
    if (cur === null || typeof cur !== "object") return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[seg];
  }
  return cur;
}

export function describeValue(v: unknown): string {
  if (v === undefined) return "nothing";
  if (v === null) return "null";
  if (Array.isArray(v)) return "a list";
  if (typeof v === "object") return "a mapping";
  if (typeof v === "string") return JSON.stringify(v);
  return `${typeof v} ${String(v)}`;
}

function quote(v: unknown): string {
  return typeof v === "string" ? JSON.stringify(v) : String(v);
}

export interface IssueMessage {
  /** Exact path of the bad key, e.g. `libvirt.domain_type`. */
  path: string;
  message: string;
}

/** One message per bad key; `input` is the raw document the issue refers to. */
export function issueToMessages(issue: z.core.$ZodIssue, input: unknown): IssueMessage[] {
  if (issue.code === "unrecognized_keys") {
    return issue.keys.map((k) => ({ path: formatIssuePath([...issue.path, k]), message: "unknown key" }));
  }
  return [issueToMessage(issue, input)];
}

function issueToMessage(issue: z.core.$ZodIssue, input: unknown): IssueMessage {
  const where = formatIssuePath(issue.path);
  const got = valueAt(input, issue.path);
  switch (issue.code) {
    case "invalid_type": {
      const expected = issue.expected === "int" ? "integer" : issue.expected;
      if (got === undefined) return { path: where, message: `required (expected ${expected})` };
      return { path: where, message: `expected ${expected}, got ${describeValue(got)}` };
    }
    case "invalid_value":
      return { path: where, message: `expected ${issue.values.map(quote).join(" | ")}, got ${describeValue(got)}` };
    case "too_small": {
      const op = issue.inclusive === false ? ">" : ">=";
      const what = issue.origin === "string" ? "length " : issue.origin === "array" ? "items " : "";
      return { path: where, message: `expected ${what}${op} ${String(issue.minimum)}, got ${describeValue(got)}` };
    }
    case "too_big": {
      const op = issue.inclusive === false ? "<" : "<=";
      return { path: where, message: `expected ${op} ${String(issue.maximum)}, got ${describeValue(got)}` };
    }
    default:
      return { path: where, message: `${issue.message}, got ${describeValue(got)}` };
  }
}
