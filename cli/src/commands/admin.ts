// orbit admin hosts (and its commands: admin-hosts.ts), orbit admin settings list|get|set, orbit admin users list|create|delete,
// orbit admin image (admin-images.ts):
// /v1/admin (admin keys only).
import type { Command } from "commander";
import type { Host, Setting, User } from "../api-types.js";
import { type Context, parseId } from "../context.js";
import { UsageError } from "../errors.js";
import { printFields, printJson, printTable } from "../output.js";
import { adminHostCommands } from "./admin-hosts.js";
import { adminImageCommands } from "./admin-images.js";

const gib = (mib: unknown) => (typeof mib === "number" ? Math.round((mib / 1024) * 10) / 10 : undefined);

/**
 * A setting's value from the command line, by the setting's type (as GET /admin/settings/NAME
 * shows it): a boolean setting takes true or false, a string setting the text as it is (a value
 * that looks like a number stays text), any other JSON when it parses (numbers, null), else the text.
 */
export function settingValue(name: string, text: string, type?: string): unknown {
  if (type === "boolean") {
    if (text === "true" || text === "false") return text === "true";
    throw new UsageError(`${name} is a boolean setting: true or false, not ${JSON.stringify(text)}`);
  }
  if (type === "string") return text;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

export function adminCommands(program: Command, ctx: (cmd: Command) => Context): void {
  const admin = program.command("admin").description("operator commands (need an admin key)");

  const hosts = admin.command("hosts").description("list hosts with their state, capacity, allocations and GPUs; and their commands");
  hosts.action(async (_o: unknown, cmd: Command) => {
      const c = ctx(cmd);
      const r = await c.client.get<{ hosts: Host[] }>("/admin/hosts");
      if (c.json) return printJson(c.out, r);
      printTable(c.out, ["ID", "NAME", "STATE", "RESOURCE STATE", "ENVIRONMENT", "CLUSTER", "VCPUS USED", "MEMORY USED (GiB)", "GPUS", "VMS", "LAST HEARTBEAT"],
        r.hosts.map((h) => {
          const gpus = h.gpus ?? [];
          const models = [...new Set(gpus.map((g) => g.model))];
          return [h.id, h.name, h.state, h.resource_state, h.environment, h.cluster,
            `${h.allocated?.vcpus ?? 0}/${h.capacity?.cpus ?? "?"}`,
            `${gib(h.allocated?.memory_mib) ?? 0}/${gib(h.capacity?.memory_mib) ?? "?"}`,
            gpus.length ? `${gpus.length} x ${models.join(", ")}` : "-", h.allocated?.vms, h.last_heartbeat_at];
        }));
    });
  adminHostCommands(hosts, ctx);

  const settings = admin.command("settings").description("global settings");

  settings.command("list").alias("ls").description("list settings with their value and default")
    .action(async (_o: unknown, cmd: Command) => {
      const c = ctx(cmd);
      const r = await c.client.get<{ settings: Setting[] }>("/admin/settings");
      if (c.json) return printJson(c.out, r);
      printTable(c.out, ["NAME", "VALUE", "DEFAULT"], r.settings.map((s) => [s.name, s.value, s.is_default ? "(default)" : s.default]));
    });

  settings.command("get").description("show a setting: value, default, description, range").argument("<name>", "setting name")
    .action(async (name: string, _o: unknown, cmd: Command) => {
      const c = ctx(cmd);
      const r = await c.client.get<{ setting: Setting }>(`/admin/settings/${encodeURIComponent(name)}`);
      if (c.json) return printJson(c.out, r);
      const s = r.setting;
      printFields(c.out, [["name", s.name], ["value", s.value], ["default", s.default], ["description", s.description],
        ...(s.min !== undefined || s.max !== undefined ? [["range", `${s.min ?? ""}..${s.max ?? ""}`] as [string, unknown]] : [])]);
    });

  settings.command("set").description("change a setting (applied live)").argument("<name>", "setting name")
    .argument("<value>", "the value, by the setting's type: true or false, a number (2, 0.5), or text")
    .action(async (name: string, value: string, _o: unknown, cmd: Command) => {
      const c = ctx(cmd);
      const path = `/admin/settings/${encodeURIComponent(name)}`;
      // Its type first: "true" is a boolean for a boolean setting and text for a string one.
      const { setting } = await c.client.get<{ setting: Setting }>(path);
      const r = await c.client.put<{ setting: Setting }>(path, { value: settingValue(name, value, setting.type) });
      if (c.json) return printJson(c.out, r);
      c.out.write(`${r.setting.name} = ${JSON.stringify(r.setting.value)}\n`);
    });

  adminImageCommands(admin, ctx);

  const users = admin.command("users").description("an account's users (each API key belongs to one and has its role)");
  const accountOption = ["-a, --account <id>", "the account's id", parseId] as const;

  users.command("list").alias("ls").description("list an account's users").requiredOption(...accountOption)
    .action(async (o: { account: number }, cmd: Command) => {
      const c = ctx(cmd);
      const r = await c.client.get<{ users: User[] }>(`/admin/accounts/${o.account}/users`);
      if (c.json) return printJson(c.out, r);
      printTable(c.out, ["ID", "NAME", "EMAIL", "ROLE", "DISABLED", "CREATED"],
        r.users.map((u) => [u.id, u.name, u.email ?? "-", u.role, u.disabled ? "yes" : "no", u.created_at]));
    });

  users.command("create").description("create a user in an account").argument("<name>", "user name (unique in the account)")
    .requiredOption(...accountOption)
    .option("--email <email>", "the user's email")
    .option("--role <role>", "user (the /v1/core API in its account) or admin", "user")
    .action(async (name: string, o: { account: number; email?: string; role: string }, cmd: Command) => {
      const c = ctx(cmd);
      const r = await c.client.post<{ user: User }>(`/admin/accounts/${o.account}/users`, {
        name, role: o.role, ...(o.email !== undefined && { email: o.email }),
      });
      if (c.json) return printJson(c.out, r);
      c.out.write(`user ${r.user.id} ${r.user.name} created\n`);
    });

  users.command("delete").alias("rm").description("delete a user; its API keys are revoked").argument("<user_id>", "user id", parseId)
    .requiredOption(...accountOption)
    .action(async (id: number, o: { account: number }, cmd: Command) => {
      const c = ctx(cmd);
      const r = await c.client.delete<{ message?: string }>(`/admin/accounts/${o.account}/users/${id}`);
      if (c.json) return printJson(c.out, r);
      c.out.write(`${r.message ?? `user ${id} deleted`}\n`);
    });
}
