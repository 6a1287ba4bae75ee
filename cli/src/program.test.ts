// The CLI against a fake API: what each command sends, tables vs --json, error printing, exit
// codes and --wait's polling.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { type FakeAnswer, type FakeApi, runCli, startFakeApi } from "./testing/fake-api.js";

const VM = {
  id: 7, uuid: "0f4d1b9e-1111-4111-8111-000000000007", name: "web-1", status: "CREATING", power_state: "NOSTATE", vm_state: "building",
  fixed_ip: null, floating_ip: null, environment: { name: "default" }, image: { name: "Debian 12" },
  flavor: { name: "n1-cpu-small", cpu: 2, ram: 4, disk: 20, gpu: "", gpu_count: 0 }, keypair: { name: null }, labels: [],
  host: null, created_at: "2026-12-04T10:00:00.000Z",
};
const ERR = (status: number, message: string, extra: Record<string, unknown> = {}): FakeAnswer =>
  ({ status, body: { status: false, message, error_reason: "bad_request", code: "invalid_argument", ...extra } });

let api: FakeApi;
let env: Record<string, string>;
beforeAll(async () => { api = await startFakeApi(); });
afterAll(async () => { await api.close(); });
beforeEach(() => {
  env = { ORBIT_URL: api.url, ORBIT_API_KEY: "k", XDG_CONFIG_HOME: "/nonexistent/orbit-cli-test" };
  api.requests.length = 0;
  for (const k of Object.keys(api.routes)) delete api.routes[k];
});

/** A job answering `statuses` one poll after another (the last one from then on). */
function jobRoute(id: number, kind: string, statuses: string[], error?: string): void {
  let polls = 0;
  api.routes[`GET /v1/core/jobs/${id}`] = () => {
    const status = statuses[Math.min(polls++, statuses.length - 1)]!;
    return { body: { status: true, message: "ok", job: { id, kind, status, progress: status === "running" ? 50 : 100, error: status === "failed" ? { code: "hypervisor_error", message: error } : null } } };
  };
}

