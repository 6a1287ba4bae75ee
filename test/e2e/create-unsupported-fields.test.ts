// Hyperstack create fields Orbit does not implement yet: the values Hyperstack's clients send by
// default are accepted, anything that asks for the feature is refused (400, code `unsupported`,
// naming the field) and creates nothing, instead of being accepted and silently ignored. (Orbit's
// start, run_strategy and ha_enabled are honoured: create-extras.test.ts; volume_name and
// create_bootable_volume: boot-volume.test.ts.)
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestCloud, type TestCloud } from "./harness.js";

let cloud: TestCloud;
beforeAll(async () => {
  cloud = await startTestCloud({ hosts: [{ hostname: "nys-a", uuid: "e0000000-0000-4000-8000-0000000000f1", cpus: 32, memoryMib: 65536 }] });
}, 120_000);
afterAll(async () => { await cloud?.stop(); });

const VALID = { name: "nys", flavor_name: "n1-cpu-small", image_name: "Debian 12", count: 1 };

async function vmCount(): Promise<number> {
  return (await cloud.api("GET", "/v1/core/virtual-machines")).json.count as number;
}

describe("create fields that are not supported yet", () => {
  it.each([
    ["enable_port_randomization", false, /enable_port_randomization false is not supported yet/],
    ["enhanced_monitoring_enabled", true, /enhanced_monitoring_enabled true is not supported yet: Orbit has no enhanced monitoring yet/],
    ["profile", { name: "default" }, /profile \{"name":"default"\} is not supported yet: Orbit has no deploy profiles yet/],
    ["flavor", { cpu: 2, ram: 4, disk: 20 }, /flavor .* is not supported yet: Orbit has no inline flavors \(name one with flavor_name\) yet/],
  ])("%s = %j → 400 unsupported, nothing created", async (field, value, message) => {
    const before = await vmCount();
    const r = await cloud.api("POST", "/v1/core/virtual-machines", { ...VALID, [field]: value });
    expect(r.status).toBe(400);
    expect(r.json).toMatchObject({ status: false, error_reason: "bad_request", code: "unsupported", field });
    expect(r.json.message).toMatch(message);
    expect(await vmCount()).toBe(before);
  });

  it("accepts the defaults Hyperstack clients send (port randomization on, the rest off or empty)", async () => {
    const r = await cloud.api("POST", "/v1/core/virtual-machines", {
      ...VALID, name: "nys-defaults",
      callback_url: "", assign_floating_ip: false, create_bootable_volume: false, enable_port_randomization: true,
      volume_name: "", security_rules: [], enhanced_monitoring_enabled: false, start: true, ha_enabled: false,
    });
    expect(r.status).toBe(200);
    expect(r.json.instances[0]).toMatchObject({ name: "nys-defaults", callback_url: null, security_rules: [] });
    // And all of them absent, as the Go SDK sends them unless set (enable_port_randomization aside).
    const bare = await cloud.api("POST", "/v1/core/virtual-machines", { ...VALID, name: "nys-bare" });
    expect(bare.status).toBe(200);
  });

  it("an unknown run_strategy is a validation error listing the allowed values", async () => {
    const r = await cloud.api("POST", "/v1/core/virtual-machines", { ...VALID, name: "nys-rs", run_strategy: "Sometimes" });
    expect(r.status).toBe(400);
    expect(r.json.message).toMatch(/RerunOnFailure/);
  });
});

describe("create fields Orbit honours", () => {
  it("stores a callback_url after checking it, and refuses one it would never call (nothing created)", async () => {
    const ok = await cloud.api("POST", "/v1/core/virtual-machines", { ...VALID, name: "cb-ok", callback_url: "https://hooks.example.com/orbit" });
    expect(ok.status).toBe(200);
    expect(ok.json.instances[0].callback_url).toBe("https://hooks.example.com/orbit");
    const before = await vmCount();
    for (const url of ["ftp://example.com/x", "http://169.254.169.254/latest", "not a url"]) {
      const r = await cloud.api("POST", "/v1/core/virtual-machines", { ...VALID, name: "cb-bad", callback_url: url });
      expect(r.status, url).toBe(400);
      expect(r.json, url).toMatchObject({ field: "callback_url" });
    }
    expect(await vmCount()).toBe(before);
  });

  it("key_name names a key pair of the caller's account in the VM's environment; the instance shows it", async () => {
    const key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAID0a8G6oQR/jxDpHCRkA3HsqWMxB9yt5JkZHQN4lHlyV nys@test";
    const imported = await cloud.api("POST", "/v1/core/keypairs", { name: "nys-key", environment_name: "default", public_key: key });
    expect(imported.status, JSON.stringify(imported.json)).toBeLessThan(300);
    const before = await vmCount();
    const missing = await cloud.api("POST", "/v1/core/virtual-machines", { ...VALID, name: "kp-missing", key_name: "no-such-key" });
    expect(missing.status).toBe(404);
    expect(missing.json).toMatchObject({ field: "key_name" });
    expect(missing.json.message).toMatch(/no-such-key/);
    expect(await vmCount()).toBe(before);
    const r = await cloud.api("POST", "/v1/core/virtual-machines", { ...VALID, name: "kp-ok", key_name: "nys-key" });
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    expect(r.json.instances[0].keypair).toEqual({ name: "nys-key" });
    const got = await cloud.api("GET", `/v1/core/virtual-machines/${r.json.instances[0].id}`);
    expect(got.json.instance.keypair).toEqual({ name: "nys-key" });
  });

  it("user_data is capped at 32 KiB (bytes of UTF-8), naming user_data", async () => {
    const before = await vmCount();
    const r = await cloud.api("POST", "/v1/core/virtual-machines", { ...VALID, name: "ud-big", user_data: "é".repeat(16 * 1024 + 1) });
    expect(r.status).toBe(400);
    expect(r.json).toMatchObject({ field: "user_data" });
    expect(await vmCount()).toBe(before);
  });
});

describe("listing VMs with the spec's parameters", () => {
  it("filters by name (search) and environment name (contains, or exact), accepts exclude_firewalls", async () => {
    const a = await cloud.api("POST", "/v1/core/virtual-machines", { ...VALID, name: "lst_alpha" });
    expect(a.status).toBe(200);
    const names = async (q: string) => {
      const r = await cloud.api("GET", `/v1/core/virtual-machines?${q}`);
      expect(r.status, `${q}: ${JSON.stringify(r.json)}`).toBe(200);
      return (r.json.instances as { name: string }[]).map((i) => i.name);
    };
    expect(await names("search=LST_AL")).toEqual(["lst_alpha"]);
    // LIKE's wildcards are taken literally: "_" matches only "_".
    expect(await names("search=lst%5Fal")).toEqual(["lst_alpha"]);
    expect(await names("search=lstxal")).toEqual([]);
    const env = a.json.instances[0].environment.name as string;
    expect(await names(`search=lst&environment=${env.slice(1)}`)).toEqual(["lst_alpha"]);
    expect(await names(`search=lst&environment=${env.slice(1)}&exact_environment_match=true`)).toEqual([]);
    expect(await names(`search=lst&environment=${env}&exact_environment_match=true`)).toEqual(["lst_alpha"]);
    expect(await names("search=lst&exclude_firewalls=3&exclude_firewalls=4")).toEqual(["lst_alpha"]);
    expect((await cloud.api("GET", "/v1/core/virtual-machines?exclude_firewalls=x")).status).toBe(400);
  });
});
