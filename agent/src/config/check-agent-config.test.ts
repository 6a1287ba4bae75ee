import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { execa } from "execa";
import { afterAll, describe, expect, it } from "vitest";

const REPO = fileURLToPath(new URL("../../../", import.meta.url));
const dir = mkdtempSync(path.join(tmpdir(), "orbit-check-config-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function check(...args: string[]) {
  return execa("node", ["--import", "tsx", "agent/src/config/check-agent-config.ts", ...args], { cwd: REPO, reject: false });
}

describe("check-agent-config CLI (Ansible's validate:)", () => {
  it("accepts the sample file", async () => {
    const r = await check("packaging/agent.yaml.example");
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toContain("OK (managers orbit-manager.example.net:50051, orbit-manager-2.example.net:50051, driver libvirt)");
  });

  it("refuses a bad file with the key named, ignoring the environment", async () => {
    const file = path.join(dir, "bad.yaml");
    writeFileSync(file, "manager: m:1\nlibvirt:\n  domain_type: xen\n");
    const r = await check(file);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toBe(`${file}: libvirt.domain_type: expected "kvm" | "qemu", got "xen"`);

    const noManager = path.join(dir, "no-manager.yaml");
    writeFileSync(noManager, "driver: simulator\n");
    const r2 = await execa("node", ["--import", "tsx", "agent/src/config/check-agent-config.ts", noManager], {
      cwd: REPO,
      reject: false,
      env: { ORBIT_MANAGER: "from-env:1" },
    });
    expect(r2.exitCode).toBe(1);
    expect(r2.stderr).toContain("manager: required");
  });

  it("needs exactly one file argument", async () => {
    expect((await check()).exitCode).toBe(2);
  });
});
