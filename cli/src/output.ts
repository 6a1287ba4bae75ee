// Tables for people (cli-table3, no colors so they survive pipes), JSON for scripts.
import Table from "cli-table3";

export interface Out {
  write(s: string): unknown;
}

/** How a value reads in a table cell: nothing is "-", lists are comma-separated. */
export function cell(v: unknown): string {
  if (v === null || v === undefined || v === "") return "-";
  if (Array.isArray(v)) return v.length ? v.map(cell).join(", ") : "-";
  if (typeof v === "object") return JSON.stringify(v);
  return String(v);
}

export function printTable(out: Out, head: string[], rows: unknown[][]): void {
  const t = new Table({ head, style: { head: [], border: [] } });
  t.push(...rows.map((r) => r.map(cell)));
  out.write(t.toString() + "\n");
}

/** One object as a two-column table of field and value. */
export function printFields(out: Out, fields: [string, unknown][]): void {
  const t = new Table({ style: { head: [], border: [] } });
  t.push(...fields.map(([k, v]) => ({ [k]: cell(v) })));
  out.write(t.toString() + "\n");
}

export function printJson(out: Out, v: unknown): void {
  out.write(JSON.stringify(v, null, 2) + "\n");
}
