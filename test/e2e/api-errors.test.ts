// Every bad input gets a clear 4xx JSON error naming the problem, and changes nothing.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestCloud, type TestCloud } from "./harness.js";

let cloud: TestCloud;
beforeAll(async () => {
  cloud = await startTestCloud({ hosts: [{ hostname: "err-a", uuid: "e0000000-0000-4000-8000-0000000000e1", cpus: 8, memoryMib: 16384 }] });
}, 120_000);
afterAll(async () => { await cloud?.stop(); });

const VALID = { name: "ok-name", flavor_name: "n1-cpu-small", image_name: "Debian 12" };

async function nothingCreated(): Promise<void> {
  const list = await cloud.api("GET", "/v1/core/virtual-machines");
  expect(list.json.count).toBe(0);
  const hosts = (await cloud.api("GET", "/v1/admin/hosts")).json.hosts;
  for (const h of hosts) expect(h.allocated.vms).toBe(0);
}

describe("API errors", () => {
  it.each([
    ["malformed JSON", "{\"name\": \"x\",", 400, "body", /malformed JSON/],
    ["unknown field", { ...VALID, flavour: "typo" }, 400, "flavour", /unknown field 'flavour'/],
    ["missing name", { flavor_name: "n1-cpu-small", image_name: "Debian 12" }, 400, "name", /'name' is required/],
    ["over-long name", { ...VALID, name: "n".repeat(51) }, 400, "name", /at most 50 characters/],
    ["bad characters in name", { ...VALID, name: "no spaces please" }, 400, "name", /name/],
    ["unknown flavor", { ...VALID, flavor_name: "n9-imaginary" }, 400, "flavor_name", /flavor "n9-imaginary" does not exist/],
    ["unknown image", { ...VALID, image_name: "TempleOS" }, 400, "image_name", /image "TempleOS" does not exist/],
    ["unknown environment", { ...VALID, environment_name: "mars" }, 400, "environment_name", /environment "mars" does not exist/],
    ["count too large", { ...VALID, count: 1000 }, 400, "count", /count/],
    ["count of wrong type", { ...VALID, count: "many" }, 400, "count", /count/],
  ])("%s → %s naming %s", async (_what, body, status, field, message) => {
    const r = await cloud.api("POST", "/v1/core/virtual-machines", body);
    expect(r.status).toBe(status);
    expect(r.json).toMatchObject({ status: false, error_reason: "bad_request" });
    if (field !== "body") expect(r.json.field).toBe(field);
    expect(r.json.message).toMatch(message);
    await nothingCreated();
  });

  it("refuses missing and wrong API keys with 401", async () => {
    expect((await cloud.api("GET", "/v1/core/virtual-machines", undefined, null)).status).toBe(401);
    const wrong = await cloud.api("GET", "/v1/core/virtual-machines", undefined, "orb_not-a-real-key");
    expect(wrong).toMatchObject({ status: 401, json: { status: false, error_reason: "unauthorized" } });
  });

  it("needs a key however the path is spelled (percent-encoded letters included)", async () => {
    for (const path of ["/%761/admin/hosts", "/v1/%61dmin/hosts", "/%76%31/core/virtual-machines"]) {
      const r = await fetch(`${cloud.manager.apiUrl}${path}`);
      expect(r.status, path).toBe(401);
    }
    const create = await fetch(`${cloud.manager.apiUrl}/%761/core/virtual-machines`, {
      method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(VALID),
    });
    expect(create.status).toBe(401);
    await nothingCreated();
  });

  it("takes DELETE with a JSON content type and no body", async () => {
    const r = await fetch(`${cloud.manager.apiUrl}/v1/core/virtual-machines/999999`, {
      method: "DELETE", headers: { "content-type": "application/json", api_key: "orb_test_admin_key_0123456789" },
    });
    expect(r.status).toBe(404);
  });

  it("refuses an empty POST body naming the body", async () => {
    const r = await fetch(`${cloud.manager.apiUrl}/v1/core/virtual-machines`, {
      method: "POST", headers: { "content-type": "application/json", api_key: "orb_test_admin_key_0123456789" }, body: "",
    });
    expect(r.status).toBe(400);
    expect(((await r.json()) as { status: boolean }).status).toBe(false);
  });

  it("accepts Authorization: Bearer as well as api_key", async () => {
    const res = await fetch(`${cloud.manager.apiUrl}/v1/core/flavors`, { headers: { authorization: "Bearer orb_test_admin_key_0123456789" } });
    expect(res.status).toBe(200);
  });

  it("answers 404 for unknown VMs, jobs and routes, 400 for malformed ids", async () => {
    expect((await cloud.api("GET", "/v1/core/virtual-machines/999999")).json).toMatchObject({ status: false, error_reason: "not_found" });
    expect((await cloud.api("GET", "/v1/core/jobs/424242")).status).toBe(404);
    expect((await cloud.api("DELETE", "/v1/core/virtual-machines/999999")).status).toBe(404);
    expect((await cloud.api("GET", "/v1/core/nothing-here")).status).toBe(404);
    const bad = await cloud.api("GET", "/v1/core/virtual-machines/abc");
    expect(bad.status).toBe(400);
    expect(bad.json.message).toMatch(/id/);
  });

  it("validates settings by name and value, and refuses unknown allocator policies", async () => {
    expect((await cloud.api("PUT", "/v1/admin/settings/no.such.setting", { value: 1 })).status).toBe(404);
    const bad = await cloud.api("PUT", "/v1/admin/settings/ping.interval", { value: 0.005 });
    expect(bad.status).toBe(400);
    expect(bad.json.message).toMatch(/ping\.interval/);
    const policy = await cloud.api("PUT", "/v1/admin/settings/vm.allocation.algorithm", { value: "bestguess" });
    expect(policy.status).toBe(400);
    const scorers = await cloud.api("PUT", "/v1/admin/settings/orbit.allocator.scorers", { value: "no-such-scorer:1" });
    expect(scorers.status).toBe(400);
    expect(scorers.json.message).toMatch(/no-such-scorer/);
    const list = (await cloud.api("GET", "/v1/admin/settings")).json.settings;
    expect(list.find((s: any) => s.name === "vm.allocation.algorithm").value).toBe("firstfit");
    const ok = await cloud.api("PUT", "/v1/admin/settings/ping.interval", { value: 1.5 });
    expect(ok.status).toBe(200);
  });

  it("serves the OpenAPI document and the docs without a key", async () => {
    const spec = await cloud.api("GET", "/openapi.json", undefined, null);
    expect(spec.status).toBe(200);
    expect(spec.json.openapi).toMatch(/^3\./);
    expect(Object.keys(spec.json.paths)).toEqual(expect.arrayContaining(["/v1/core/virtual-machines", "/v1/core/virtual-machines/{id}", "/v1/core/jobs/{id}", "/v1/admin/hosts"]));
    const docs = await fetch(`${cloud.manager.apiUrl}/docs`);
    expect(docs.status).toBe(200);
    expect(await docs.text()).toMatch(/swagger/i);
  });
});
