import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, describe, expect, it, vi } from "vitest";
import { lookUpSharedDir, sharedTier } from "./shared-dir.js";

describe("shared folder lookup", () => {
  const base = mkdtempSync(join(tmpdir(), "orbit-shared-dir-"));
  // A checkout with a sibling shared folder, and a lone one without.
  const withSibling = join(base, "team", "orbit");
  const lone = join(base, "lone", "orbit");
  mkdirSync(join(base, "team", "shared", "fixtures", "gpu"), { recursive: true });
  mkdirSync(withSibling, { recursive: true });
  mkdirSync(lone, { recursive: true });
  const elsewhere = join(base, "elsewhere");
  mkdirSync(join(elsewhere, "fixtures", "gpu"), { recursive: true });
  const warn = vi.spyOn(console, "warn").mockImplementation(() => undefined);
  afterEach(() => warn.mockClear());
  afterAll(() => { warn.mockRestore(); rmSync(base, { recursive: true, force: true }); });

  it("finds <repo>/../shared, and prefers ORBIT_SHARED_DIR", () => {
    expect(lookUpSharedDir({}, withSibling)).toEqual({ found: true, dir: join(base, "team", "shared") });
    expect(lookUpSharedDir({ ORBIT_SHARED_DIR: elsewhere }, withSibling)).toEqual({ found: true, dir: elsewhere });
    expect(lookUpSharedDir({ ORBIT_SHARED_DIR: elsewhere }, lone)).toEqual({ found: true, dir: elsewhere });
  });

  it("says why it found nothing, and refuses an ORBIT_SHARED_DIR that does not exist", () => {
    expect(lookUpSharedDir({}, lone)).toMatchObject({ found: false, deliberate: false });
    expect(lookUpSharedDir({ ORBIT_SHARED_DIR: "none" }, withSibling)).toMatchObject({ found: false, deliberate: true });
    expect(() => lookUpSharedDir({ ORBIT_SHARED_DIR: join(base, "nope") }, withSibling)).toThrow(/ORBIT_SHARED_DIR=.*nope: no such directory/);
  });

  it("runs a tier when its folder is there", () => {
    expect(sharedTier("fixtures/gpu", "captured GPU tests", { CI: "true" }, withSibling))
      .toEqual({ dir: join(base, "team", "shared", "fixtures", "gpu"), skipReason: "" });
    expect(warn).not.toHaveBeenCalled();
  });

  it("skips with one line outside CI when the folder or the tier's subfolder is missing", () => {
    expect(sharedTier("fixtures/gpu", "captured GPU tests", {}, lone).dir).toBeUndefined();
    expect(sharedTier("fixtures/traces", "trace tests", {}, withSibling).skipReason).toMatch(/fixtures\/traces missing/);
    expect(warn).toHaveBeenCalledTimes(2);
    expect(warn.mock.calls[0]![0]).toMatch(/^captured GPU tests skipped: no .*lone\/shared and ORBIT_SHARED_DIR unset/);
  });

  it("fails under CI when the folder is missing, unless it is absent on purpose", () => {
    expect(() => sharedTier("fixtures/gpu", "captured GPU tests", { CI: "true" }, lone)).toThrow(/captured GPU tests cannot run under CI/);
    expect(() => sharedTier("fixtures/traces", "trace tests", { CI: "true" }, withSibling)).toThrow(/fixtures\/traces missing/);
    expect(sharedTier("fixtures/gpu", "captured GPU tests", { CI: "true", ORBIT_SHARED_DIR: "none" }, withSibling))
      .toEqual({ dir: undefined, skipReason: "ORBIT_SHARED_DIR=none" });
  });
});
