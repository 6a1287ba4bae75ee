// orbit snapshot list|create|show|revert|delete: VM snapshots (/v1/core/snapshots, a VM's
// snapshots), each change a job followed with --wait.
import type { Command } from "commander";
import type { Snapshot } from "../api-types.js";
import { type Context, parseId, parsePositiveInt, waitable } from "../context.js";
import { printFields, printJson, printTable } from "../output.js";
import { waitForJobs } from "../wait.js";

function printSnapshots(c: Context, list: Snapshot[]): void {
  printTable(c.out, ["ID", "NAME", "VM", "STATUS", "MEMORY", "PARENT", "CURRENT", "CREATED"],
    list.map((s) => [s.id, s.name, s.vm_id, s.status, s.memory ? "yes" : "no", s.parent_id ?? "", s.current ? "*" : "", s.created_at]));
}

function printSnapshot(c: Context, s: Snapshot): void {
  printFields(c.out, [
    ["ID", s.id], ["NAME", s.name], ["VM", s.vm_id], ["STATUS", s.status], ["MEMORY", s.memory ? "yes" : "no"], ["QUIESCED", s.quiesce ? "yes" : "no"],
    ["PARENT", s.parent_id ?? undefined], ["CURRENT", s.current ? "yes" : "no"], ["SIZE BYTES", s.size_bytes ?? undefined], ["DESCRIPTION", s.description],
    ["ERROR", s.error ?? undefined], ["CREATED", s.created_at],
  ]);
}

export function snapshotCommands(program: Command, ctx: (cmd: Command) => Context): void {
  const snap = program.command("snapshot").description("VM snapshots: a VM's disks and, with --memory, its running state");

  snap.command("list").alias("ls").description("list your snapshots (of one VM with --vm)")
    .option("--vm <id>", "only this VM's", parseId)
    .option("--page <n>", "page number", parsePositiveInt)
    .option("--search <text>", "an id, or part of the name")
    .action(async (o: { vm?: number; page?: number; search?: string }, cmd: Command) => {
      const c = ctx(cmd);
      const path = o.vm === undefined ? "/core/snapshots" : `/core/virtual-machines/${o.vm}/snapshots`;
      const r = await c.client.get<{ snapshots: Snapshot[]; count?: number }>(path, { page: o.page, search: o.search });
      if (c.json) return printJson(c.out, r);
      printSnapshots(c, r.snapshots);
    });

  const follow = async (c: Context, r: { snapshot: Snapshot; job_id: number }, label: string, wait: boolean | undefined, timeout: number) => {
    if (!wait) return c.json ? printJson(c.out, r) : printSnapshot(c, r.snapshot);
    await waitForJobs(c.client, [r.job_id], label, c.waitOptions(timeout));
    const now = await c.client.get<{ snapshot: Snapshot }>(`/core/snapshots/${r.snapshot.id}`).then((x) => x.snapshot, () => undefined);
    if (c.json) return printJson(c.out, { ...r, snapshot: now ?? r.snapshot });
    if (now) printSnapshot(c, now);
    else c.out.write(`snapshot ${r.snapshot.id} deleted\n`);
  };

  waitable(snap.command("create").description("snapshot a VM").argument("<vm-id>", "VM id", parseId).requiredOption("-n, --name <name>", "unique in your account")
    .option("-d, --description <text>", "a description", "")
    .option("--memory", "include the running VM's memory: a revert resumes it running")
    .option("--quiesce", "freeze the guest's filesystems through its guest agent"))
    .action(async (vmId: number, o: { name: string; description: string; memory?: boolean; quiesce?: boolean; wait?: boolean; timeout: number }, cmd: Command) => {
      const c = ctx(cmd);
      const r = await c.client.post<{ snapshot: Snapshot; job_id: number }>(`/core/virtual-machines/${vmId}/snapshots`, {
        name: o.name, description: o.description, memory: o.memory ?? false, quiesce: o.quiesce ?? false,
      });
      await follow(c, r, `snapshot ${o.name} of VM ${vmId}`, o.wait, o.timeout);
    });

  snap.command("show").alias("get").description("show one snapshot").argument("<id>", "snapshot id", parseId)
    .action(async (id: number, _o: unknown, cmd: Command) => {
      const c = ctx(cmd);
      const r = await c.client.get<{ snapshot: Snapshot }>(`/core/snapshots/${id}`);
      if (c.json) return printJson(c.out, r);
      printSnapshot(c, r.snapshot);
    });

  waitable(snap.command("revert").description("revert its VM to a snapshot (Running after a memory snapshot, else Stopped)").argument("<id>", "snapshot id", parseId))
    .action(async (id: number, o: { wait?: boolean; timeout: number }, cmd: Command) => {
      const c = ctx(cmd);
      const r = await c.client.post<{ snapshot: Snapshot; job_id: number }>(`/core/snapshots/${id}/revert`, {});
      await follow(c, r, `reverting to snapshot ${id}`, o.wait, o.timeout);
    });

  waitable(snap.command("delete").alias("rm").description("delete a snapshot").argument("<id>", "snapshot id", parseId))
    .action(async (id: number, o: { wait?: boolean; timeout: number }, cmd: Command) => {
      const c = ctx(cmd);
      const r = await c.client.delete<{ snapshot: Snapshot; job_id: number }>(`/core/snapshots/${id}`);
      await follow(c, r, `deleting snapshot ${id}`, o.wait, o.timeout);
    });
}
