// orbit vm create|list|show|start|stop|reboot|restore|clone|reset-ssh-key|attach-iso|detach-iso|console|delete:
// /v1/core/virtual-machines.
import { readFileSync } from "node:fs";
import { type Command, Option } from "commander";
import type { Instance, Named } from "../api-types.js";
import { type Context, parseId, parsePositiveInt, waitable } from "../context.js";
import { UsageError } from "../errors.js";
import { printFields, printJson, printTable } from "../output.js";
import { vmConsoleCommands } from "./vm-console.js";
import { waitForJobs, waitForVmGone, waitForVmStatus } from "../wait.js";


function printInstances(c: Context, instances: Instance[]): void {
  const name = (n: Named | undefined) => n?.name;
  const withHost = instances.some((i) => i.host);
  printTable(c.out, ["ID", "NAME", "STATUS", "FLAVOR", "IMAGE", "ENVIRONMENT", "FIXED IP", ...(withHost ? ["HOST"] : []), "CREATED"],
    instances.map((i) => [i.id, i.name, i.status, name(i.flavor), name(i.image), name(i.environment), i.fixed_ip,
      ...(withHost ? [i.host] : []), i.created_at]));
}

function printInstance(c: Context, i: Instance): void {
  const f = i.flavor ?? {};
  const name = (n: Named | undefined) => n?.name;
  printFields(c.out, [
    ["id", i.id], ["uuid", i.uuid], ["name", i.name], ["status", i.status], ["power_state", i.power_state],
    ["vm_state", i.vm_state], ["state_reason", i.state_reason], ["flavor", f.name],
    ["cpu / ram (GiB) / disk (GiB)", `${f.cpu ?? "-"} / ${f.ram ?? "-"} / ${f.disk ?? "-"}`],
    ["gpu", f.gpu ? `${f.gpu_count ?? 1} x ${f.gpu}` : "-"], ["image", name(i.image)], ["environment", name(i.environment)],
    ["keypair", name(i.keypair)], ["fixed_ip", i.fixed_ip], ["floating_ip", i.floating_ip], ["labels", i.labels],
    ...(i.host ? [["host", i.host] as [string, unknown]] : []), ["created_at", i.created_at],
  ]);
}

/** Hyperstack's power actions (GET, answered with status and message; Orbit may add a job id). */
const ACTIONS = {
  start: { path: "start", target: "ACTIVE", doing: "starting" },
  stop: { path: "stop", target: "SHUTOFF", doing: "stopping" },
  reboot: { path: "hard-reboot", target: "ACTIVE", doing: "rebooting" },
} as const;

