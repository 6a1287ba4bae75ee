// Hyperstack create fields Orbit does not implement yet: the values Hyperstack's clients send by
// default are accepted, anything that asks for the feature is refused (400, code `unsupported`,
// naming the field) and creates nothing, instead of being accepted and silently ignored.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestCloud, type TestCloud } from "./harness.js";

let cloud: TestCloud;
beforeAll(async () => {
  cloud = await startTestCloud({ hosts: [{ hostname: "nys-a", uuid: "e0000000-0000-4000-8000-0000000000f1", cpus: 8, memoryMib: 16384 }] });
}, 120_000);
afterAll(async () => { await cloud?.stop(); });

const VALID = { name: "nys", flavor_name: "n1-cpu-small", image_name: "Debian 12", count: 1 };

async function vmCount(): Promise<number> {
  return (await cloud.api("GET", "/v1/core/virtual-machines")).json.count as number;
}

describe("create fields that are not supported yet", () => {
  it.each([
    ["callback_url", "https://example.com/hook", /callback_url "https:\/\/example.com\/hook" is not supported yet: Orbit has no event callbacks yet/],
    ["assign_floating_ip", true, /assign_floating_ip true is not supported yet: Orbit has no floating IPs yet/],
    ["create_bootable_volume", true, /create_bootable_volume true is not supported yet: Orbit has no bootable volumes yet/],
    ["enable_port_randomization", false, /enable_port_randomization false is not supported yet/],
    ["volume_name", "data-1", /volume_name "data-1" is not supported yet: Orbit has no volumes yet/],
    ["security_rules", [{ direction: "ingress", ethertype: "IPv4", protocol: "tcp", remote_ip_prefix: "0.0.0.0/0" }], /security_rules .* is not supported yet: Orbit has no security rules yet/],
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
      volume_name: "", security_rules: [],
    });
    expect(r.status).toBe(200);
    expect(r.json.instances[0]).toMatchObject({ name: "nys-defaults", callback_url: null, security_rules: [] });
    // And all of them absent, as the Go SDK sends them unless set (enable_port_randomization aside).
    const bare = await cloud.api("POST", "/v1/core/virtual-machines", { ...VALID, name: "nys-bare" });
    expect(bare.status).toBe(200);
  });
});
