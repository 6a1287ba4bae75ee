// orbit admin hosts enable|disable|maintenance|maintenance-status|cancel-maintenance|remove ID:
// a host's resource state, its maintenance (VMs moved off by the manager) and its removal.
import type { Command } from "commander";
import type { ApiClient } from "../client.js";
import type { HostMaintenance, MaintenanceVm } from "../api-types.js";
import { type Context, parseId, waitable } from "../context.js";
import { CliError, EXIT } from "../errors.js";
import { printFields, printJson, printTable } from "../output.js";
import { poll, spinner, type WaitOptions } from "../wait.js";

function vmLine(v: MaintenanceVm): string {
  const detail = v.status === "migrating" ? `${v.mode ?? ""} to host ${v.destination_host_id ?? "?"}${v.progress !== undefined ? ` ${v.progress}%` : ""}`
    : v.reason ?? v.error ?? (v.destination_host_id ? `on host ${v.destination_host_id}` : "");
  return detail.trim();
}

function printMaintenance(c: Context, m: HostMaintenance): void {
  printFields(c.out, [
    ["host", m.host_id], ["resource state", m.resource_state], ["started", m.started_at], ["cold migration allowed", m.allow_cold_migration ? "yes" : "no"],
    ["job", m.job_id ?? "-"], ["VMs", `${m.vms_total ?? 0} total, ${m.vms_moved ?? 0} moved, ${m.vms_remaining ?? 0} remaining`],
  ]);
  if (m.vms?.length) {
    c.out.write("\n");
    printTable(c.out, ["VM", "STATUS", "DETAIL"], m.vms.map((v) => [v.vm_id, v.status, vmLine(v)]));
  }
}

/** Follows GET .../maintenance until Maintenance (done) or ErrorInMaintenance (exit 4, naming the failed VMs); blocked VMs are shown while it waits. */
export async function waitForMaintenance(client: ApiClient, hostId: number, o: WaitOptions): Promise<HostMaintenance> {
  const label = `host ${hostId} maintenance`;
  const s = spinner(label, o);
  let last: HostMaintenance | undefined;
  try {
    const m = await poll(
      async () => (await client.get<{ maintenance: HostMaintenance }>(`/admin/hosts/${hostId}/maintenance`)).maintenance,
      (m) => {
        if (m.resource_state === "ErrorInMaintenance" && !(m.vms ?? []).some((v) => v.status === "migrating" || v.status === "queued")) {
          const failed = (m.vms ?? []).filter((v) => v.status === "failed").map((v) => `VM ${v.vm_id}: ${v.error ?? "failed"}`);
          throw new CliError(`host ${hostId} is ErrorInMaintenance: ${failed.join("; ") || "a migration failed"}`, EXIT.job);
        }
        return m.resource_state === "Maintenance";
      },
      (m) => {
        last = m;
        const blocked = (m.vms ?? []).filter((v) => v.status === "blocked");
        s.text = `${label}: ${m.resource_state}, ${m.vms_moved ?? 0}/${m.vms_total ?? 0} moved` +
          (blocked.length ? `; blocked: ${blocked.map((v) => `VM ${v.vm_id} (${v.reason ?? "?"})`).join(", ")}` : "");
      },
      o, () => `host ${hostId} to reach Maintenance (now ${last?.resource_state ?? "unknown"})`,
    );
    s.succeed(`${label}: Maintenance`);
    return m;
  } catch (e) {
    s.fail(`${label}: ${e instanceof Error ? e.message : String(e)}`);
    throw e;
  }
}

export function adminHostCommands(hosts: Command, ctx: (cmd: Command) => Context): void {
  for (const [name, state] of [["enable", "Enabled"], ["disable", "Disabled"]] as const) {
    hosts.command(name).description(state === "Enabled" ? "let a host take new VMs again" : "stop placing new VMs on a host (its VMs keep running)")
      .argument("<id>", "host id", parseId)
      .action(async (id: number, _o: unknown, cmd: Command) => {
        const c = ctx(cmd);
        const r = await c.client.put<{ host: { id: number; resource_state: string } }>(`/admin/hosts/${id}`, { resource_state: state });
        if (c.json) return printJson(c.out, r);
        c.out.write(`host ${r.host.id} ${r.host.resource_state}\n`);
      });
  }

  waitable(hosts.command("maintenance").description("put a host into maintenance: no new VMs, its VMs migrated off, then Maintenance")
    .argument("<id>", "host id", parseId)
    .option("--allow-cold", "let VMs that cannot move live (passthrough GPUs) be stopped, moved and started again; without it they block"))
    .action(async (id: number, o: { allowCold?: boolean; wait?: boolean; timeout: number }, cmd: Command) => {
      const c = ctx(cmd);
      const r = await c.client.post<{ maintenance: HostMaintenance }>(`/admin/hosts/${id}/maintenance`, { allow_cold_migration: o.allowCold === true });
      const m = o.wait ? await waitForMaintenance(c.client, id, c.waitOptions(o.timeout)) : r.maintenance;
      if (c.json) return printJson(c.out, { ...r, maintenance: m });
      printMaintenance(c, m);
    });

  hosts.command("maintenance-status").description("a host's maintenance: its state and each VM's (queued, migrating, moved, blocked, failed, stays)")
    .argument("<id>", "host id", parseId)
    .action(async (id: number, _o: unknown, cmd: Command) => {
      const c = ctx(cmd);
      const r = await c.client.get<{ maintenance: HostMaintenance }>(`/admin/hosts/${id}/maintenance`);
      if (c.json) return printJson(c.out, r);
      printMaintenance(c, r.maintenance);
    });

  hosts.command("cancel-maintenance").description("cancel a host's maintenance: Enabled again; migrations under way finish")
    .argument("<id>", "host id", parseId)
    .action(async (id: number, _o: unknown, cmd: Command) => {
      const c = ctx(cmd);
      const r = await c.client.delete<{ host: { id: number; resource_state: string }; still_migrating?: MaintenanceVm[] }>(`/admin/hosts/${id}/maintenance`);
      if (c.json) return printJson(c.out, r);
      const still = r.still_migrating ?? [];
      c.out.write(`host ${r.host.id} ${r.host.resource_state}${still.length ? `; still migrating (left to finish): VMs ${still.map((v) => v.vm_id).join(", ")}` : ""}\n`);
    });

  hosts.command("remove").alias("rm").description("remove a host that holds no VM (in Maintenance or Disabled, or Down/Suspect/Alert); its agent is refused after")
    .argument("<id>", "host id", parseId)
    .action(async (id: number, _o: unknown, cmd: Command) => {
      const c = ctx(cmd);
      const r = await c.client.delete<{ host: { id: number; uuid: string; revoked: string[] } }>(`/admin/hosts/${id}`);
      if (c.json) return printJson(c.out, r);
      c.out.write(`host ${r.host.id} removed (${r.host.revoked.length} certificate(s) revoked)\n`);
    });
}