export function vmCommands(program: Command, ctx: (cmd: Command) => Context): void {
  const vm = program.command("vm").description("virtual machines");

  vm.command("list").alias("ls").description("list your VMs")
    .option("--page <n>", "page number", parsePositiveInt)
    .option("--page-size <n>", "VMs per page", parsePositiveInt)
    .option("--search <text>", "only VMs whose name, id... match")
    .option("--environment <name>", "only VMs of this environment")
    .action(async (o: { page?: number; pageSize?: number; search?: string; environment?: string }, cmd: Command) => {
      const c = ctx(cmd);
      const r = await c.client.get<{ instances: Instance[]; count?: number; page?: number }>("/core/virtual-machines", {
        page: o.page, page_size: o.pageSize, search: o.search, environment: o.environment,
      });
      if (c.json) return printJson(c.out, r);
      printInstances(c, r.instances);
      if (typeof r.count === "number" && r.count > r.instances.length) c.note(`${r.instances.length} of ${r.count} VMs shown (page ${r.page ?? 1}); see --page`);
    });

  vm.command("show").alias("get").description("show one VM").argument("<id>", "VM id", parseId)
    .action(async (id: number, _o: unknown, cmd: Command) => {
      const c = ctx(cmd);
      const r = await c.client.get<{ instance: Instance }>(`/core/virtual-machines/${id}`);
      if (c.json) return printJson(c.out, r);
      printInstance(c, r.instance);
    });

  waitable(vm.command("create").description("create VMs (count > 1 names them NAME-1..NAME-N)")
    .argument("<name>", "1-50 characters: letters, digits, . _ -")
    .requiredOption("-f, --flavor <name>", "flavor (orbit flavor list)")
    .requiredOption("-i, --image <name>", "image (orbit image list)")
    .option("-e, --environment <name>", "environment (orbit env list)")
    .option("-k, --key <name>", "key pair to install (orbit keypair list)")
    .option("-n, --count <n>", "how many VMs", parsePositiveInt)
    .option("--user-data-file <path>", "cloud-init user data")
    .addOption(new Option("-l, --label <label>", "a label (repeat for more)").argParser((v: string, prev: string[] = []) => [...prev, v])))
    .action(async (vmName: string, o: {
      flavor: string; image: string; environment?: string; key?: string; count?: number; userDataFile?: string; label?: string[];
      wait?: boolean; timeout: number;
    }, cmd: Command) => {
      const c = ctx(cmd);
      let userData: string | undefined;
      if (o.userDataFile !== undefined) {
        try {
          userData = readFileSync(o.userDataFile, "utf8");
        } catch (e) {
          throw new UsageError(`cannot read --user-data-file: ${(e as Error).message}`);
        }
      }
      const body = {
        name: vmName, flavor_name: o.flavor, image_name: o.image,
        ...(o.environment !== undefined ? { environment_name: o.environment } : {}),
        ...(o.key !== undefined ? { key_name: o.key } : {}),
        ...(o.count !== undefined ? { count: o.count } : {}),
        ...(userData !== undefined ? { user_data: userData } : {}),
        ...(o.label ? { labels: o.label } : {}),
      };
      const r = await c.client.post<{ instances: Instance[]; job_id?: number; job_ids?: number[] }>("/core/virtual-machines", body);
      if (o.wait) {
        const jobs = r.job_ids ?? (r.job_id !== undefined ? [r.job_id] : []);
        await waitForJobs(c.client, jobs, `creating ${r.instances.map((i) => i.name).join(", ")}`, c.waitOptions(o.timeout));
        // The answer after waiting: the VMs as they are now (ACTIVE), not as they were created.
        r.instances = await Promise.all(r.instances.map(async (i) =>
          (await c.client.get<{ instance: Instance }>(`/core/virtual-machines/${i.id}`)).instance));
      }
      if (c.json) return printJson(c.out, r);
      printInstances(c, r.instances);
    });

  for (const [verb, a] of Object.entries(ACTIONS)) {
    waitable(vm.command(verb).description(`${verb} a VM${verb === "reboot" ? " (hard reboot)" : ""}`).argument("<id>", "VM id", parseId))
      .action(async (id: number, o: { wait?: boolean; timeout: number }, cmd: Command) => {
        const c = ctx(cmd);
        const r = await c.client.get<{ message?: string; job_id?: number }>(`/core/virtual-machines/${id}/${a.path}`);
        if (o.wait) {
          const label = `${a.doing} VM ${id}`;
          if (typeof r.job_id === "number") await waitForJobs(c.client, [r.job_id], label, c.waitOptions(o.timeout));
          else await waitForVmStatus(c.client, id, a.target, label, c.waitOptions(o.timeout));
        }
        if (c.json) return printJson(c.out, r);
        c.out.write(`${r.message ?? `VM ${id}: ${verb} requested`}\n`);
      });
  }

  waitable(vm.command("restore").description("reinstall a VM: a fresh root disk on its image (or --image); everything on the old disk is lost")
    .argument("<id>", "VM id", parseId)
    .option("-i, --image <name>", "reinstall from this image of the VM's region (it becomes the VM's image)"))
    .action(async (id: number, o: { image?: string; wait?: boolean; timeout: number }, cmd: Command) => {
      const c = ctx(cmd);
      const r = await c.client.post<{ message?: string; job_id?: number; image_name?: string }>(
        `/core/virtual-machines/${id}/restore`, o.image !== undefined ? { image_name: o.image } : {});
      if (o.wait && typeof r.job_id === "number") await waitForJobs(c.client, [r.job_id], `reinstalling VM ${id}`, c.waitOptions(o.timeout));
      if (c.json) return printJson(c.out, r);
      c.out.write(`${r.message ?? `VM ${id}: reinstall requested`}${r.image_name ? ` (image ${r.image_name})` : ""}\n`);
    });

  waitable(vm.command("clone").description("clone a stopped VM on its host: same flavor, image, keys, labels; a full copy of its disk")
    .argument("<id>", "VM id of the (stopped) source", parseId)
    .argument("<name>", "the clone's name: 1-50 characters: letters, digits, . _ -")
    .option("--no-start", "leave the clone stopped once its disk is copied"))
    .action(async (id: number, cloneName: string, o: { start: boolean; wait?: boolean; timeout: number }, cmd: Command) => {
      const c = ctx(cmd);
      const r = await c.client.post<{ instance: Instance; job_id?: number }>(`/core/virtual-machines/${id}/clone`, { name: cloneName, start: o.start });
      if (o.wait && typeof r.job_id === "number") {
        await waitForJobs(c.client, [r.job_id], `cloning VM ${id} as ${cloneName}`, c.waitOptions(o.timeout));
        r.instance = (await c.client.get<{ instance: Instance }>(`/core/virtual-machines/${r.instance.id}`)).instance;
      }
      if (c.json) return printJson(c.out, r);
      printInstances(c, [r.instance]);
    });

  vm.command("reset-ssh-key").description("give a stopped VM another key pair (installed at its next start)")
    .argument("<id>", "VM id", parseId)
    .requiredOption("-k, --key <name>", "key pair of your account in the VM's environment (orbit keypair list)")
    .action(async (id: number, o: { key: string }, cmd: Command) => {
      const c = ctx(cmd);
      const r = await c.client.post<{ message?: string; key_name?: string }>(`/core/virtual-machines/${id}/reset-ssh-key`, { key_name: o.key });
      if (c.json) return printJson(c.out, r);
      c.out.write(`${r.message ?? `VM ${id}: SSH key reset to ${o.key}`}\n`);
    });

  vm.command("attach-iso").description("put an ISO image in a VM's cdrom (a running VM's media changes at once, a stopped VM's at its next start)")
    .argument("<id>", "VM id", parseId)
    .requiredOption("--image <id>", "ISO image id (orbit image list)", parseId)
    .action(async (id: number, o: { image: number }, cmd: Command) => {
      const c = ctx(cmd);
      const r = await c.client.post<{ message?: string; iso?: Named }>(`/core/virtual-machines/${id}/attach-iso`, { image_id: o.image });
      if (c.json) return printJson(c.out, r);
      c.out.write(`VM ${id}: ${r.message ?? "ISO attached"}${r.iso?.name ? ` (${r.iso.name})` : ""}\n`);
    });

  vm.command("detach-iso").description("empty a VM's cdrom").argument("<id>", "VM id", parseId)
    .action(async (id: number, _o: unknown, cmd: Command) => {
      const c = ctx(cmd);
      const r = await c.client.post<{ message?: string; iso?: Named }>(`/core/virtual-machines/${id}/detach-iso`, {});
      if (c.json) return printJson(c.out, r);
      c.out.write(`VM ${id}: ${r.message ?? "ISO detached"}${r.iso?.name ? ` (${r.iso.name})` : ""}\n`);
    });

  vmConsoleCommands(vm, ctx);

  waitable(vm.command("delete").alias("rm").description("delete a VM").argument("<id>", "VM id", parseId))
    .action(async (id: number, o: { wait?: boolean; timeout: number }, cmd: Command) => {
      const c = ctx(cmd);
      const r = await c.client.delete<{ message?: string; job_id?: number }>(`/core/virtual-machines/${id}`);
      if (o.wait) {
        const label = `deleting VM ${id}`;
        if (typeof r.job_id === "number") await waitForJobs(c.client, [r.job_id], label, c.waitOptions(o.timeout));
        else await waitForVmGone(c.client, id, label, c.waitOptions(o.timeout));
      }
      if (c.json) return printJson(c.out, r);
      c.out.write(`${o.wait ? `VM ${id} deleted` : (r.message ?? `VM ${id}: deletion requested`)}\n`);
    });
}