describe("output", () => {
  it("vm list: a table for people, the API's answer for --json", async () => {
    api.routes["GET /v1/core/virtual-machines"] = { body: { status: true, message: "ok", count: 1, page: 1, page_size: 50, instances: [VM] } };
    const table = await runCli(["vm", "list"], env);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/ID\s*│ NAME\s*│ STATUS/);
    expect(table.stdout).toMatch(/7\s*│ web-1\s*│ CREATING\s*│ n1-cpu-small\s*│ Debian 12\s*│ default/);
    expect(table.stdout).not.toContain("\u001b["); // no colors in a pipe
    const json = await runCli(["vm", "list", "--json", "--page", "2", "--page-size", "10"], env);
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual({ status: true, message: "ok", count: 1, page: 1, page_size: 50, instances: [VM] });
    expect(api.requests[1]!.query.toString()).toBe("page=2&page_size=10");
    expect(api.requests.every((q) => q.headers.api_key === "k")).toBe(true);
  });

  it("region list: a table of GET /v1/core/regions", async () => {
    api.routes["GET /v1/core/regions"] = { body: { status: true, message: "ok", regions: [{ id: 1, name: "default", description: "", country: "", green_status: "NOT_GREEN", features: {} }, { id: 2, name: "eu-north", description: "Stockholm" }] } };
    const r = await runCli(["region", "list"], env);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/1\s*│ default/);
    expect(r.stdout).toMatch(/2\s*│ eu-north\s*│ Stockholm/);
  });

  it("flavor list reads Orbit's flat list and Hyperstack's groups alike", async () => {
    api.routes["GET /v1/core/flavors"] = { body: { status: true, message: "ok", data: [{ id: 1, name: "n1-cpu-small", cpu: 2, ram: 4, disk: 20, gpu: "", gpu_count: 0 }] } };
    const flat = await runCli(["flavor", "list"], env);
    expect(flat.stdout).toMatch(/n1-cpu-small\s*│ 2\s*│ 4\s*│ 20/);
    api.routes["GET /v1/core/flavors"] = { body: { status: true, message: "ok", data: [{ gpu: "H100", region_name: "eu-1", flavors: [
      { id: 2, name: "n3-H100x2", cpu: 56, ram: 480, disk: 100, gpu: "H100", gpu_count: 2, stock_available: true },
      { id: 3, name: "n3-H100x8", cpu: 224, ram: 1920, disk: 100, gpu: "H100", gpu_count: 8, stock_available: false },
    ] }] } };
    const grouped = await runCli(["flavor", "list", "--region", "eu-1"], env);
    expect(grouped.code).toBe(0);
    expect(grouped.stdout).toMatch(/n3-H100x2\s*│ 56\s*│ 480\s*│ 100\s*│ H100\s*│ 2\s*│ eu-1\s*│ yes/);
    expect(grouped.stdout).toMatch(/n3-H100x8.*│ no/);
    expect(api.requests[1]!.query.get("region")).toBe("eu-1");
  });

  it("image list reads Orbit's flat list and Hyperstack's groups alike", async () => {
    api.routes["GET /v1/core/images"] = { body: { status: true, message: "ok", images: [
      { id: 1, name: "Debian 12", os_type: "linux", size: 2 },
      { region_name: "eu-1", type: "Ubuntu", images: [{ id: 5, name: "Ubuntu Server 22.04 LTS", version: "22.04", size: 10 }] },
    ] } };
    const r = await runCli(["image", "list"], env);
    expect(r.stdout).toMatch(/1\s*│ Debian 12\s*│ linux/);
    expect(r.stdout).toMatch(/5\s*│ Ubuntu Server 22.04 LTS\s*│ Ubuntu\s*│ 22.04\s*│ 10\s*│ eu-1/);
  });

  it("keypair generate prints the private key on stdout and the rest on stderr", async () => {
    api.routes["POST /v1/core/keypairs/generate"] = { body: { status: true, message: "ok", keypair: { id: 3, name: "k1", fingerprint: "aa:bb", private_key: "-----BEGIN OPENSSH PRIVATE KEY-----\nxyz\n-----END OPENSSH PRIVATE KEY-----\n" } } };
    const r = await runCli(["keypair", "generate", "k1", "--environment", "default", "--type", "rsa"], env);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("-----BEGIN OPENSSH PRIVATE KEY-----\nxyz\n-----END OPENSSH PRIVATE KEY-----\n");
    expect(r.stderr).toMatch(/k1 \(id 3, aa:bb\) generated/);
    expect(api.requests[0]!.body).toEqual({ name: "k1", environment_name: "default", key_type: "rsa" });
  });

  it("keypair import sends the file's public key; env create the name and region", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "orbit-cli-key-"));
    const pub = path.join(dir, "id.pub");
    writeFileSync(pub, "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOx me@host\n");
    api.routes["POST /v1/core/keypairs"] = { body: { status: true, message: "ok", keypair: { id: 4, name: "me", environment: { name: "default" }, fingerprint: "cc:dd" } } };
    const r = await runCli(["keypair", "import", "me", "-e", "default", "-p", pub], env);
    rmSync(dir, { recursive: true });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/4\s*│ me\s*│ default\s*│ cc:dd/);
    expect(api.requests[0]!.body).toEqual({ name: "me", environment_name: "default", public_key: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOx me@host" });
    const missing = await runCli(["keypair", "import", "me", "-e", "default", "-p", pub], env);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/cannot read --public-key-file/);
    api.routes["POST /v1/core/environments"] = { body: { status: true, message: "ok", environment: { id: 2, name: "eu", region: "eu-1" } } };
    expect((await runCli(["env", "create", "eu", "--region", "eu-1"], env)).stdout).toMatch(/2\s*│ eu\s*│ eu-1/);
    expect(api.requests.at(-1)!.body).toEqual({ name: "eu", region: "eu-1" });
  });

  it("admin hosts shows usage against capacity and the GPUs", async () => {
    api.routes["GET /v1/admin/hosts"] = { body: { status: true, message: "ok", count: 1, hosts: [{
      id: 1, name: "h1", state: "Up", resource_state: "Enabled", environment: "default", cluster: "c1",
      capacity: { cpus: 32, memory_mib: 65536 }, allocated: { vcpus: 4, memory_mib: 8192, vms: 2 },
      gpus: [{ model: "H100" }, { model: "H100" }], last_heartbeat_at: "2026-12-04T10:00:00.000Z",
    }] } };
    const r = await runCli(["admin", "hosts"], env);
    expect(r.stdout).toMatch(/1\s*│ h1\s*│ Up\s*│ Enabled\s*│ default\s*│ c1\s*│ 4\/32\s*│ 8\/64\s*│ 2 x H100\s*│ 2/);
  });

  it("admin hosts maintenance --allow-cold --wait follows the maintenance to Maintenance; cancel-maintenance, remove, enable, disable", async () => {
    api.routes["POST /v1/admin/hosts/4/maintenance"] = { status: 202, body: { status: true, message: "ok", maintenance: { host_id: 4, resource_state: "PrepareForMaintenance", vms_total: 2, vms_moved: 0, vms_remaining: 2, vms: [] } } };
    let polls = 0;
    api.routes["GET /v1/admin/hosts/4/maintenance"] = () => {
      const done = polls++ >= 1;
      return { body: { status: true, message: "ok", maintenance: {
        host_id: 4, resource_state: done ? "Maintenance" : "PrepareForMaintenance", job_id: 9, vms_total: 2, vms_moved: done ? 2 : 1, vms_remaining: done ? 0 : 1,
        vms: [{ vm_id: 7, status: "moved", destination_host_id: 5 }, done ? { vm_id: 8, status: "moved", destination_host_id: 6 } : { vm_id: 8, status: "migrating", mode: "cold", destination_host_id: 6, progress: 40 }],
      } } };
    };
    const r = await runCli(["admin", "hosts", "maintenance", "4", "--allow-cold", "--wait"], env);
    expect(r.code, r.stderr).toBe(0);
    expect(api.requests[0]!.body).toEqual({ allow_cold_migration: true });
    expect(r.stdout).toMatch(/resource state\s*│ Maintenance/);
    expect(r.stdout).toMatch(/8\s*│ moved\s*│ on host 6/);
    expect(polls).toBe(2);

    api.routes["DELETE /v1/admin/hosts/4/maintenance"] = { body: { status: true, message: "ok", host: { id: 4, resource_state: "Enabled" }, still_migrating: [{ vm_id: 8, status: "migrating" }] } };
    expect((await runCli(["admin", "hosts", "cancel-maintenance", "4"], env)).stdout).toBe("host 4 Enabled; still migrating (left to finish): VMs 8\n");
    api.routes["DELETE /v1/admin/hosts/4"] = { body: { status: true, message: "ok", host: { id: 4, uuid: "u", revoked: ["ab"] } } };
    expect((await runCli(["admin", "hosts", "remove", "4"], env)).stdout).toBe("host 4 removed (1 certificate(s) revoked)\n");
    api.routes["PUT /v1/admin/hosts/4"] = (q) => ({ body: { status: true, message: "ok", host: { id: 4, ...(q.body as object) } } });
    expect((await runCli(["admin", "hosts", "disable", "4"], env)).stdout).toBe("host 4 Disabled\n");
    expect((await runCli(["admin", "hosts", "enable", "4"], env)).stdout).toBe("host 4 Enabled\n");
  });

  it("admin hosts maintenance --wait fails (exit 4) naming the VMs whose migration failed; the API's 409 is exit 1", async () => {
    api.routes["POST /v1/admin/hosts/4/maintenance"] = { status: 202, body: { status: true, message: "ok", maintenance: { host_id: 4, resource_state: "PrepareForMaintenance" } } };
    api.routes["GET /v1/admin/hosts/4/maintenance"] = { body: { status: true, message: "ok", maintenance: {
      host_id: 4, resource_state: "ErrorInMaintenance", vms: [{ vm_id: 8, status: "failed", error: "destination unreachable" }],
    } } };
    const r = await runCli(["admin", "hosts", "maintenance", "4", "--wait"], env);
    expect(r.code).toBe(4);
    expect(r.stderr).toContain("host 4 is ErrorInMaintenance: VM 8: destination unreachable");
    expect(api.requests[0]!.body).toEqual({ allow_cold_migration: false });
    api.routes["POST /v1/admin/hosts/5/maintenance"] = ERR(409, "host 5 is Maintenance: maintenance starts from Enabled, Disabled, ErrorInMaintenance", { code: "conflict" });
    const again = await runCli(["admin", "hosts", "maintenance", "5"], env);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain("host 5 is Maintenance");
  });

  it("admin settings set sends the value by the setting's type: numbers as numbers, text as text, true/false as booleans", async () => {
    const types: Record<string, string> = { "a.num": "number", "a.str": "string", "a.flag": "boolean" };
    for (const [name, type] of Object.entries(types)) {
      api.routes[`GET /v1/admin/settings/${name}`] = { body: { status: true, message: "ok", setting: { name, type, value: null } } };
      api.routes[`PUT /v1/admin/settings/${name}`] = (q) => ({ body: { status: true, message: "ok", setting: { name, value: (q.body as { value: unknown }).value } } });
    }
    expect((await runCli(["admin", "settings", "set", "a.num", "2.5"], env)).stdout).toBe("a.num = 2.5\n");
    expect((await runCli(["admin", "settings", "set", "a.str", "spread"], env)).stdout).toBe("a.str = \"spread\"\n");
    expect((await runCli(["admin", "settings", "set", "a.str", "true"], env)).stdout).toBe("a.str = \"true\"\n");
    expect((await runCli(["admin", "settings", "set", "a.flag", "true"], env)).stdout).toBe("a.flag = true\n");
    expect((await runCli(["admin", "settings", "set", "a.flag", "false"], env)).stdout).toBe("a.flag = false\n");
    expect(api.requests.filter((q) => q.method === "PUT").map((q) => q.body)).toEqual([{ value: 2.5 }, { value: "spread" }, { value: "true" }, { value: true }, { value: false }]);
    // Anything else for a boolean setting: a usage error naming it, nothing sent.
    const n = api.requests.length;
    const bad = await runCli(["admin", "settings", "set", "a.flag", "yes"], env);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/a\.flag is a boolean setting: true or false, not "yes"/);
    expect(api.requests.slice(n).map((q) => q.method)).toEqual(["GET"]);
  });

  it("admin users list, create and delete an account's users; the account is required", async () => {
    api.routes["GET /v1/admin/accounts/3/users"] = { body: { status: true, message: "ok", count: 1, users: [
      { id: 9, account_id: 3, name: "alice", email: null, role: "admin", disabled: false, created_at: "2026-12-04T10:00:00.000Z" },
    ] } };
    api.routes["POST /v1/admin/accounts/3/users"] = (q) => ({ status: 201, body: { status: true, message: "User created", user: { id: 10, ...(q.body as object) } } });
    api.routes["DELETE /v1/admin/accounts/3/users/10"] = { body: { status: true, message: "User deleted" } };
    expect((await runCli(["admin", "users", "list", "--account", "3"], env)).stdout).toMatch(/9\s*│ alice\s*│ -\s*│ admin\s*│ no/);
    expect((await runCli(["admin", "users", "create", "bob", "-a", "3", "--email", "b@example.com"], env)).stdout).toBe("user 10 bob created\n");
    expect(api.requests.at(-1)!.body).toEqual({ name: "bob", role: "user", email: "b@example.com" });
    expect((await runCli(["admin", "users", "delete", "10", "--account", "3"], env)).stdout).toBe("User deleted\n");
    const n = api.requests.length;
    expect((await runCli(["admin", "users", "list"], env)).code).toBe(2);
    expect((await runCli(["admin", "users", "list", "--account", "x"], env)).code).toBe(2);
    expect(api.requests).toHaveLength(n);
  });
});

