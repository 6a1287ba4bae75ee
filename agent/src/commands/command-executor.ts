// Executes manager commands on the hypervisor. A command id is executed at most once: a repeat
// while it runs joins the running execution, a repeat after it finished gets the stored result.
// Commands for one VM run one after another, so a delete never overtakes the start before it.
import { HypervisorError, InvalidArgumentError, toErrorInfo } from "#shared/errors.js";
import { StopMode, type Command, type CommandResult } from "#shared/protocol.js";
import type { Hypervisor } from "../drivers/hypervisor.js";

export interface CommandExecutorOptions {
  /** How many finished results to remember for dedupe. */
  remember?: number;
  defaultStopTimeoutMs?: number;
}

export class CommandExecutor {
  private readonly done = new Map<string, CommandResult>();
  private readonly running = new Map<string, Promise<CommandResult>>();
  private readonly vmQueues = new Map<string, Promise<unknown>>();

  constructor(private readonly hv: Hypervisor, private readonly o: CommandExecutorOptions = {}) {}

  execute(cmd: Command): Promise<CommandResult> {
    if (!cmd.commandId) {
      return Promise.resolve({ commandId: "", ok: false, error: { code: "invalid_argument", message: "command_id is required", retryable: false }, domain: undefined });
    }
    const prior = this.done.get(cmd.commandId);
    if (prior) return Promise.resolve(prior);
    const inflight = this.running.get(cmd.commandId);
    if (inflight) return inflight;
    const key = cmd.vmUuid || "(host)";
    const previous = this.vmQueues.get(key) ?? Promise.resolve();
    const p = previous.catch(() => undefined).then(() => this.run(cmd)).then((r) => {
      this.running.delete(cmd.commandId);
      // A retryable failure is not an answer to keep: the manager's retry must run it again.
      if (r.ok || !r.error?.retryable) this.remember(r);
      return r;
    });
    this.running.set(cmd.commandId, p);
    const tail = p.catch(() => undefined);
    this.vmQueues.set(key, tail);
    void tail.then(() => { if (this.vmQueues.get(key) === tail) this.vmQueues.delete(key); });
    return p;
  }

  /** Whether this command id has been seen (finished or running). */
  knows(commandId: string): boolean {
    return this.done.has(commandId) || this.running.has(commandId);
  }

  private remember(r: CommandResult): void {
    this.done.set(r.commandId, r);
    const max = this.o.remember ?? 10_000;
    if (this.done.size > max) this.done.delete(this.done.keys().next().value!);
  }

  private async run(cmd: Command): Promise<CommandResult> {
    try {
      if (cmd.deadlineMs && Date.now() > cmd.deadlineMs) {
        throw new HypervisorError(`command ${cmd.commandId} arrived after its deadline`, { retryable: false });
      }
      const b = cmd.body;
      if (!b) throw new InvalidArgumentError("body", "command has no body");
      switch (b.$case) {
        case "startVm": {
          const spec = b.value.spec;
          if (!spec) throw new InvalidArgumentError("start_vm.spec", "StartVm needs a spec");
          if (spec.vmUuid.toLowerCase() !== cmd.vmUuid.toLowerCase()) throw new InvalidArgumentError("start_vm.spec.vm_uuid", "spec is for another VM than the command");
          const domain = await this.hv.startVm(spec);
          return { commandId: cmd.commandId, ok: true, error: undefined, domain };
        }
        case "stopVm": {
          const domain = await this.hv.stopVm(cmd.vmUuid, {
            mode: b.value.mode === StopMode.STOP_MODE_UNSPECIFIED ? StopMode.STOP_MODE_ACPI_THEN_FORCE : b.value.mode,
            timeoutMs: b.value.timeoutMs || (this.o.defaultStopTimeoutMs ?? 60_000),
          });
          return { commandId: cmd.commandId, ok: true, error: undefined, domain };
        }
        case "destroyVm": {
          await this.hv.destroyVm(cmd.vmUuid, { removeOwnedDisks: b.value.removeOwnedDisks });
          return { commandId: cmd.commandId, ok: true, error: undefined, domain: undefined };
        }
      }
    } catch (e) {
      return { commandId: cmd.commandId, ok: false, error: toErrorInfo(e), domain: undefined };
    }
  }
}
