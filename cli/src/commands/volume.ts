// orbit volume list|create|show|delete|attach|detach: /v1/core/volumes and a VM's
// attach-volumes / detach-volumes (one job per volume, followed with --wait).
import type { Command } from "commander";
import type { Volume, VolumeAttachment } from "../api-types.js";
import { type Context, parseId, parsePositiveInt, waitable } from "../context.js";
import { UsageError } from "../errors.js";
import { printFields, printJson, printTable } from "../output.js";
import { waitForJobs, waitForVolumeStatus } from "../wait.js";

/** Where a volume is attached: "VM 7 (/dev/vdb)", or nothing. */
function attachedTo(v: Volume): string[] {
  return (v.attachments ?? []).map((a) => `VM ${a.instance_id ?? "?"}${a.device ? ` (${a.device})` : ""}${a.protected ? " protected" : ""}`);
}

function printVolumes(c: Context, list: Volume[]): void {
  printTable(c.out, ["ID", "NAME", "STATUS", "SIZE GB", "TYPE", "ENVIRONMENT", "ATTACHED TO"],
    list.map((v) => [v.id, v.name, v.status, v.size, v.volume_type, v.environment?.name, attachedTo(v)]));
}

function printVolume(c: Context, v: Volume): void {
  printFields(c.out, [
    ["ID", v.id], ["NAME", v.name], ["STATUS", v.status], ["SIZE GB", v.size], ["TYPE", v.volume_type],
    ["ENVIRONMENT", v.environment?.name], ["REGION", v.environment?.region], ["BOOTABLE", v.bootable === undefined ? undefined : v.bootable ? "yes" : "no"],
    ["IMAGE", v.os_image], ["DESCRIPTION", v.description], ["ATTACHED TO", attachedTo(v)], ["CREATED", v.created_at],
  ]);
}

function printAttachments(c: Context, list: VolumeAttachment[]): void {
  printTable(c.out, ["ATTACHMENT", "VOLUME", "VM", "STATUS", "DEVICE", "PROTECTED"],
    list.map((a) => [a.id, a.volume_id, a.instance_id, a.status, a.device, a.protected ? "yes" : "no"]));
}

export function volumeCommands(program: Command, ctx: (cmd: Command) => Context): void {
  const vol = program.command("volume").description("volumes: disks that outlive VMs, attached to one VM at a time");

  vol.command("list").alias("ls").description("list your volumes")
    .option("--page <n>", "page number", parsePositiveInt)
    .option("--page-size <n>", "volumes per page", parsePositiveInt)
    .option("--search <text>", "only volumes whose name contains this")
    .option("--environment <name>", "only volumes of this environment")
    .action(async (o: { page?: number; pageSize?: number; search?: string; environment?: string }, cmd: Command) => {
      const c = ctx(cmd);
      const r = await c.client.get<{ volumes: Volume[]; count?: number; page?: number }>("/core/volumes", {
        page: o.page, page_size: o.pageSize, search: o.search, environment: o.environment,
      });
      if (c.json) return printJson(c.out, r);
      printVolumes(c, r.volumes);
      if (typeof r.count === "number" && r.count > r.volumes.length) c.note(`${r.volumes.length} of ${r.count} volumes shown (page ${r.page ?? 1}); see --page`);
    });

  vol.command("create").description("create a volume").argument("<name>", "1-50 characters: letters, digits, . _ -")
    .requiredOption("-s, --size <gb>", "size in GB", parsePositiveInt)
    .requiredOption("-e, --environment <name>", "environment (orbit env list)")
    .option("-t, --type <type>", "local or shared", "local")
    .option("-i, --image <id>", "a bootable volume: a copy of this image (orbit image list)", parseId)
    .option("-d, --description <text>", "a description")
    .action(async (name: string, o: { size: number; environment: string; type: string; image?: number; description?: string }, cmd: Command) => {
      const c = ctx(cmd);
      if (o.type !== "local" && o.type !== "shared") throw new UsageError(`--type must be local or shared, not "${o.type}"`);
      const r = await c.client.post<{ volume: Volume }>("/core/volumes", {
        name, size: o.size, environment_name: o.environment, volume_type: o.type,
        ...(o.image !== undefined ? { image_id: o.image } : {}), ...(o.description !== undefined ? { description: o.description } : {}),
      });
      if (c.json) return printJson(c.out, r);
      printVolume(c, r.volume);
    });

  vol.command("show").alias("get").description("show one volume").argument("<id>", "volume id", parseId)
    .action(async (id: number, _o: unknown, cmd: Command) => {
      const c = ctx(cmd);
      const r = await c.client.get<{ volume: Volume }>(`/core/volumes/${id}`);
      if (c.json) return printJson(c.out, r);
      printVolume(c, r.volume);
    });

  vol.command("delete").alias("rm").description("delete a detached volume").argument("<id>", "volume id", parseId)
    .action(async (id: number, _o: unknown, cmd: Command) => {
      const c = ctx(cmd);
      const r = await c.client.delete<{ message?: string }>(`/core/volumes/${id}`);
      if (c.json) return printJson(c.out, r);
      c.out.write(`${r.message ?? `volume ${id} deleted`}\n`);
    });

  for (const verb of ["attach", "detach"] as const) {
    const sub = vol.command(verb).description(verb === "attach"
      ? "attach a volume to a VM (hot when Running, to its definition when Stopped)"
      : "detach a volume from its VM")
      .argument("<volume-id>", "volume id", parseId)
      .requiredOption("--vm <id>", "VM id", parseId);
    if (verb === "attach") sub.option("--protected", "protect the attachment: detach is refused until unprotected");
    waitable(sub).action(async (volumeId: number, o: { vm: number; protected?: boolean; wait?: boolean; timeout: number }, cmd: Command) => {
      const c = ctx(cmd);
      const r = await c.client.post<{ volume_attachments: VolumeAttachment[] }>(`/core/virtual-machines/${o.vm}/${verb}-volumes`, {
        volume_ids: [volumeId], ...(o.protected ? { protected: true } : {}),
      });
      if (o.wait) {
        const jobs = r.volume_attachments.flatMap((a) => (typeof a.job_id === "number" ? [a.job_id] : []));
        const label = `${verb === "attach" ? "attaching" : "detaching"} volume ${volumeId} ${verb === "attach" ? "to" : "from"} VM ${o.vm}`;
        if (jobs.length) await waitForJobs(c.client, jobs, label, c.waitOptions(o.timeout));
        else await waitForVolumeStatus(c.client, volumeId, verb === "attach" ? "in-use" : "available", label, c.waitOptions(o.timeout));
        // The answer after waiting: the volume as it is now (in-use with its device, or available).
        const now = (await c.client.get<{ volume: Volume }>(`/core/volumes/${volumeId}`)).volume;
        if (c.json) return printJson(c.out, { ...r, volume: now });
        return printVolume(c, now);
      }
      if (c.json) return printJson(c.out, r);
      printAttachments(c, r.volume_attachments);
    });
  }
}
