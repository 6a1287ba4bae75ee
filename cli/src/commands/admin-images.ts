// orbit admin image create|list|get|delete: images registered from a URL (/v1/admin/images); the
// manager downloads them, --wait follows the download.
import type { Command } from "commander";
import type { AdminImage } from "../api-types.js";
import { type Context, parseId, waitable } from "../context.js";
import { printFields, printJson, printTable } from "../output.js";
import { formatBytes, progressText, waitForImage } from "../image-wait.js";

export function adminImageCommands(admin: Command, ctx: (cmd: Command) => Context): void {
  const image = admin.command("image").alias("images").description("images registered from a URL (downloaded by the manager)");

  waitable(image.command("create").description("register an image from an http(s) URL; the manager downloads and checks it")
    .argument("<name>", "image name (unique)")
    // --url is the global option naming the API: the image's URL is --from.
    .requiredOption("--from <url>", "http or https URL the manager downloads the image from")
    .requiredOption("--checksum <algo:hex>", "what the download must match: sha256:<hex> (or md5, sha1, sha512)")
    .option("--type <type>", "qcow2, raw (stored as qcow2) or iso", "qcow2")
    .option("--region <region>", "region whose environments may use it (default: default)")
    .option("--os-type <os>", "linux or windows")
    .option("--os-version <version>", "the OS version shown to users")
    .option("--description <text>", "description shown to users")
    .option("--label <label...>", "labels")
    .option("--private", "not public: only its account (--account) and admins see and use it")
    .option("--account <id>", "the owning account (its image is private unless --public)", parseId)
    .option("--public", "with --account: every account may use it")
    .option("--not-bootable", "ISO images: attach only, never boot from it"))
    .action(async (name: string, o: {
      from: string; checksum: string; type: string; region?: string; osType?: string; osVersion?: string; description?: string;
      label?: string[]; private?: boolean; account?: number; public?: boolean; notBootable?: boolean; wait?: boolean; timeout: number;
    }, cmd: Command) => {
      const c = ctx(cmd);
      const r = await c.client.post<{ image: AdminImage; job_id: number }>("/admin/images", {
        name, url: o.from, checksum: o.checksum, type: o.type,
        ...(o.region !== undefined && { region: o.region }), ...(o.osType !== undefined && { os_type: o.osType }),
        ...(o.osVersion !== undefined && { version: o.osVersion }), ...(o.description !== undefined && { description: o.description }),
        ...(o.label !== undefined && { labels: o.label }), ...(o.private && { is_public: false }), ...(o.public && { is_public: true }),
        ...(o.account !== undefined && { account_id: o.account }), ...(o.notBootable && { bootable: false }),
      });
      if (o.wait) r.image = await waitForImage(c.client, r.image.id, `downloading ${name}`, c.waitOptions(o.timeout));
      if (c.json) return printJson(c.out, r);
      c.out.write(`image ${r.image.id} ${r.image.name} ${r.image.status}${o.wait ? "" : ` (download job ${r.job_id})`}\n`);
    });

  image.command("list").alias("ls").description("list images in every status, with their download's progress")
    .action(async (_o: unknown, cmd: Command) => {
      const c = ctx(cmd);
      const r = await c.client.get<{ images: AdminImage[] }>("/admin/images");
      if (c.json) return printJson(c.out, r);
      printTable(c.out, ["ID", "NAME", "STATUS", "FORMAT", "SIZE", "PROGRESS", "REGION", "OS"],
        r.images.map((i) => [i.id, i.name, i.status, i.format, i.size_bytes != null ? formatBytes(i.size_bytes) : "-",
          i.status === "Downloading" && i.download_progress ? progressText(i) : i.status === "Error" ? i.error : "-", regionText(i), i.os_type]));
    });

  image.command("get").description("show an image").argument("<id>", "image id", parseId)
    .action(async (id: number, _o: unknown, cmd: Command) => {
      const c = ctx(cmd);
      const r = await c.client.get<{ image: AdminImage }>(`/admin/images/${id}`);
      if (c.json) return printJson(c.out, r);
      const i = r.image;
      printFields(c.out, [["id", i.id], ["name", i.name], ["status", i.status], ["format", i.format], ["size", i.size_bytes != null ? formatBytes(i.size_bytes) : "-"],
        ["progress", i.download_progress ? progressText(i) : "-"], ["error", i.error || "-"], ["url", i.source_url], ["checksum", i.checksum],
        ["region", regionText(i)], ["account", i.account_id ?? "-"], ["public", i.is_public ?? "-"], ["os", i.os_type], ["job", i.job_id ?? "-"], ["created", i.created_at]]);
    });

  image.command("delete").alias("rm").description("delete an image no VM uses").argument("<id>", "image id", parseId)
    .action(async (id: number, _o: unknown, cmd: Command) => {
      const c = ctx(cmd);
      const r = await c.client.delete<{ message?: string }>(`/admin/images/${id}`);
      if (c.json) return printJson(c.out, r);
      c.out.write(`${r.message ?? `image ${id} deleted`}\n`);
    });
}

/** An image's region, "" being every region (the images Orbit ships). */
const regionText = (i: AdminImage): string => (i.region_name === "" ? "(every region)" : i.region_name ?? "-");
