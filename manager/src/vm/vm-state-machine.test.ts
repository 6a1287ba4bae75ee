import { describe, expect, it } from "vitest";
import { ConflictError } from "#shared/errors.js";
import { VM_ACTIONS, VM_STATES, assertTransition, planAction, canTransition, holdsCapacity, onHostLost, reconcileWithHost, requireStopped, type HostDomainReport } from "./vm-state-machine.js";

describe("vm state machine", () => {
  it.each([
    ["Creating", "Starting", true],
    ["Creating", "Stopped", true],
    ["Starting", "Running", true],
    ["Running", "Stopping", true],
    ["Stopping", "Stopped", true],
    ["Stopped", "Starting", true],
    ["Running", "Migrating", true],
    ["Migrating", "Running", true],
    ["Stopped", "Migrating", true],
    ["Migrating", "Stopped", true],
    ["Migrating", "Starting", true],
    ["Migrating", "Destroying", false],
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
});

describe("what a host's report or silence means for a VM", () => {
  const running: HostDomainReport = { domain: "running", hostRebooted: false };
  const absent: HostDomainReport = { domain: "absent", hostRebooted: false };
  const shutoff: HostDomainReport = { domain: "stopped", detail: "shutoff (shutdown)", hostRebooted: false };
  const vm = (state: (typeof VM_STATES)[number], more: { holdsAllocation?: boolean; lastJob?: { kind: string; status: string; retryable: boolean } } = {}) =>
    ({ state, holdsAllocation: more.holdsAllocation ?? true, lastJob: more.lastJob });

  it("a silent host leaves running VMs Unknown (capacity held) and nothing else", () => {
    expect(onHostLost("Running")).toBe("Unknown");
    for (const s of VM_STATES.filter((x) => x !== "Running")) expect(onHostLost(s), s).toBeUndefined();
    expect(holdsCapacity("Unknown")).toBe(true);
  });

  it("Unknown becomes what the host reports when it is back", () => {
    expect(reconcileWithHost(vm("Unknown"), running)).toMatchObject({ to: "Running", powerState: "RUNNING" });
    expect(reconcileWithHost(vm("Unknown"), shutoff)).toMatchObject({ to: "Stopped", reason: "host reports the domain shutoff (shutdown)" });
    expect(reconcileWithHost(vm("Unknown"), absent)).toMatchObject({ to: "Stopped", reason: "domain not found on host" });
  });

  it("after a host reboot, VMs that were running and are not any more are Stopped with the reboot as the reason", () => {
    const gone = { domain: "absent", hostRebooted: true } as const;
    expect(reconcileWithHost(vm("Unknown"), gone)).toMatchObject({ to: "Stopped", reason: expect.stringMatching(/^host rebooted/) });
    expect(reconcileWithHost(vm("Running"), gone)).toMatchObject({ to: "Stopped", reason: expect.stringMatching(/^host rebooted/) });
    expect(reconcileWithHost(vm("Running"), { domain: "stopped", detail: "shutoff", hostRebooted: true }))
      .toMatchObject({ to: "Stopped", reason: "host rebooted: the domain is shutoff after the reboot" });
    // A domain the host restarted by itself (autostart) is simply running.
    expect(reconcileWithHost(vm("Unknown"), { domain: "running", hostRebooted: true })).toMatchObject({ to: "Running" });
    expect(reconcileWithHost(vm("Stopped"), gone)).toBeUndefined();
  });

  it("an Error VM whose domain runs is Running again, only while it still holds its capacity", () => {
    expect(reconcileWithHost(vm("Error", { lastJob: { kind: "vm.deploy", status: "failed", retryable: true } }), running)).toMatchObject({ to: "Running" });
    expect(reconcileWithHost(vm("Error", { holdsAllocation: false }), running)).toBeUndefined();
    expect(reconcileWithHost(vm("Error"), absent)).toBeUndefined();
  });

  it("an Error VM whose delete could not reach its host has the delete retried, even if the domain runs", () => {
    const failedDelete = { kind: "vm.destroy", status: "failed", retryable: true };
    expect(reconcileWithHost(vm("Error", { lastJob: failedDelete }), running)).toMatchObject({ retryDelete: true });
    expect(reconcileWithHost(vm("Error", { lastJob: failedDelete }), absent)).toMatchObject({ retryDelete: true });
    // A delete the host refused (not retryable) is left to the user.
    expect(reconcileWithHost(vm("Error", { lastJob: { ...failedDelete, retryable: false } }), absent)).toBeUndefined();
  });

  it("in-flight states belong to their jobs; every decision is an allowed transition", () => {
    for (const s of ["Creating", "Starting", "Stopping", "Destroying", "Migrating"] as const) {
      for (const r of [running, absent, shutoff]) expect(reconcileWithHost(vm(s), r), s).toBeUndefined();
    }
    for (const s of VM_STATES) {
      for (const r of [running, absent, shutoff, { ...absent, hostRebooted: true }]) {
        for (const lastJob of [undefined, { kind: "vm.destroy", status: "failed", retryable: true }]) {
          const d = reconcileWithHost(vm(s, { lastJob }), r);
          if (d && "to" in d) expect(canTransition(s, d.to), `${s} -> ${d.to}`).toBe(true);
          if (d && "retryDelete" in d) expect(canTransition(s, "Destroying")).toBe(true);
        }
      }
      const lost = onHostLost(s);
      if (lost) expect(canTransition(s, lost)).toBe(true);
    }
  });
});

describe("VM actions", () => {
  it.each([
    ["start", "Stopped", "Starting", "vm.start"],
    ["start", "Hibernated", "Starting", "vm.restore"],
    ["stop", "Running", "Stopping", "vm.stop"],
    ["shutdown", "Running", "Stopping", "vm.shutdown"],
    ["reboot", "Running", undefined, "vm.reboot"],
    ["hard-reboot", "Running", undefined, "vm.hard-reboot"],
    ["hibernate", "Running", "Hibernating", "vm.hibernate"],
    ["hibernate-restore", "Hibernated", "Starting", "vm.restore"],
    ["reinstall", "Running", "Reinstalling", "vm.reinstall-and-start"],
    ["reinstall", "Stopped", "Reinstalling", "vm.reinstall"],
  ] as const)("%s from %s shows %s while %s runs", (action, from, during, job) => {
    expect(planAction(action, from)).toEqual({ during, job });
  });

  it("refuses an action that makes no sense in the state with a conflict naming the state", () => {
    for (const [action, from] of [["stop", "Stopped"], ["start", "Running"], ["hibernate", "Hibernated"], ["hibernate-restore", "Stopped"], ["reboot", "Starting"], ["start", "Creating"]] as const) {
      let err: unknown;
      try { planAction(action, from, "virtual machine 7"); } catch (e) { err = e; }
      expect(err).toBeInstanceOf(ConflictError);
      expect((err as ConflictError).message).toContain(`virtual machine 7 cannot ${action} while ${from}`);
      expect((err as ConflictError).details).toMatchObject({ state: from, action });
    }
  });

  it("every action's in-flight state is a transition the state machine allows from each state it starts from", () => {
    for (const action of VM_ACTIONS) {
      for (const from of VM_STATES) {
        let plan: ReturnType<typeof planAction> | undefined;
        try { plan = planAction(action, from); } catch { continue; }
        if (plan.during) expect(canTransition(from, plan.during), `${action} from ${from}`).toBe(true);
        expect(holdsCapacity(from), `${action} from ${from}`).toBe(true);
      }
    }
  });

  it("refuses a reinstall where it makes no sense with a conflict naming the state", () => {
    for (const from of ["Creating", "Starting", "Stopping", "Hibernated", "Reinstalling", "Error", "Destroying", "Unknown"] as const) {
      expect(() => planAction("reinstall", from, "virtual machine 3")).toThrow(`virtual machine 3 cannot reinstall while ${from}`);
    }
  });

  it("a reinstall ends as the VM was, or in Error; a clone asked not to start goes from Creating to Stopped", () => {
    expect(["Running", "Stopped", "Error"].every((to) => canTransition("Reinstalling", to as never))).toBe(true);
    expect(canTransition("Reinstalling", "Destroying")).toBe(false);
    expect(canTransition("Creating", "Stopped")).toBe(true);
    expect(holdsCapacity("Reinstalling")).toBe(true);
  });

  it("requireStopped passes a stopped VM only, naming the state and why otherwise", () => {
    expect(() => requireStopped("Stopped", "virtual machine 4", "be cloned", "stop it")).not.toThrow();
    for (const from of ["Running", "Hibernated", "Starting", "Error"] as const) {
      let err: unknown;
      try { requireStopped(from, "virtual machine 4", "be cloned", "stop it first"); } catch (e) { err = e; }
      expect(err).toBeInstanceOf(ConflictError);
      expect((err as ConflictError).message).toBe(`virtual machine 4 cannot be cloned while ${from}: stop it first`);
      expect((err as ConflictError).details).toMatchObject({ state: from, action: "be cloned" });
    }
  });

  it("a hibernated VM and a stopped one keep their capacity", () => {
    expect(holdsCapacity("Hibernated")).toBe(true);
    expect(holdsCapacity("Stopped")).toBe(true);
  });
});
