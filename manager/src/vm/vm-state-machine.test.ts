import { describe, expect, it } from "vitest";
import { ConflictError } from "#shared/errors.js";
import { VM_STATES, assertTransition, canTransition, holdsCapacity, hyperstackStatus } from "./vm-state-machine.js";

describe("vm state machine", () => {
  it.each([
    ["Creating", "Starting", true],
    ["Starting", "Running", true],
    ["Running", "Stopping", true],
    ["Stopping", "Stopped", true],
    ["Stopped", "Starting", true],
    ["Running", "Migrating", true],
    ["Migrating", "Running", true],
    ["Running", "Hibernating", true],
    ["Hibernated", "Starting", true],
    ["Destroying", "Destroyed", true],
    ["Creating", "Running", false],
    ["Destroyed", "Starting", false],
    ["Hibernated", "Migrating", false],
    ["Destroying", "Running", false],
  ] as const)("%s -> %s allowed=%s", (from, to, ok) => {
    expect(canTransition(from, to)).toBe(ok);
  });

  it("names both states when refusing", () => {
    expect(() => assertTransition("Destroyed", "Starting")).toThrow(ConflictError);
    expect(() => assertTransition("Destroyed", "Starting")).toThrow(/Destroyed to Starting/);
  });

  it("Destroyed is terminal and every other state can reach Error or Destroyed eventually", () => {
    for (const s of VM_STATES) {
      if (s === "Destroyed") continue;
      const seen = new Set<string>([s]);
      const queue: string[] = [s];
      while (queue.length) {
        const cur = queue.shift()!;
        for (const t of VM_STATES) if (canTransition(cur as never, t) && !seen.has(t)) { seen.add(t); queue.push(t); }
      }
      expect(seen.has("Destroyed"), s).toBe(true);
    }
  });

  it("releases capacity only in Error and Destroyed", () => {
    expect(VM_STATES.filter((s) => !holdsCapacity(s))).toEqual(["Error", "Destroyed"]);
  });

  it("maps to Hyperstack statuses", () => {
    expect(hyperstackStatus("Running")).toMatchObject({ status: "ACTIVE", powerState: "RUNNING" });
    expect(hyperstackStatus("Stopped").status).toBe("SHUTOFF");
    expect(hyperstackStatus("Creating").status).toBe("CREATING");
    expect(hyperstackStatus("Destroying").status).toBe("DELETING");
  });
});
