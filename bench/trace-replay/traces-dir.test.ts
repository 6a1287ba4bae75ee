import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { resolveTracesDir, TracesDirError } from "./traces-dir.js";

describe("resolveTracesDir", () => {
  const dir = mkdtempSync(join(tmpdir(), "orbit-traces-"));
  writeFileSync(join(dir, "openb_node_list_gpu_node.csv"), "sn,cpu_milli,memory_mib,gpu,model\n");
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const needed = ["openb_node_list_gpu_node.csv"];

  it("takes --traces-dir, else ORBIT_TRACES_DIR", () => {
    expect(resolveTracesDir(dir, { ORBIT_TRACES_DIR: "/elsewhere" }, needed)).toBe(dir);
    expect(resolveTracesDir(undefined, { ORBIT_TRACES_DIR: dir }, needed)).toBe(dir);
  });

  it("says in one line how to get the trace when no folder is given", () => {
    const err = (() => { try { resolveTracesDir(undefined, {}, needed); } catch (e) { return e; } })();
    expect(err).toBeInstanceOf(TracesDirError);
    expect((err as Error).message).not.toContain("\n");
    expect((err as Error).message).toMatch(/--traces-dir DIR or set ORBIT_TRACES_DIR.*openb_.*cluster-trace-gpu-v2023/);
  });

  it("names the files a given folder lacks", () => {
    expect(() => resolveTracesDir(dir, {}, [...needed, "openb_pod_list_default.csv"]))
      .toThrow(/lacks openb_pod_list_default\.csv: the trace folder must hold/);
    expect(() => resolveTracesDir(join(dir, "nope"), {}, needed)).toThrow(TracesDirError);
  });
});
