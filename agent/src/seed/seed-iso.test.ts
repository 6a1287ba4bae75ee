import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { afterAll, describe, expect, it } from "vitest";
import { HypervisorError } from "#shared/errors.js";
import { missingTools } from "../drivers/libvirt/tool-availability.js";
import { writeSeedIso } from "./seed-iso.js";

const missing = missingTools(["genisoimage", "isoinfo"]);

describe.skipIf(missing.length > 0 && !process.env.CI)(`writeSeedIso${missing.length ? ` (skipped: ${missing.join(", ")} not installed)` : ""}`, () => {
  const dir = mkdtempSync(join(tmpdir(), "orbit-seed-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("writes an ISO labelled cidata holding the seed files", async () => {
    const iso = join(dir, "seed.iso");
    const userData = "#cloud-config\nruncmd: [echo unique-7f3a]\n";
    await writeSeedIso(iso, { "meta-data": "instance-id: i-1\n", "user-data": userData, "network-config": "version: 2\n" });
    const info = await execa("isoinfo", ["-d", "-i", iso]);
    expect(info.stdout).toMatch(/^Volume id: cidata$/m);
    expect((await execa("isoinfo", ["-R", "-x", "/user-data", "-i", iso])).stdout).toBe(userData.trimEnd());
    expect((await execa("isoinfo", ["-R", "-x", "/meta-data", "-i", iso])).stdout).toBe("instance-id: i-1");
    expect((await execa("isoinfo", ["-R", "-f", "-i", iso])).stdout.split("\n").sort()).toEqual(["/meta-data", "/network-config", "/user-data"]);
  });

  it("reports a failing genisoimage as a HypervisorError", async () => {
    await expect(writeSeedIso(join(dir, "x.iso"), { "meta-data": "", "user-data": "" }, { genisoimage: "false" })).rejects.toBeInstanceOf(HypervisorError);
  });
});
