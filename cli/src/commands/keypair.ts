// orbit keypair list|import|generate|rename|delete: /v1/core/keypairs and /v1/core/keypair/{id}.
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import type { Command } from "commander";
import type { Keypair } from "../api-types.js";
import { type Context, parseId, parsePositiveInt } from "../context.js";
import { UsageError } from "../errors.js";
import { printJson, printTable } from "../output.js";

function printKeypairs(c: Context, list: Keypair[]): void {
  printTable(c.out, ["ID", "NAME", "ENVIRONMENT", "FINGERPRINT", "CREATED"],
    list.map((k) => [k.id, k.name, k.environment?.name, k.fingerprint, k.created_at]));
}

export function keypairCommands(program: Command, ctx: (cmd: Command) => Context): void {
  const kp = program.command("keypair").description("SSH key pairs installed in new VMs");

  kp.command("list").alias("ls").description("list your key pairs")
    .option("--search <text>", "only key pairs whose name contains this")
    .option("--page <n>", "page number", parsePositiveInt)
    .option("--page-size <n>", "key pairs per page", parsePositiveInt)
    .action(async (o: { search?: string; page?: number; pageSize?: number }, cmd: Command) => {
      const c = ctx(cmd);
      const r = await c.client.get<{ keypairs: Keypair[] }>("/core/keypairs", { search: o.search, page: o.page, pageSize: o.pageSize });
      if (c.json) return printJson(c.out, r);
      printKeypairs(c, r.keypairs);
    });

  kp.command("import").description("import an OpenSSH public key").argument("<name>", "key pair name")
    .requiredOption("-e, --environment <name>", "environment the key pair belongs to")
    .requiredOption("-p, --public-key-file <path>", "the public key, e.g. ~/.ssh/id_ed25519.pub")
    .action(async (name: string, o: { environment: string; publicKeyFile: string }, cmd: Command) => {
      const c = ctx(cmd);
      let publicKey: string;
      try {
        publicKey = readFileSync(o.publicKeyFile, "utf8").trim();
      } catch (e) {
        throw new UsageError(`cannot read --public-key-file: ${(e as Error).message}`);
      }
      const r = await c.client.post<{ keypair: Keypair }>("/core/keypairs", { name, environment_name: o.environment, public_key: publicKey });
      if (c.json) return printJson(c.out, r);
      printKeypairs(c, [r.keypair]);
    });

  kp.command("generate").description("generate a key pair: the private key is shown this once")
    .argument("<name>", "key pair name")
    .requiredOption("-e, --environment <name>", "environment the key pair belongs to")
    .option("-t, --type <type>", "ed25519, rsa or ecdsa (the server's default: ed25519)")
    .option("-o, --private-key-file <path>", "write the private key there (mode 600) instead of stdout")
    .action(async (name: string, o: { environment: string; type?: string; privateKeyFile?: string }, cmd: Command) => {
      const c = ctx(cmd);
      // Checked first: a key generated but not saved is lost.
      if (o.privateKeyFile !== undefined && existsSync(o.privateKeyFile)) throw new UsageError(`${o.privateKeyFile} exists; choose another --private-key-file`);
      const r = await c.client.post<{ keypair: Keypair & { private_key: string } }>("/core/keypairs/generate", {
        name, environment_name: o.environment, ...(o.type !== undefined ? { key_type: o.type } : {}),
      });
      if (o.privateKeyFile !== undefined) writeFileSync(o.privateKeyFile, r.keypair.private_key, { mode: 0o600, flag: "wx" });
      if (c.json) return printJson(c.out, r);
      if (o.privateKeyFile !== undefined) {
        printKeypairs(c, [r.keypair]);
        c.note(`private key written to ${o.privateKeyFile}`);
      } else {
        c.out.write(r.keypair.private_key.endsWith("\n") ? r.keypair.private_key : `${r.keypair.private_key}\n`);
        c.note(`key pair ${r.keypair.name} (id ${r.keypair.id}, ${r.keypair.fingerprint}) generated: save the private key above, it is not shown again`);
      }
    });

  kp.command("rename").description("rename a key pair").argument("<id>", "key pair id", parseId).argument("<name>", "new name")
    .action(async (id: number, name: string, _o: unknown, cmd: Command) => {
      const c = ctx(cmd);
      const r = await c.client.put<{ keypair: Keypair }>(`/core/keypair/${id}`, { name });
      if (c.json) return printJson(c.out, r);
      printKeypairs(c, [r.keypair]);
    });

  kp.command("delete").alias("rm").description("delete a key pair").argument("<id>", "key pair id", parseId)
    .action(async (id: number, _o: unknown, cmd: Command) => {
      const c = ctx(cmd);
      const r = await c.client.delete<{ message?: string }>(`/core/keypair/${id}`);
      if (c.json) return printJson(c.out, r);
      c.out.write(`${r.message ?? `key pair ${id} deleted`}\n`);
    });
}
