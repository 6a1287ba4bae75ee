// --wait for an image download: polls GET /v1/admin/images/{id} behind the spinner, showing bytes,
// percent and rate, until the image is Ready (or Error: exit 4 with the reason).
import type { ApiClient } from "./client.js";
import type { AdminImage } from "./api-types.js";
import { CliError, EXIT } from "./errors.js";
import { poll, spinner, type WaitOptions } from "./wait.js";

const UNITS = ["B", "KiB", "MiB", "GiB", "TiB"];

export function formatBytes(n: number): string {
  let v = n;
  let u = 0;
  while (v >= 1024 && u < UNITS.length - 1) { v /= 1024; u++; }
  return `${u === 0 ? v : v.toFixed(1)} ${UNITS[u]}`;
}

export function progressText(i: AdminImage): string {
  const p = i.download_progress;
  if (!p) return i.status;
  const total = p.total_bytes !== null ? `/${formatBytes(p.total_bytes)}` : "";
  return `${p.percent !== null ? `${p.percent}% ` : ""}${formatBytes(p.bytes)}${total} at ${formatBytes(p.rate_bytes_per_s)}/s`;
}

export async function waitForImage(client: ApiClient, id: number, label: string, o: WaitOptions): Promise<AdminImage> {
  const s = spinner(label, o);
  let last: AdminImage | undefined;
  try {
    last = await poll(
      async () => (await client.get<{ image: AdminImage }>(`/admin/images/${id}`)).image,
      (i) => {
        if (i.status === "Error") throw new CliError(`image ${id} failed: ${i.error || "no reason given"}`, EXIT.job);
        return i.status === "Ready";
      },
      (i) => { last = i; s.text = `${label}: ${progressText(i)}`; },
      o, () => `image ${id} to be Ready (now ${last ? progressText(last) : "unknown"})`,
    );
  } catch (e) {
    s.fail(`${label}: ${e instanceof Error ? e.message : String(e)}`);
    throw e;
  }
  s.succeed(`${label}: Ready (${last.size_bytes != null ? formatBytes(last.size_bytes) : "?"})`);
  return last;
}
