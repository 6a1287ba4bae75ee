import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { HypervisorError } from "#shared/errors.js";
import { VmSpec, type Command } from "#shared/protocol.js";
import { SimulatorHypervisor } from "../drivers/simulator/simulator-hypervisor.js";
import { CommandExecutor } from "./command-executor.js";

function start(vmUuid: string, id = randomUUID()): Command {
  return { commandId: id, deadlineMs: 0, vmUuid, body: { $case: "startVm", value: { spec: VmSpec.fromPartial({ vmUuid, name: "v", vcpus: 1, memoryMib: 64 }) } } };
}

describe("CommandExecutor", () => {
  it("runs a command id once: repeats while running join it, repeats after get the stored result", async () => {
    const sim = new SimulatorHypervisor({ hostUuid: randomUUID(), hostname: "h", cpus: 2, memoryMib: 1024, startDelayMs: 30 });
    const ex = new CommandExecutor(sim);
    const cmd = start(randomUUID());
    const [a, b] = await Promise.all([ex.execute(cmd), ex.execute(cmd)]);
    const c = await ex.execute(cmd);
    expect([a.ok, b.ok, c.ok]).toEqual([true, true, true]);
    expect(sim.calls.start).toBe(1);
  });

  it("runs a command again after a retryable failure, but not after a final one", async () => {
    let transient = 1;
    const sim = new SimulatorHypervisor({
      hostUuid: randomUUID(), hostname: "h", cpus: 2, memoryMib: 1024,
      failStart: (s) => (s.name === "final" ? "bad disk" : undefined),
    });
    const flaky = Object.create(sim) as SimulatorHypervisor;
    flaky.startVm = async (spec) => {
      if (transient-- > 0) throw new HypervisorError("libvirtd restarting", { retryable: true });
      return sim.startVm(spec);
    };
    const ex = new CommandExecutor(flaky);
    const cmd = start(randomUUID());
    expect((await ex.execute(cmd)).error).toMatchObject({ retryable: true });
    expect((await ex.execute(cmd)).ok).toBe(true);

    const finalCmd = start(randomUUID());
    finalCmd.body = { $case: "startVm", value: { spec: VmSpec.fromPartial({ vmUuid: finalCmd.vmUuid, name: "final", vcpus: 1, memoryMib: 64 }) } };
    const first = await ex.execute(finalCmd);
    const again = await ex.execute(finalCmd);
    expect(first).toMatchObject({ ok: false, error: { code: "hypervisor_error", retryable: false } });
    expect(again).toEqual(first);
    expect(sim.calls.start).toBe(2);
  });

  it("runs the commands of one VM in order: a destroy never overtakes the start before it", async () => {
    const sim = new SimulatorHypervisor({ hostUuid: randomUUID(), hostname: "h", cpus: 2, memoryMib: 1024, startDelayMs: 50 });
    const ex = new CommandExecutor(sim);
    const vm = randomUUID();
    const started = ex.execute(start(vm));
    const destroyed = ex.execute({ commandId: randomUUID(), deadlineMs: 0, vmUuid: vm, body: { $case: "destroyVm", value: { removeOwnedDisks: true } } });
    await Promise.all([started, destroyed]);
    expect(sim.has(vm)).toBe(false);
  });

  it("refuses a command without an id or for another VM than its spec", async () => {
    const ex = new CommandExecutor(new SimulatorHypervisor({ hostUuid: randomUUID(), hostname: "h", cpus: 2, memoryMib: 1024 }));
    expect((await ex.execute({ ...start(randomUUID()), commandId: "" })).error?.code).toBe("invalid_argument");
    const mismatched = start(randomUUID());
    mismatched.vmUuid = randomUUID();
    expect((await ex.execute(mismatched)).error).toMatchObject({ code: "invalid_argument" });
  });
});