describe("errors and exit codes", () => {
  it("a 4xx prints the server's message and field on stderr and exits 1", async () => {
    api.routes["POST /v1/core/virtual-machines"] = ERR(400, "flavor \"nope\" does not exist", { field: "flavor_name" });
    const r = await runCli(["vm", "create", "web", "--flavor", "nope", "--image", "Debian 12"], env);
    expect(r).toEqual({ code: 1, stdout: "", stderr: "orbit: flavor \"nope\" does not exist (field: flavor_name)\n" });
    api.routes["GET /v1/core/virtual-machines/9"] = ERR(404, "virtual machine 9 not found");
    expect(await runCli(["vm", "show", "9"], env)).toEqual({ code: 1, stdout: "", stderr: "orbit: virtual machine 9 not found\n" });
  });

  it("a 5xx exits 3 with the request id; so do an unreachable server and an answer that is not JSON", async () => {
    api.routes["GET /v1/core/virtual-machines"] = ERR(503, "database unavailable", { request_id: "req-42" });
    const r = await runCli(["vm", "list"], env);
    expect(r.code).toBe(3);
    expect(r.stderr).toBe("orbit: database unavailable (request_id: req-42)\n");
    api.routes["GET /v1/core/virtual-machines"] = { status: 200, raw: "<html>proxy</html>" };
    const html = await runCli(["vm", "list"], env);
    expect(html.code).toBe(3);
    expect(html.stderr).toMatch(/not JSON: is it Orbit's API\?/);
    const gone = await startFakeApi();
    await gone.close();
    const down = await runCli(["vm", "list"], { ...env, ORBIT_URL: gone.url });
    expect(down.code).toBe(3);
    expect(down.stderr).toMatch(new RegExp(`cannot reach Orbit at ${gone.url}: ECONNREFUSED`));
  });

  it("usage errors exit 2 before any request", async () => {
    for (const args of [["vm", "show", "abc"], ["vm", "show", "0"], ["vm", "frobnicate"], ["vm", "create", "x", "--image", "i"],
      ["vm", "list", "--page", "-1"], ["vm", "delete"], ["nope"], ["vm"]]) {
      const r = await runCli(args, env);
      expect(r.code, args.join(" ")).toBe(2);
      expect(r.stderr, args.join(" ")).not.toBe("");
    }
    expect(api.requests).toHaveLength(0);
  });

  it("--version prints the CLI's version", async () => {
    expect(await runCli(["--version"], env)).toEqual({ code: 0, stdout: "0.1.0\n", stderr: "" });
  });

  it("--help succeeds", async () => {
    const r = await runCli(["vm", "create", "--help"], env);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/--flavor <name>/);
    expect(r.stdout).toMatch(/--api-key <key>/);
  });
});

