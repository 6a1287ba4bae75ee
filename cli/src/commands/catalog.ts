// orbit region list, orbit flavor list, orbit image list. Hyperstack groups both (flavors by GPU and region, images by
// region and type, each group listing its items); Orbit's first catalog answered flat lists. Both read.
import type { Command } from "commander";
import type { Flavor, Image, Region } from "../api-types.js";
import type { Context } from "../context.js";
import { printJson, printTable } from "../output.js";

/** The items of a list that is either flat or grouped under `key`; group fields fill the items' gaps. */
export function flattenGroups<T>(list: readonly Record<string, unknown>[], key: string): T[] {
  return list.flatMap((g) => {
    const items = g[key];
    if (!Array.isArray(items)) return [g as T];
    const { [key]: _items, ...group } = g;
    return items.map((i) => ({ ...group, ...(i as object) }) as T);
  });
}

export function catalogCommands(program: Command, ctx: (cmd: Command) => Context): void {
  program.command("region").description("regions: where hosts are (an environment lives in one)")
    .command("list").alias("ls").description("list regions")
    .action(async (_o: unknown, cmd: Command) => {
      const c = ctx(cmd);
      const r = await c.client.get<{ regions: Region[] }>("/core/regions");
      if (c.json) return printJson(c.out, r);
      printTable(c.out, ["ID", "NAME", "DESCRIPTION"], r.regions.map((g) => [g.id, g.name, g.description]));
    });

  program.command("flavor").description("flavors (sizes) VMs are created with")
    .command("list").alias("ls").description("list flavors")
    .option("--region <name>", "only flavors of this region")
    .action(async (o: { region?: string }, cmd: Command) => {
      const c = ctx(cmd);
      const r = await c.client.get<{ data?: Record<string, unknown>[] }>("/core/flavors", { region: o.region });
      if (c.json) return printJson(c.out, r);
      const flavors = flattenGroups<Flavor>(r.data ?? [], "flavors");
      const stock = flavors.some((f) => typeof f.stock_available === "boolean");
      printTable(c.out, ["NAME", "CPU", "RAM (GiB)", "DISK (GiB)", "GPU", "GPUS", "REGION", ...(stock ? ["IN STOCK"] : [])],
        flavors.map((f) => [f.name, f.cpu, f.ram, f.disk, f.gpu || f.vgpu_type, f.gpu_count, f.region_name,
          ...(stock ? [f.stock_available === undefined ? "-" : f.stock_available ? "yes" : "no"] : [])]));
    });

  program.command("image").description("images VMs boot from")
    .command("list").alias("ls").description("list images")
    .option("--region <name>", "only images of this region")
    .option("--search <text>", "only images whose name matches")
    .action(async (o: { region?: string; search?: string }, cmd: Command) => {
      const c = ctx(cmd);
      const r = await c.client.get<{ images?: Record<string, unknown>[] }>("/core/images", { region: o.region, search: o.search });
      if (c.json) return printJson(c.out, r);
      printTable(c.out, ["ID", "NAME", "TYPE", "VERSION", "SIZE (GiB)", "REGION"],
        flattenGroups<Image>(r.images ?? [], "images").map((i) => [i.id, i.name, i.type ?? i.os_type, i.version, i.size, i.region_name]));
    });
}
