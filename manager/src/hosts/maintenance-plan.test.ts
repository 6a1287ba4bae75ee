import { describe, expect, it } from "vitest";
import type { MaintenanceVmJson } from "../db/schema.js";
import type { VmState } from "../vm/vm-state-machine.js";
import { maintenanceCounts, nextStep, passOutcome, PASSTHROUGH_BLOCK_REASON, type VmOnHost } from "./maintenance-plan.js";

const vm = (state: VmState, passthroughGpu = false, id = 1): VmOnHost => ({ id, state, passthroughGpu });

describe("nextStep", () => {
  it.each<[string, VmOnHost, MaintenanceVmJson | undefined, boolean, ReturnType<typeof nextStep>]>([
    ["running VM: live", vm("Running"), undefined, false, { do: "migrate", mode: "live" }],
    ["running VM blocked before (capacity) is tried again", vm("Running"), { status: "blocked", reason: "no host" }, false, { do: "migrate", mode: "live" }],
    ["passthrough GPU VM without the flag: blocked", vm("Running", true), undefined, false, { do: "hold", entry: { status: "blocked", reason: PASSTHROUGH_BLOCK_REASON } }],
    ["passthrough GPU VM with the flag: cold", vm("Running", true), undefined, true, { do: "migrate", mode: "cold" }],
    ["stopped VM: its record moved (cold)", vm("Stopped"), undefined, false, { do: "migrate", mode: "cold" }],
    ["stopped VM the service refused: stays", vm("Stopped"), { status: "stays", reason: "local disk" }, false, { do: "keep" }],
    ["starting VM: waited for", vm("Starting"), undefined, false, { do: "hold", entry: { status: "queued", reason: "waiting for the VM to leave Starting" } }],
    ["migrating VM (not ours): waited for", vm("Migrating"), undefined, false, { do: "hold", entry: { status: "queued", reason: "waiting for the VM to leave Migrating" } }],
    ["hibernated VM stays", vm("Hibernated"), undefined, false, { do: "hold", entry: { status: "stays", reason: "the VM is Hibernated: it runs nothing on the host" } }],
    ["VM in Error stays", vm("Error"), undefined, false, { do: "hold", entry: { status: "stays", reason: "the VM is Error: it runs nothing on the host" } }],
    ["migration in flight: kept", vm("Migrating"), { status: "migrating", job_id: 3 }, false, { do: "keep" }],
    ["failed migration: not retried in the same run", vm("Running"), { status: "failed", error: "x" }, true, { do: "keep" }],
    ["moved: kept", vm("Running"), { status: "moved" }, false, { do: "keep" }],
  ])("%s", (_name, v, entry, allowCold, want) => {
    expect(nextStep(v, entry, allowCold)).toEqual(want);
  });
});

describe("passOutcome", () => {
  it.each<[string, VmOnHost[], Record<string, MaintenanceVmJson>, ReturnType<typeof passOutcome>]>([
    ["empty host", [], {}, "maintenance"],
    ["only stopped and hibernated VMs left", [vm("Stopped", false, 1), vm("Hibernated", false, 2)], { 1: { status: "stays" }, 2: { status: "stays" } }, "maintenance"],
    ["everything moved", [], { 1: { status: "moved" }, 2: { status: "moved" } }, "maintenance"],
    ["a migration in flight", [vm("Migrating", false, 1)], { 1: { status: "migrating" } }, "continue"],
    ["a blocked VM makes it wait", [vm("Running", true, 1)], { 1: { status: "blocked" } }, "continue"],
    ["a queued VM makes it wait", [vm("Starting", false, 1)], { 1: { status: "queued" } }, "continue"],
    ["the one VM left failed", [vm("Running", false, 1)], { 1: { status: "failed" }, 2: { status: "moved" } }, "error"],
    ["a failure while another still migrates", [vm("Running", false, 1), vm("Migrating", false, 2)], { 1: { status: "failed" }, 2: { status: "migrating" } }, "continue"],
    ["a running VM not yet seen", [vm("Running", false, 1)], {}, "continue"],
  ])("%s", (_name, onHost, entries, want) => {
    expect(passOutcome(onHost, entries)).toBe(want);
  });
});

describe("maintenanceCounts", () => {
  it("counts moved and remaining; staying VMs are not remaining", () => {
    expect(maintenanceCounts({ 1: { status: "moved" }, 2: { status: "stays" }, 3: { status: "blocked" }, 4: { status: "migrating" } }))
      .toEqual({ total: 4, moved: 1, remaining: 2 });
  });
});