describe("--wait", () => {
  const IMG = { id: 5, name: "jammy", status: "Downloading", format: "qcow2", size_bytes: null, download_progress: null, error: "", job_id: 31, region_name: "default", os_type: "linux" };
  /** An image answering each poll with the next of `states` (the last from then on). */
  function imageRoute(states: Record<string, unknown>[]): void {
    let polls = 0;
    api.routes["GET /v1/admin/images/5"] = () => ({ body: { status: true, message: "ok", image: { ...IMG, ...states[Math.min(polls++, states.length - 1)] } } });
  }

  it("admin image create --wait follows the download until Ready", async () => {
    api.routes["POST /v1/admin/images"] = { status: 202, body: { status: true, message: "ok", image: IMG, job_id: 31 } };
    imageRoute([
      { download_progress: { bytes: 1024, total_bytes: 4096, percent: 25, rate_bytes_per_s: 2048 } },
      { download_progress: { bytes: 4096, total_bytes: 4096, percent: 100, rate_bytes_per_s: 2048 } },
      { status: "Ready", size_bytes: 3 * 1024 * 1024, download_progress: { bytes: 4096, total_bytes: 4096, percent: 100, rate_bytes_per_s: 2048 } },
    ]);
    const r = await runCli(["admin", "image", "create", "jammy", "--from", "https://example.com/j.img", "--checksum", "sha256:ab", "--type", "raw", "--os-version", "22.04", "--wait"], env);
    expect(r.code, r.stderr).toBe(0);
    expect(api.requests[0]!.body).toEqual({ name: "jammy", url: "https://example.com/j.img", checksum: "sha256:ab", type: "raw", version: "22.04" });
    expect(api.requests.filter((q) => q.path === "/v1/admin/images/5")).toHaveLength(3);
    expect(r.stdout).toBe("image 5 jammy Ready\n");
    expect(r.stderr).toMatch(/downloading jammy: Ready \(3\.0 MiB\)/);
  });

  it("admin image create --wait exits 4 with the download's error", async () => {
    api.routes["POST /v1/admin/images"] = { status: 202, body: { status: true, message: "ok", image: IMG, job_id: 31 } };
    imageRoute([{}, { status: "Error", error: "checksum mismatch: expected sha256:ab, got sha256:cd" }]);
    const r = await runCli(["admin", "image", "create", "jammy", "--from", "https://example.com/j.img", "--checksum", "sha256:ab", "--wait"], env);
    expect(r.code).toBe(4);
    expect(r.stderr).toMatch(/orbit: image 5 failed: checksum mismatch: expected sha256:ab, got sha256:cd\n$/);
  });

  it("admin image create --account registers an account's (private) image", async () => {
    api.routes["POST /v1/admin/images"] = { status: 202, body: { status: true, message: "ok", image: IMG, job_id: 31 } };
    const r = await runCli(["admin", "image", "create", "jammy", "--from", "https://example.com/j.img", "--checksum", "sha256:ab", "--account", "7"], env);
    expect(r.code, r.stderr).toBe(0);
    expect(api.requests[0]!.body).toEqual({ name: "jammy", url: "https://example.com/j.img", checksum: "sha256:ab", type: "qcow2", account_id: 7 });
  });

  it("admin image list shows progress while downloading and the reason of an Error", async () => {
    api.routes["GET /v1/admin/images"] = { body: { status: true, message: "ok", count: 3, images: [
      { ...IMG, download_progress: { bytes: 1536, total_bytes: 4096, percent: 37, rate_bytes_per_s: 1024 } },
      { ...IMG, id: 6, name: "broken", status: "Error", error: "HTTP 404" },
      { ...IMG, id: 1, name: "Debian 12", status: "Ready", region_name: "" },
    ] } };
    const r = await runCli(["admin", "image", "list"], env);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/Debian 12.*\(every region\)/);
    expect(r.stdout).toMatch(/5\s*│ jammy\s*│ Downloading\s*│ qcow2\s*│ -\s*│ 37% 1\.5 KiB\/4\.0 KiB at 1\.0 KiB\/s/);
    expect(r.stdout).toMatch(/6\s*│ broken\s*│ Error\s*│ qcow2\s*│ -\s*│ HTTP 404/);
  });

  it("create polls the jobs until they succeed, then shows the VMs as they are now", async () => {
    api.routes["POST /v1/core/virtual-machines"] = { status: 200, body: { status: true, message: "ok", instances: [VM], job_id: 11, job_ids: [11] } };
    jobRoute(11, "deploy", ["pending", "running", "running", "succeeded"]);
    api.routes["GET /v1/core/virtual-machines/7"] = { body: { status: true, message: "ok", instance: { ...VM, status: "ACTIVE" } } };
    const r = await runCli(["vm", "create", "web-1", "-f", "n1-cpu-small", "-i", "Debian 12", "-l", "a", "-l", "b", "--wait", "--json"], env);
    expect(r.code).toBe(0);
    expect(api.requests[0]!.body).toEqual({ name: "web-1", flavor_name: "n1-cpu-small", image_name: "Debian 12", labels: ["a", "b"] });
    expect(api.requests.filter((q) => q.path === "/v1/core/jobs/11")).toHaveLength(4);
    expect(JSON.parse(r.stdout).instances[0].status).toBe("ACTIVE");
    expect(r.stderr).toMatch(/creating web-1: done/);
  });

  it("a failed job exits 4 with the job's error", async () => {
    api.routes["DELETE /v1/core/virtual-machines/7"] = { body: { status: true, message: "Virtual machine deletion initiated", job_id: 12 } };
    jobRoute(12, "destroy", ["running", "failed"], "simulated QEMU failure");
    const r = await runCli(["vm", "delete", "7", "--wait"], env);
    expect(r.code).toBe(4);
    expect(r.stdout).toBe("");
    expect(r.stderr).toMatch(/orbit: job 12 \(destroy\) failed: simulated QEMU failure\n$/);
  });

  it("a job that does not end in --timeout exits 4", async () => {
    api.routes["DELETE /v1/core/virtual-machines/7"] = { body: { status: true, message: "ok", job_id: 13 } };
    jobRoute(13, "destroy", ["running"]);
    const r = await runCli(["vm", "delete", "7", "--wait", "--timeout", "1"], env);
    expect(r.code).toBe(4);
    expect(r.stderr).toMatch(/orbit: timed out after 1 s waiting for job 13 \(destroy\) running/);
  });

  it("an action answered without a job (Hyperstack's answer) waits for the VM's status", async () => {
    api.routes["GET /v1/core/virtual-machines/7/stop"] = { body: { status: true, message: "Stopping the virtual machine" } };
    const statuses = ["ACTIVE", "SHUTOFF"];
    let polls = 0;
    api.routes["GET /v1/core/virtual-machines/7"] = () => ({ body: { status: true, message: "ok", instance: { ...VM, status: statuses[Math.min(polls++, 1)] } } });
    const r = await runCli(["vm", "stop", "7", "--wait"], env);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("Stopping the virtual machine\n");
    expect(polls).toBe(2);
  });

  it("a delete answered without a job (Hyperstack's answer) waits until the VM's GET is a 404", async () => {
    api.routes["DELETE /v1/core/virtual-machines/7"] = { body: { status: true, message: "Deleting" } };
    let polls = 0;
    api.routes["GET /v1/core/virtual-machines/7"] = () => (++polls < 3
      ? { body: { status: true, message: "ok", instance: { ...VM, status: "DELETING" } } } : ERR(404, "virtual machine 7 not found"));
    const r = await runCli(["vm", "delete", "7", "--wait"], env);
    expect(r).toMatchObject({ code: 0, stdout: "VM 7 deleted\n" });
    expect(polls).toBe(3);
  });

  it("an action answered with a job id waits for that job; reboot is Hyperstack's hard-reboot", async () => {
    api.routes["GET /v1/core/virtual-machines/7/hard-reboot"] = { body: { status: true, message: "Rebooting", job_id: 14 } };
    jobRoute(14, "reboot", ["running", "succeeded"]);
    const r = await runCli(["vm", "reboot", "7", "--wait"], env);
    expect(r.code).toBe(0);
    expect(api.requests.map((q) => `${q.method} ${q.path}`)).toEqual([
      "GET /v1/core/virtual-machines/7/hard-reboot", "GET /v1/core/jobs/14", "GET /v1/core/jobs/14",
    ]);
  });

  it("restore, clone and reset-ssh-key send their bodies; restore and clone wait for their job", async () => {
    api.routes["POST /v1/core/virtual-machines/7/restore"] = { body: { status: true, message: "Virtual machine is being reinstalled", job_id: 21, image_name: "Debian 12" } };
    jobRoute(21, "reinstall", ["succeeded"]);
    const restored = await runCli(["vm", "restore", "7", "--image", "Debian 12", "--wait"], env);
    expect(restored).toMatchObject({ code: 0, stdout: "Virtual machine is being reinstalled (image Debian 12)\n" });
    expect(api.requests.find((q) => q.path.endsWith("/restore"))?.body).toEqual({ image_name: "Debian 12" });
    api.routes["POST /v1/core/virtual-machines/7/clone"] = { body: { status: true, message: "ok", instance: { ...VM, id: 8, name: "copy", status: "CREATING" }, job_id: 22 } };
    api.routes["GET /v1/core/virtual-machines/8"] = { body: { status: true, message: "ok", instance: { ...VM, id: 8, name: "copy", status: "SHUTOFF" } } };
    jobRoute(22, "clone", ["succeeded"]);
    const cloned = await runCli(["vm", "clone", "7", "copy", "--no-start", "--wait"], env);
    expect(cloned.code).toBe(0);
    expect(cloned.stdout).toMatch(/copy\s+│\s+SHUTOFF/);
    expect(api.requests.find((q) => q.path.endsWith("/clone"))?.body).toEqual({ name: "copy", start: false });
    api.routes["POST /v1/core/virtual-machines/7/reset-ssh-key"] = { body: { status: true, message: "Virtual machine SSH key reset: it is installed at the next start", job_id: 23, key_name: "laptop" } };
    const reset = await runCli(["vm", "reset-ssh-key", "7", "-k", "laptop"], env);
    expect(reset).toMatchObject({ code: 0, stdout: "Virtual machine SSH key reset: it is installed at the next start\n" });
    expect(api.requests.find((q) => q.path.endsWith("/reset-ssh-key"))?.body).toEqual({ key_name: "laptop" });
    expect((await runCli(["vm", "reset-ssh-key", "7"], env)).code).not.toBe(0);
  });

  it("a 4xx while polling ends the wait at once (exit 1); a passing 5xx is retried", async () => {
    api.routes["DELETE /v1/core/virtual-machines/7"] = { body: { status: true, message: "ok", job_id: 15 } };
    let polls = 0;
    api.routes["GET /v1/core/jobs/15"] = () => (++polls === 1 ? ERR(503, "database unavailable")
      : { body: { status: true, message: "ok", job: { id: 15, kind: "destroy", status: "succeeded" } } });
    expect((await runCli(["vm", "delete", "7", "--wait"], env)).code).toBe(0);
    expect(polls).toBe(2);
    api.routes["GET /v1/core/jobs/15"] = ERR(404, "job 15 not found");
    const r = await runCli(["vm", "delete", "7", "--wait"], env);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/orbit: job 15 not found\n$/);
  });
});

