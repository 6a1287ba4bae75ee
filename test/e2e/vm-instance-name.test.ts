// vm.instancename.flag (CloudStack's) through manager → gRPC → agent → simulator: the manager
// chooses each domain's name at its start and sends it (VmSpec.domain_name); with the flag true
// (the default) it has the VM's name, as every domain had before the setting, with it false it is
// internal (orbit-<VM id>-<uuid prefix>). A change, or a rename of the VM, reaches a domain at its
// next start, never a running one.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createUserKey, errorShapeProblems, jobsIdle, startTestCloud, stateDigest, type TestCloud } from "./harness.js";

let cloud: TestCloud;
let alice: string;
let id: number;
let uuid: string;

const FLAG = "vm.instancename.flag";
const setFlag = async (value: boolean) => expect((await cloud.api("PUT", `/v1/admin/settings/${FLAG}`, { value })).status).toBe(200);
const domainName = async () => (await cloud.fleet.hypervisors[0]!.listDomains()).find((d) => d.vmUuid === uuid)?.name;
const short = () => uuid.replace(/-/g, "").slice(0, 8);

async function power(action: "stop" | "start"): Promise<void> {
  expect((await cloud.api("GET", `/v1/core/virtual-machines/${id}/${action}`, undefined, alice)).status).toBe(200);
  await jobsIdle(cloud);
  expect((await cloud.api("GET", `/v1/core/virtual-machines/${id}`, undefined, alice)).json.instance.status).toBe(action === "stop" ? "SHUTOFF" : "ACTIVE");
}

beforeAll(async () => {
  cloud = await startTestCloud({ hosts: [{ hostname: "names-a", uuid: "74200000-0000-4000-8000-000000000001", cpus: 8, memoryMib: 16384 }] });
  await cloud.waitFor("host up", async () => (await cloud.api("GET", "/v1/admin/hosts")).json.hosts?.[0]?.state === "Up");
  alice = await createUserKey(cloud, "names-alice");
}, 120_000);
afterAll(async () => { await cloud?.stop(); });

describe("the domain name follows vm.instancename.flag", () => {
  it("is a boolean setting, true by default; anything but a JSON boolean is a 400 naming it, changing nothing", async () => {
    expect((await cloud.api("GET", `/v1/admin/settings/${FLAG}`)).json.setting).toMatchObject({ type: "boolean", value: true, default: true, is_default: true });
    const before = await stateDigest(cloud);
    for (const value of ["false", 0, "no"]) {
      const r = await cloud.api("PUT", `/v1/admin/settings/${FLAG}`, { value });
      expect(r.status, JSON.stringify(r.json)).toBe(400);
      expect(errorShapeProblems(r.status, r.json)).toEqual([]);
      expect(r.json.message).toBe(`${FLAG}: must be true or false (a JSON boolean)`);
    }
    expect(await stateDigest(cloud)).toBe(before);
  });

  it("true: a new VM's domain has its name, as domains had before the setting", async () => {
    const r = await cloud.api("POST", "/v1/core/virtual-machines", { name: "web-1", flavor_name: "n1-cpu-small", image_name: "Debian 12" }, alice);
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    await jobsIdle(cloud);
    id = r.json.instances[0].id;
    uuid = (await cloud.api("GET", `/v1/core/virtual-machines/${id}`, undefined, alice)).json.instance.uuid;
    expect(await domainName()).toBe(`orbit-${short()}-web-1`);
  });

  it("false: a running domain keeps its name; at the next start it is internal, without the VM's name", async () => {
    await setFlag(false);
    expect(await domainName()).toBe(`orbit-${short()}-web-1`);
    await power("stop");
    expect(await domainName()).toBe(`orbit-${short()}-web-1`);
    await power("start");
    expect(await domainName()).toBe(`orbit-${id}-${short()}`);
  });

  it("a renamed VM: its internal name does not change; with the flag true again its next start takes the new name", async () => {
    expect((await cloud.api("PUT", `/v1/core/virtual-machines/${id}/name`, { name: "web-2" }, alice)).status).toBe(200);
    await power("stop");
    await power("start");
    expect(await domainName()).toBe(`orbit-${id}-${short()}`);
    await setFlag(true);
    await power("stop");
    await power("start");
    expect(await domainName()).toBe(`orbit-${short()}-web-2`);
  });
});
