// orbit env list|create|delete: /v1/core/environments.
import type { Command } from "commander";
import type { Environment } from "../api-types.js";
import { type Context, parseId, parsePositiveInt } from "../context.js";
import { printJson, printTable } from "../output.js";

function printEnvironments(c: Context, list: Environment[]): void {
  printTable(c.out, ["ID", "NAME", "REGION", "CREATED"], list.map((e) => [e.id, e.name, e.region, e.created_at]));
}

export function envCommands(program: Command, ctx: (cmd: Command) => Context): void {
  const env = program.command("env").alias("environment").description("environments (a region's container for VMs and key pairs)");

  env.command("list").alias("ls").description("list your environments")
    .option("--search <text>", "only environments whose id, name or region match")
    .option("--page <n>", "page number", parsePositiveInt)
    .option("--page-size <n>", "environments per page", parsePositiveInt)
    .action(async (o: { search?: string; page?: number; pageSize?: number }, cmd: Command) => {
      const c = ctx(cmd);
      const r = await c.client.get<{ environments: Environment[] }>("/core/environments", { search: o.search, page: o.page, pageSize: o.pageSize });
      if (c.json) return printJson(c.out, r);
      printEnvironments(c, r.environments);
    });

  env.command("create").description("create an environment").argument("<name>", "environment name")
    .requiredOption("-r, --region <name>", "region it lives in")
    .action(async (name: string, o: { region: string }, cmd: Command) => {
      const c = ctx(cmd);
      const r = await c.client.post<{ environment: Environment }>("/core/environments", { name, region: o.region });
      if (c.json) return printJson(c.out, r);
      printEnvironments(c, [r.environment]);
    });

  env.command("delete").alias("rm").description("delete an environment that holds nothing").argument("<id>", "environment id", parseId)
    .action(async (id: number, _o: unknown, cmd: Command) => {
      const c = ctx(cmd);
      const r = await c.client.delete<{ message?: string }>(`/core/environments/${id}`);
      if (c.json) return printJson(c.out, r);
      c.out.write(`${r.message ?? `environment ${id} deleted`}\n`);
    });
}