describe("vm attach-iso / detach-iso", () => {
  it("sends the ISO's id and prints the answer; the VM's refusal exits 1; a missing --image exits 2 before any request", async () => {
    api.routes["POST /v1/core/virtual-machines/7/attach-iso"] = { body: { status: true, message: "ISO attached: it is being inserted into the running VM's cdrom", iso: { id: 12, name: "virtio-win" } } };
    const a = await runCli(["vm", "attach-iso", "7", "--image", "12"], env);
    expect(a).toEqual({ code: 0, stdout: "VM 7: ISO attached: it is being inserted into the running VM's cdrom (virtio-win)\n", stderr: "" });
    expect(api.requests[0]!.body).toEqual({ image_id: 12 });
    api.routes["POST /v1/core/virtual-machines/7/detach-iso"] = { body: { status: true, message: "ISO detached", iso: { id: 12, name: "virtio-win" } } };
    const d = await runCli(["vm", "detach-iso", "7", "--json"], env);
    expect(JSON.parse(d.stdout)).toMatchObject({ message: "ISO detached", iso: { id: 12 } });
    api.routes["POST /v1/core/virtual-machines/8/detach-iso"] = ERR(409, "virtual machine 8 has no ISO attached");
    expect(await runCli(["vm", "detach-iso", "8"], env)).toEqual({ code: 1, stdout: "", stderr: "orbit: virtual machine 8 has no ISO attached\n" });
    api.requests.length = 0;
    for (const args of [["vm", "attach-iso", "7"], ["vm", "attach-iso", "7", "--image", "x"]]) {
      const r = await runCli(args, env);
      expect(r.code, args.join(" ")).toBe(2);
    }
    expect(api.requests).toHaveLength(0);
  });
});

describe("volume", () => {
  const VOL = {
    id: 3, name: "datasets", environment: { name: "default", region: "default" }, description: "", volume_type: "local", size: 200,
    status: "available", bootable: false, image_id: null, os_image: null, callback_url: null, attachments: [], created_at: "2026-12-04T10:00:00.000Z",
  };
  const ATTACHED = { ...VOL, status: "in-use", attachments: [{ id: 4, instance_id: 7, device: "/dev/vdb", status: "attached", protected: false }] };

  it("list and show: tables for people (where each volume is attached), the API's answer for --json", async () => {
    api.routes["GET /v1/core/volumes"] = { body: { status: true, message: "ok", count: 2, page: 1, page_size: 1, volumes: [ATTACHED] } };
    const table = await runCli(["volume", "list", "--environment", "default", "--page-size", "1"], env);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/ID\s*│ NAME\s*│ STATUS\s*│ SIZE GB\s*│ TYPE\s*│ ENVIRONMENT\s*│ ATTACHED TO/);
    expect(table.stdout).toMatch(/3\s*│ datasets\s*│ in-use\s*│ 200\s*│ local\s*│ default\s*│ VM 7 \(\/dev\/vdb\)/);
    expect(table.stderr).toMatch(/1 of 2 volumes shown/);
    expect(api.requests[0]!.query.toString()).toBe("page_size=1&environment=default");
    const json = await runCli(["volume", "ls", "--json"], env);
    expect(JSON.parse(json.stdout).volumes).toEqual([ATTACHED]);
    api.routes["GET /v1/core/volumes/3"] = { body: { status: true, message: "ok", volume: VOL } };
    const shown = await runCli(["volume", "show", "3"], env);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toMatch(/NAME\s*│ datasets/);
    expect(shown.stdout).toMatch(/ATTACHED TO\s*│ -/);
  });

  it("create sends Hyperstack's body (type local unless told, the image as image_id); delete prints the answer", async () => {
    api.routes["POST /v1/core/volumes"] = { body: { status: true, message: "Volume created", volume: VOL } };
    const r = await runCli(["volume", "create", "datasets", "--size", "200", "--environment", "default"], env);
    expect(r.code).toBe(0);
    expect(api.requests[0]!.body).toEqual({ name: "datasets", size: 200, environment_name: "default", volume_type: "local" });
    expect(r.stdout).toMatch(/ID\s*│ 3/);
    await runCli(["volume", "create", "boot", "-s", "50", "-e", "default", "--type", "shared", "--image", "5", "--json"], env);
    expect(api.requests[1]!.body).toEqual({ name: "boot", size: 50, environment_name: "default", volume_type: "shared", image_id: 5 });
    api.routes["DELETE /v1/core/volumes/3"] = { body: { status: true, message: "Volume deleted" } };
    expect(await runCli(["volume", "rm", "3"], env)).toEqual({ code: 0, stdout: "Volume deleted\n", stderr: "" });
  });

  it("attach --wait follows the job, then shows the volume as it is now; detach without --wait shows the attachment", async () => {
    api.routes["POST /v1/core/virtual-machines/7/attach-volumes"] = { body: { status: true, message: "Attaching volumes", volume_attachments: [
      { id: 4, volume_id: 3, instance_id: 7, device: "", status: "attaching", protected: true, created_at: "2026-12-04T10:00:00.000Z", job_id: 21 },
    ] } };
    jobRoute(21, "volume.attach", ["pending", "succeeded"]);
    api.routes["GET /v1/core/volumes/3"] = { body: { status: true, message: "ok", volume: ATTACHED } };
    const r = await runCli(["volume", "attach", "3", "--vm", "7", "--protected", "--wait"], env);
    expect(r.code, r.stderr).toBe(0);
    expect(api.requests[0]!.body).toEqual({ volume_ids: [3], protected: true });
    expect(api.requests.filter((q) => q.path === "/v1/core/jobs/21")).toHaveLength(2);
    expect(r.stdout).toMatch(/STATUS\s*│ in-use/);
    expect(r.stderr).toMatch(/attaching volume 3 to VM 7/);

    api.requests.length = 0;
    api.routes["POST /v1/core/virtual-machines/7/detach-volumes"] = { body: { status: true, message: "Detaching volumes", volume_attachments: [
      { id: 4, volume_id: 3, instance_id: 7, device: "/dev/vdb", status: "detaching", protected: false, created_at: "2026-12-04T10:00:00.000Z", job_id: 22 },
    ] } };
    const d = await runCli(["volume", "detach", "3", "--vm", "7"], env);
    expect(d.code).toBe(0);
    expect(api.requests[0]!.body).toEqual({ volume_ids: [3] });
    expect(d.stdout).toMatch(/4\s*│ 3\s*│ 7\s*│ detaching\s*│ \/dev\/vdb\s*│ no/);
    expect(api.requests).toHaveLength(1);
  });

  it("detach --wait without a job id (Hyperstack's answer) waits for the volume to be available; a failed attach job exits 4", async () => {
    api.routes["POST /v1/core/virtual-machines/7/detach-volumes"] = { body: { status: true, message: "ok", volume_attachments: [{ id: 4, volume_id: 3, instance_id: 7, status: "detaching" }] } };
    let polls = 0;
    api.routes["GET /v1/core/volumes/3"] = () => ({ body: { status: true, message: "ok", volume: polls++ < 2 ? { ...ATTACHED, status: "detaching" } : VOL } });
    const d = await runCli(["volume", "detach", "3", "--vm", "7", "--wait", "--json"], env);
    expect(d.code, d.stderr).toBe(0);
    expect(JSON.parse(d.stdout).volume.status).toBe("available");
    api.routes["POST /v1/core/virtual-machines/7/attach-volumes"] = { body: { status: true, message: "ok", volume_attachments: [{ id: 5, volume_id: 3, instance_id: 7, status: "attaching", job_id: 23 }] } };
    jobRoute(23, "volume.attach", ["failed"], "disk busy");
    const a = await runCli(["volume", "attach", "3", "--vm", "7", "--wait"], env);
    expect(a.code).toBe(4);
    expect(a.stderr).toMatch(/job 23 \(volume.attach\) failed: disk busy/);
  });

  it("a refusal exits 1 with the server's message; usage errors exit 2 before any request", async () => {
    api.routes["DELETE /v1/core/volumes/3"] = ERR(409, "volume 3 is attached to virtual machine 7 (attached): detach it first");
    expect(await runCli(["volume", "delete", "3"], env)).toEqual({ code: 1, stdout: "", stderr: "orbit: volume 3 is attached to virtual machine 7 (attached): detach it first\n" });
    api.requests.length = 0;
    for (const args of [["volume", "create", "x", "--size", "1"], ["volume", "create", "x", "--environment", "e"], ["volume", "create", "x", "-s", "0", "-e", "e"],
      ["volume", "create", "x", "-s", "1", "-e", "e", "--type", "fast"], ["volume", "attach", "3"], ["volume", "detach", "3", "--vm", "x"], ["volume", "show", "abc"]]) {
      const r = await runCli(args, env);
      expect(r.code, args.join(" ")).toBe(2);
      expect(r.stderr, args.join(" ")).not.toBe("");
    }
    expect(api.requests).toHaveLength(0);
  });
});

describe("snapshot", () => {
  const SNAP = {
    id: 9, name: "before", description: "", vm_id: 7, region_id: 1, size: 1, size_bytes: 600_000_000, status: "Ready", is_image: false, labels: [],
    memory: true, quiesce: false, parent_id: null, current: true, error: null, created_at: "2026-12-04T10:00:00.000Z", updated_at: "2026-12-04T10:00:05.000Z",
  };

  it("create --memory --wait sends the body, follows the job and shows the snapshot as it is then; list --vm asks the VM's route", async () => {
    api.routes["POST /v1/core/virtual-machines/7/snapshots"] = { body: { status: true, message: "Snapshot is being created", snapshot: { ...SNAP, status: "Creating" }, job_id: 31 } };
    jobRoute(31, "vm.snapshot.create", ["running", "succeeded"]);
    api.routes["GET /v1/core/snapshots/9"] = { body: { status: true, message: "ok", snapshot: SNAP } };
    const r = await runCli(["snapshot", "create", "7", "--name", "before", "--memory", "--wait"], env);
    expect(r.code, r.stderr).toBe(0);
    expect(api.requests[0]!.body).toEqual({ name: "before", description: "", memory: true, quiesce: false });
    expect(r.stdout).toMatch(/STATUS\s*│ Ready/);
    expect(r.stdout).toMatch(/MEMORY\s*│ yes/);
    api.routes["GET /v1/core/virtual-machines/7/snapshots"] = { body: { status: true, message: "ok", count: 1, page: 1, page_size: 50, snapshots: [SNAP] } };
    const list = await runCli(["snapshot", "ls", "--vm", "7"], env);
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(/9\s*│ before\s*│ 7\s*│ Ready\s*│ yes/);
  });

  it("revert and delete without --wait show the snapshot the API answered", async () => {
    api.routes["POST /v1/core/snapshots/9/revert"] = { body: { status: true, message: "reverting", snapshot: { ...SNAP, status: "Reverting" }, job_id: 32 } };
    expect((await runCli(["snapshot", "revert", "9"], env)).stdout).toMatch(/STATUS\s*│ Reverting/);
    api.routes["DELETE /v1/core/snapshots/9"] = { body: { status: true, message: "deleting", snapshot: { ...SNAP, status: "Deleting" }, job_id: 33 } };
    expect(JSON.parse((await runCli(["snapshot", "rm", "9", "--json"], env)).stdout).job_id).toBe(33);
  });
});
